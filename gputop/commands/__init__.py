"""What `gputop` does, one module per command: the top layer, the only one that reads the
configuration and wires sources, rules and the monitor together (`gputop.cli` holds the flags).

- `dashboard`: `gputop [options]`; `once`: `gputop --once [--json] [--check]`.
- `rules_check`: `gputop rules check FILE...` (the rule linter's command line).
- `sim_exporter`: `gputop sim-exporter` (the simulated dcgm-exporter, served).
- `build`: the monitor built from the settings (`build_monitor`), for every command and test;
  `usage`: the one-line usage error and the exit statuses.

The names below are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gputop.core.lazy import lazy_names

if TYPE_CHECKING:
    from gputop.commands.build import Settings, build_monitor, settings_from_args

__all__ = ["Settings", "build_monitor", "settings_from_args"]

_HOMES = {"build": ("Settings", "build_monitor", "settings_from_args")}

__getattr__, __dir__ = lazy_names(__name__, _HOMES, globals(), __all__)
