"""Docker token scopes (`repository:alice/app:pull,push`, `registry:catalog:*`): parsing and printing.

The grammar allows `:` inside the resource name (a registry host:port), so the type is split at the
first colon and the actions at the last. Anything that does not parse is dropped: the token service
grants the intersection of what was asked and what is allowed, and an unparsable ask allows nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SCOPES = 64  # more in one token request is refused outright (bounded work per request)
MAX_SCOPE_LENGTH = 512

_TYPE = re.compile(r"[a-z0-9]+(?:\([a-z0-9]+\))?")
_ACTION = re.compile(r"[a-z]*|\*")


@dataclass(frozen=True)
class Scope:
    type: str  # repository | registry
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def parse_scope(text: str) -> Scope | None:
    if len(text) > MAX_SCOPE_LENGTH or text.count(":") < 2:
        return None
    resource_type, _, rest = text.partition(":")
    name, _, actions = rest.rpartition(":")
    if not _TYPE.fullmatch(resource_type) or not name:
        return None
    resource_type = resource_type.split("(", 1)[0]  # the deprecated `(class)` part is ignored
    parsed = {action for action in actions.split(",") if action}
    if not all(_ACTION.fullmatch(action) for action in parsed):
        return None
    return Scope(resource_type, name, frozenset(parsed))


def parse_scopes(values: list[str]) -> list[Scope]:
    """Parses repeated and space-joined scope values; merges the actions of duplicate resources."""
    merged: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for text in value.split():
            scope = parse_scope(text)
            if scope is not None:
                merged.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return [Scope(kind, name, frozenset(actions)) for (kind, name), actions in merged.items()]


def count_scopes(values: list[str]) -> int:
    return sum(len(value.split()) for value in values)
