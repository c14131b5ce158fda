"""What gputop keeps of Alertmanager's GET /api/v2/status: its version, the cluster's state and
the routing tree's `group_wait`, read from `config.original` where Alertmanager writes it
without parsing the whole document (which can be megabytes); the configuration text itself is
dropped once read. Raises `AmMalformed` on an unexpected shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gputop.core.units import parse_duration
from gputop.sources.amtypes import DEFAULT_GROUP_WAIT_S, AmMalformed
from gputop.sources.httpapi import describe

__all__ = ["AmStatus", "parse_group_wait", "parse_status"]


@dataclass(frozen=True, slots=True)
class AmStatus:
    """What gputop keeps of GET /api/v2/status: the version, the cluster's state and the
    routing tree's `group_wait` (never the configuration text, which can be megabytes)."""

    version: str = ""
    cluster: str = ""
    group_wait_s: float = DEFAULT_GROUP_WAIT_S


def parse_status(status: Any) -> AmStatus:
    """GET /api/v2/status: the version, the cluster's state, and `route.group_wait` from its
    `config.original` YAML, read from the top-level route's own line where Alertmanager
    writes it (block style), else from the whole document."""
    config = status.get("config") if isinstance(status, Mapping) else None
    original = config.get("original") if isinstance(config, Mapping) else None
    if not isinstance(original, str):
        raise AmMalformed("status has no config.original")
    assert isinstance(status, Mapping)
    info, cluster = status.get("versionInfo"), status.get("cluster")
    version = info.get("version") if isinstance(info, Mapping) else None
    state = cluster.get("status") if isinstance(cluster, Mapping) else None
    return AmStatus(
        version=version if isinstance(version, str) else "",
        cluster=state if isinstance(state, str) else "",
        group_wait_s=_group_wait(original),
    )


def parse_group_wait(status: Any) -> float:
    """`route.group_wait` from GET /api/v2/status (its `config.original` YAML)."""
    return parse_status(status).group_wait_s


def _group_wait(original: str) -> float:
    found = _route_group_wait(original)
    raw: Any
    if found is not None:
        raw = found or None
    else:
        import yaml  # only for a configuration not written as Alertmanager writes it

        try:
            doc = yaml.safe_load(original)
        except yaml.YAMLError:
            raise AmMalformed("config.original is not YAML") from None
        route = doc.get("route") if isinstance(doc, Mapping) else None
        raw = route.get("group_wait") if isinstance(route, Mapping) else None
    if raw is None:
        return DEFAULT_GROUP_WAIT_S
    try:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError("not a duration")
        return parse_duration(str(raw))
    except ValueError:
        raise AmMalformed(f"route.group_wait {describe(raw)} is not a duration") from None


_ROUTE = re.compile(r"^route:[ \t]*(?:#.*)?$", re.M)
_TOP_LEVEL = re.compile(r"^[^\s#]", re.M)
_FIRST_KEY = re.compile(r"^( +)[^\s#-]", re.M)
_PLAIN = re.compile(r"[\w.+-]*")


def _route_group_wait(original: str) -> str | None:
    """The top-level route's `group_wait` as written ("" when the route has none), found
    without parsing the document: its line is the one at the route's own indentation.
    None when the route is not a block mapping with a plain or quoted scalar there (an
    anchor, an alias, a flow mapping): the whole document must be read then."""
    route = _ROUTE.search(original)
    if route is None:
        return None
    after = _TOP_LEVEL.search(original, route.end() + 1)
    block = original[route.end() : after.start() if after is not None else len(original)]
    first = _FIRST_KEY.search(block)
    if first is None:
        return None
    indent = first.group(1)
    line = re.search(rf"^{indent}group_wait:(.*)$", block, re.M)
    if line is None:
        return ""
    value = line.group(1).split(" #", 1)[0].strip()
    if value in ("null", "Null", "NULL", "~"):
        return ""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value if _PLAIN.fullmatch(value) else None
