"""A package's names loaded on first use (PEP 562), so importing one module of a package does
not import everything its `__init__` names: the dashboard's first frame waits for none of it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping

__all__ = ["lazy_names"]


def lazy_names(
    package: str,
    homes: Mapping[str, Iterable[str]],
    namespace: MutableMapping[str, object],
    public: Iterable[str],
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose names live in the submodules `homes`
    names (module -> names); a name once loaded is kept in the package's `namespace`."""
    home_of = {name: module for module, names in homes.items() for name in names}
    listed = list(public)

    def getattr_(name: str) -> object:
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *listed})

    return getattr_, dir_
