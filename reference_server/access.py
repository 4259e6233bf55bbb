"""The seam between the registry core and whoever decides who may do what.

The registry core (routing, uploads, manifests, storage) never looks at credentials itself: every
request is reduced to (principal, repository, action) and handed to one `AccessPolicy`. With
`--no-auth` that policy is `OpenAccess`; the ghcr.io model (accounts, tokens, visibility) is
another implementation of the same protocol, so neither side needs to know the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiohttp import web


class Action(StrEnum):
    """What a request does to a repository, in the Docker token-scope vocabulary."""

    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


@dataclass(frozen=True)
class Principal:
    """Who is asking. `subject` is None for an anonymous caller."""

    subject: str | None = None
    kind: str = "anonymous"  # anonymous | user | workflow | admin
    # Free-form facts the policy wants to carry from authentication to authorization
    # (granted token scopes, the workflow's source repository, ...).
    claims: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_anonymous(self) -> bool:
        return self.subject is None


ANONYMOUS = Principal()


@dataclass(frozen=True)
class StoredManifest:
    """What the core tells the policy after a manifest was stored, so it can link packages and
    read labels. `config` is the parsed image config when the manifest has one the core could read."""

    repository: str
    digest: str
    media_type: str
    manifest: dict[str, object]
    config: dict[str, object] | None
    tag: str | None


@dataclass(frozen=True)
class CatalogCandidates:
    """A superset of what a principal may read, after some name: up to `limit` `names` in byte order,
    plus whole `namespaces` (every repository `NAMESPACE/...`, e.g. the caller's own, where even
    repositories the policy has no record of yet are readable). The core still checks each name
    with `may_read`; this only keeps it from checking every repository in the registry."""

    names: list[str]
    namespaces: list[str] = field(default_factory=list)


class AccessPolicy(Protocol):
    """Decides, for every request, whether it may go on. Raises the core's OCI error to refuse."""

    async def authenticate(self, request: web.Request) -> Principal:
        """Read the request's credentials. Invalid credentials raise UNAUTHORIZED (401 with a
        `WWW-Authenticate` challenge); no credentials give ANONYMOUS."""
        ...

    def authorize(self, request: web.Request, principal: Principal, repository: str, action: Action) -> None:
        """Allow or refuse `action` on `repository`. Refusals raise UNAUTHORIZED (401 plus challenge,
        for anonymous callers or insufficient token scope) or DENIED (403). A repository the
        principal may not see must get the same answer as one that does not exist."""
        ...

    def authorize_catalog(self, request: web.Request, principal: Principal) -> None:
        """Allow or refuse listing `/v2/_catalog` at all."""
        ...

    def authorize_ping(self, request: web.Request, principal: Principal) -> None:
        """Allow or refuse `GET /v2/` (the API version check). Token registries answer anonymous
        callers with 401 and the challenge here, which is how clients discover the realm.
        Optional: the core treats a policy without this method as allowing everyone."""
        ...

    def may_read(self, principal: Principal, repository: str) -> bool:
        """Silent read check, for filtering the catalog and choosing automatic mount sources."""
        ...

    def catalog_candidates(self, principal: Principal, after: str, limit: int) -> CatalogCandidates | None:
        """Where the repositories the principal may read are, after `after`: so a catalog page
        costs work in proportion to the page. None: no such index; the core walks every name.
        Optional: a policy without this method gets the walk."""
        ...

    def manifest_stored(self, principal: Principal, stored: StoredManifest) -> list[str]:
        """Called after a manifest PUT committed. Returns warnings for OCI `Warning` headers."""
        ...

    def install(self, app: web.Application) -> None:
        """Add the policy's own routes (token endpoint, REST API, pages) to the application."""
        ...


class OpenAccess:
    """`--no-auth`: everyone may do everything; nothing extra is served."""

    async def authenticate(self, request: web.Request) -> Principal:
        return ANONYMOUS

    def authorize(self, request: web.Request, principal: Principal, repository: str, action: Action) -> None:
        return None

    def authorize_catalog(self, request: web.Request, principal: Principal) -> None:
        return None

    def authorize_ping(self, request: web.Request, principal: Principal) -> None:
        return None

    def may_read(self, principal: Principal, repository: str) -> bool:
        return True

    def catalog_candidates(self, principal: Principal, after: str, limit: int) -> CatalogCandidates | None:
        return None  # everything is readable: the core lists names straight from its store

    def manifest_stored(self, principal: Principal, stored: StoredManifest) -> list[str]:
        return []

    def install(self, app: web.Application) -> None:
        return None
