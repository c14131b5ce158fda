"""Everything about alert rules, in one place.

- `model`: RuleDef (a rule as written), RuleStatus (firing, pending, near, ok, unknown per
  series), the near-firing and trend logic, and recent compared values.
- `prometheus`: Prometheus' own rules and alerts (`/api/v1/rules`, `/api/v1/alerts`) as one
  typed model, and the statuses worked out from them.
- `local`: evaluation without Prometheus, with `for` and `keep_firing_for`.
- `engine`: RulesEngine, which picks between the two, and the `--check` exit status.
- `fate`: what Alertmanager did with each rule's alert (silenced, inhibited, routed, missing).
- `files`: Prometheus rule files with the line and column of everything; `builtin`: the
  built-in pack (`builtin.yml`); `lint`: what `gputop rules check` finds; `text`: statuses in
  words.

It may import `gputop.core`, `gputop.promql` and the sources' error types and API models;
never the UI. The model does no I/O.

The names below are loaded on first use: importing `gputop.rules.model` (which the dashboard
needs for its first frame) then costs the model alone, not the YAML reader, the evaluator and
the linter, which the built-in rules pull in a moment later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gputop.core.lazy import lazy_names

if TYPE_CHECKING:
    from gputop.rules.builtin import BUILTIN_GROUP, builtin_pack, builtin_path, builtin_rules
    from gputop.rules.engine import RulesEngine, check_status, with_margins
    from gputop.rules.files import RuleFileError, load_rules
    from gputop.rules.model import RuleDef, RuleStatus, State, sort_statuses
    from gputop.rules.text import fate_text, rule_detail, rule_line, rule_title, series_name


__all__ = [
    "BUILTIN_GROUP",
    "RuleDef",
    "RuleFileError",
    "RuleStatus",
    "RulesEngine",
    "State",
    "builtin_pack",
    "builtin_path",
    "builtin_rules",
    "check_status",
    "fate_text",
    "load_rules",
    "rule_detail",
    "rule_line",
    "rule_title",
    "series_name",
    "sort_statuses",
    "with_margins",
]

_HOMES = {
    "builtin": ("BUILTIN_GROUP", "builtin_pack", "builtin_path", "builtin_rules"),
    "engine": ("RulesEngine", "check_status", "with_margins"),
    "files": ("RuleFileError", "load_rules"),
    "model": ("RuleDef", "RuleStatus", "State", "sort_statuses"),
    "text": ("fate_text", "rule_detail", "rule_line", "rule_title", "series_name"),
}
__getattr__, __dir__ = lazy_names(__name__, _HOMES, globals(), __all__)
