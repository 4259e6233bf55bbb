"""Who is asking and which package a registry name means: the plain values every part of the
ghcr.io model shares (data, auth, admin, API), kept here so the store-side code needs no auth import."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# A package name as ghcr.io accepts it after the namespace: OCI path components, lowercase.
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


@dataclass(frozen=True)
class Caller:
    """Who is asking, reduced to what the model needs. Built from a verified credential."""

    kind: str  # anonymous | user | workflow
    user_id: int | None = None
    repository_id: int | None = None  # a workflow's source repository
    repository_owner_id: int | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS_CALLER = Caller("anonymous")


def caller_to_json(caller: Caller) -> str:
    """A caller as text, to be acted for later (a push completed after a restart)."""
    return json.dumps(
        {
            "kind": caller.kind,
            "user_id": caller.user_id,
            "repository_id": caller.repository_id,
            "repository_owner_id": caller.repository_owner_id,
            "scopes": sorted(caller.scopes),
        }
    )


def caller_from_json(text: str) -> Caller:
    data = json.loads(text)
    return Caller(
        str(data["kind"]),
        data.get("user_id"),
        data.get("repository_id"),
        data.get("repository_owner_id"),
        frozenset(data.get("scopes") or ()),
    )


def split_name(registry_name: str) -> tuple[str, str] | None:
    """`alice/img/release` → ("alice", "img/release"); None when it cannot be a package name."""
    if len(registry_name) > 255 or "/" not in registry_name:
        return None
    namespace, _, package = registry_name.partition("/")
    if not namespace or not all(_COMPONENT.fullmatch(part) for part in package.split("/")):
        return None
    return namespace, package
