"""The seam between the registry core and whoever decides who may do what.

The core never looks at credentials itself: the HTTP layer parses every /v2 request into a `Route`
and hands it, with the request, to one `Gate`, which asks one `AccessPolicy`. With `--no-auth` that
policy is `OpenAccess`; the ghcr.io model (reference_server.ghcr) is another implementation of the
same protocol and imports nothing of the server but this module, so neither side needs the
other's internals.

A policy chooses its own principal type (a subclass of `Principal` holding what it learnt from the
credentials); the protocol is generic over it, so the policy gets its own type back in every call
and the core only ever sees the base class. What the core hands the policy besides requests (the
registry's manifest store, for package delete and restore) is named here too.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.storage.metadata import (
    DeletedManifest,
    ManifestInfo,
    ManifestRecord,
    MetadataStore,
    RepositorySnapshot,
)

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "ANONYMOUS",
    "AccessPolicy",
    "Action",
    "Admitted",
    "DeletedManifest",
    "Endpoint",
    "ErrorCode",
    "Gate",
    "ManifestInfo",
    "ManifestRecord",
    "MetadataStore",
    "OCIError",
    "OpenAccess",
    "Principal",
    "RepositorySnapshot",
    "RequestAccess",
    "Route",
    "StoredManifest",
]


class Action(StrEnum):
    """What a request does to a repository, in the Docker token-scope vocabulary."""

    PULL = "pull"
    PUSH = "push"
    DELETE = "delete"


class Endpoint(Enum):
    PING = "ping"
    CATALOG = "catalog"
    TAGS = "tags"
    MANIFEST = "manifest"
    BLOB = "blob"
    UPLOADS = "uploads"  # POST /v2/<name>/blobs/uploads/
    UPLOAD = "upload"  # /v2/<name>/blobs/uploads/<id>
    REFERRERS = "referrers"


@dataclass(frozen=True, slots=True)
class Route:
    """What a /v2 request asks for, parsed from its path (reference_server.http.routing)."""

    endpoint: Endpoint
    name: str = ""  # repository, validated
    argument: str = ""  # reference, digest or upload id (raw, validated by the handler)


@dataclass(frozen=True)
class Principal:
    """Who is asking. `subject` is None for an anonymous caller. Policies subclass it to carry
    what they learnt in `authenticate` (granted scopes, ...) to their other calls, typed."""

    subject: str | None = None
    kind: str = "anonymous"  # anonymous | user | workflow | admin

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


P = TypeVar("P", bound=Principal)


class AccessPolicy(Protocol[P]):
    """Decides, for every request, whether it may go on. Raises the core's OCIError to refuse."""

    async def authenticate(self, request: web.Request, route: Route) -> P:
        """Read the request's credentials. Invalid credentials raise UNAUTHORIZED (401 with a
        `WWW-Authenticate` challenge naming the route's scope); no credentials give an anonymous
        principal."""
        ...

    def authorize(self, request: web.Request, route: Route, principal: P, action: Action) -> None:
        """Allow or refuse `action` on the route's repository. Refusals raise UNAUTHORIZED (401 plus
        challenge, for anonymous callers or insufficient token scope) or DENIED (403). A repository
        the principal may not see must get the same answer as one that does not exist."""
        ...

    def authorize_catalog(self, request: web.Request, principal: P) -> None:
        """Allow or refuse listing `/v2/_catalog` at all."""
        ...

    def authorize_ping(self, request: web.Request, principal: P) -> None:
        """Allow or refuse `GET /v2/` (the API version check). Token registries answer anonymous
        callers with 401 and the challenge here, which is how clients discover the realm."""
        ...

    def may_read(self, principal: P, repository: str) -> bool:
        """Silent read check, for filtering the catalog and choosing automatic mount sources."""
        ...

    def catalog_candidates(self, principal: P, after: str, limit: int) -> CatalogCandidates | None:
        """Where the repositories the principal may read are, after `after`: so a catalog page
        costs work in proportion to the page. None: no such index; the core walks every name.
        Optional: a policy without this method gets the walk."""
        ...

    def manifest_storing(self, principal: P, stored: StoredManifest) -> None:
        """Called before the core commits a manifest PUT (with what it is about to store), so a
        policy that keeps its own records of what a push creates can make the two commits one
        outcome (note the push now, repair it at the next start if a crash cuts between).
        Optional. Called off the event loop."""
        ...

    def manifest_stored(self, principal: P, stored: StoredManifest) -> list[str]:
        """Called after a manifest PUT committed. Returns warnings for OCI `Warning` headers."""
        ...

    def decisions_version(self) -> Hashable:
        """A value that changes whenever a decision this policy made could come out differently
        because its data changed (in this process or another). With `valid_until`, it lets the core
        replay an answer to an identical request (http/replay.py). Optional: a policy without
        both has none of its answers replayed."""
        ...

    def valid_until(self, principal: P) -> float | None:
        """Until when (a `time.time()` value) the decisions made for `principal` hold while the
        data stays the same: the end of its credentials' life, `math.inf` when nothing about it
        expires, None when its answers must never be replayed. Optional, see `decisions_version`."""
        ...

    def install(self, app: web.Application, manifests: MetadataStore) -> None:
        """Add the policy's own routes (token endpoint, REST API, pages) to the application;
        `manifests` is the registry's metadata store (tags and manifests) the policy may manage."""
        ...


class RequestAccess(Protocol):
    """What a handler may ask about the caller its request was admitted for."""

    @property
    def principal(self) -> Principal: ...

    def may_read(self, repository: str) -> bool: ...

    def catalog_candidates(self, after: str, limit: int) -> CatalogCandidates | None: ...

    def manifest_storing(self, stored: StoredManifest) -> None: ...

    def manifest_stored(self, stored: StoredManifest) -> list[str]: ...


@dataclass(frozen=True)
class Admitted(Generic[P]):
    """A caller the gate let in, bound to the policy that knows its principal type."""

    policy: AccessPolicy[P]
    principal: P

    def may_read(self, repository: str) -> bool:
        return self.policy.may_read(self.principal, repository)

    def catalog_candidates(self, after: str, limit: int) -> CatalogCandidates | None:
        candidates_of = getattr(self.policy, "catalog_candidates", None)  # optional in the protocol
        return candidates_of(self.principal, after, limit) if candidates_of is not None else None

    def manifest_storing(self, stored: StoredManifest) -> None:
        storing = getattr(self.policy, "manifest_storing", None)  # optional in the protocol
        if storing is not None:
            storing(self.principal, stored)

    def manifest_stored(self, stored: StoredManifest) -> list[str]:
        return self.policy.manifest_stored(self.principal, stored)

    def valid_until(self) -> float | None:
        """How long answers given to this caller may be replayed (see AccessPolicy.valid_until)."""
        valid_until = getattr(self.policy, "valid_until", None)  # optional in the protocol
        return valid_until(self.principal) if valid_until is not None else None


class Gate(Generic[P]):
    """The core's one door to its policy: authenticate, then authorize what the route needs."""

    def __init__(self, policy: AccessPolicy[P]) -> None:
        self.policy = policy

    async def admit(self, request: web.Request, route: Route, actions: tuple[Action, ...]) -> Admitted[P]:
        """The admitted caller, or the policy's OCIError. `actions` are the repository actions the
        route's method needs (ping and catalog have their own checks)."""
        policy = self.policy
        principal = await policy.authenticate(request, route)
        if route.endpoint is Endpoint.CATALOG:
            policy.authorize_catalog(request, principal)
        elif route.endpoint is Endpoint.PING:
            policy.authorize_ping(request, principal)
        else:
            for action in actions:
                policy.authorize(request, route, principal, action)
        return Admitted(policy, principal)

    def decisions_version(self) -> Hashable | None:
        """The policy's `decisions_version`, None when it has none (then nothing is replayed)."""
        version = getattr(self.policy, "decisions_version", None)  # optional in the protocol
        return version() if version is not None else None


class OpenAccess:
    """`--no-auth`: everyone may do everything; nothing extra is served."""

    async def authenticate(self, request: web.Request, route: Route) -> Principal:
        return ANONYMOUS

    def authorize(self, request: web.Request, route: Route, principal: Principal, action: Action) -> None:
        return None

    def authorize_catalog(self, request: web.Request, principal: Principal) -> None:
        return None

    def authorize_ping(self, request: web.Request, principal: Principal) -> None:
        return None

    def may_read(self, principal: Principal, repository: str) -> bool:
        return True

    def catalog_candidates(self, principal: Principal, after: str, limit: int) -> CatalogCandidates | None:
        return None  # everything is readable: the core lists names straight from its store

    def manifest_storing(self, principal: Principal, stored: StoredManifest) -> None:
        return None

    def manifest_stored(self, principal: Principal, stored: StoredManifest) -> list[str]:
        return []

    def decisions_version(self) -> Hashable:
        return 0  # every decision is "yes", forever

    def valid_until(self, principal: Principal) -> float | None:
        return math.inf

    def install(self, app: web.Application, manifests: MetadataStore) -> None:
        return None
