"""`GhcrPolicy`: the ghcr.io model as the registry core's AccessPolicy, and the one place that
assembles the model's parts: auth/ (credentials, tokens, permissions), data/ (accounts, packages)
and api/ (REST API, package pages). The core reaches it only through reference_server.access.

Every registry request carries a bearer JWT from our token service (or none). A request may go on
only if both the token's `access` claim and the caller's live permission allow it: the token proves
what was asked and granted, the live check makes revocations, expiries, visibility and membership
changes take effect on the next request rather than when the token expires.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reference_server.access import (
    Action,
    CatalogCandidates,
    ErrorCode,
    MetadataStore,
    OCIError,
    Principal,
    Route,
    StoredManifest,
)
from reference_server.ghcr.api.pages import PackagePages
from reference_server.ghcr.api.rest import PackagesApi
from reference_server.ghcr.auth import permissions
from reference_server.ghcr.auth.identity import Identities, Identity
from reference_server.ghcr.auth.signing import ACCESS_USE, LEEWAY_SECONDS, InvalidToken, TokenSigner
from reference_server.ghcr.auth.tokens import TokenService
from reference_server.ghcr.data.callers import ANONYMOUS_CALLER, Caller
from reference_server.ghcr.data.packages import PackageService
from reference_server.ghcr.data.store import AccountsStore, accounts_path

if TYPE_CHECKING:
    from aiohttp import web

    from reference_server.config import ServerConfig

log = logging.getLogger("reference_server")
SIGNING_KEY_FILE = "token-signing-key.pem"
CHALLENGE_ACTIONS = {Action.PULL: "pull", Action.PUSH: "pull,push", Action.DELETE: "delete"}
DECISION_CACHE_ENTRIES = 100_000
SCOPE_ACTIONS = {"GET": Action.PULL, "HEAD": Action.PULL, "DELETE": Action.DELETE}  # others: push
# ghcr.io's /v2/ challenge names this placeholder scope (conformance/ghcr/BEHAVIOUR.md, row R1).
PING_SCOPE = "repository:user/image:pull"
# ghcr.io's answers (BEHAVIOUR.md rows R3, R4): a read-only caller's write, any /v2 delete.
WRITE_DENIED = "permission_denied: write_package"
DELETE_UNSUPPORTED = "The operation is unsupported."


@dataclass(frozen=True)
class GhcrPrincipal(Principal):
    """A caller as the registry JWT presented it: who (`caller`, re-read live from the credential)
    and what the token grants (`access`: repository -> actions, `catalog`). `bearer` is False
    for a request that showed no token at all."""

    caller: Caller = ANONYMOUS_CALLER
    access: dict[str, frozenset[str]] = field(default_factory=dict, compare=False, hash=False)
    catalog: bool = False
    bearer: bool = False
    # `Bearer base64(user:PAT)` (ghcr.io accepts it; CI tools send it): no JWT, so no grant to
    # intersect with: the live decision alone applies.
    direct: bool = False
    # When the credentials stop working by themselves (the JWT's expiry with its leeway, the PAT's
    # own expiry): the end of any replay of an answer given to them (http/replay.py).
    valid_until: float = field(default=math.inf, compare=False, hash=False)


NO_TOKEN = GhcrPrincipal()


class GhcrPolicy:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = AccountsStore(accounts_path(config.data_dir))
        self.identities = Identities(self.store)
        self.signer = TokenSigner(Path(config.data_dir) / SIGNING_KEY_FILE)
        self.tokens = TokenService(self.store, self.identities, self.signer, self.service_of)
        self.packages = PackageService(self.store, config)
        self._decisions: dict[tuple[Caller, str], frozenset[Action]] = {}
        self._generation: tuple[int, int] | None = None
        self._lock = threading.Lock()

    # -- where we are -----------------------------------------------------------------------
    def base_url(self, request: web.Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"{request.scheme}://{request.host}"

    def service_of(self, request: web.Request) -> str:
        """The token audience: the registry's host, as ghcr.io uses `ghcr.io`."""
        if self.config.public_url:
            return urlsplit(self.config.public_url).netloc
        return request.host

    def challenge(self, request: web.Request, scope: str | None, error: str | None = None) -> dict[str, str]:
        value = f'Bearer realm="{self.base_url(request)}/token",service="{self.service_of(request)}"'
        if scope:
            value += f',scope="{scope}"'
        if error:
            value += f',error="{error}"'
        return {"WWW-Authenticate": value}

    def unauthorized(self, request: web.Request, scope: str | None, error: str | None = None) -> OCIError:
        return OCIError(ErrorCode.UNAUTHORIZED, headers=self.challenge(request, scope, error))

    # -- AccessPolicy --------------------------------------------------------------------------
    async def authenticate(self, request: web.Request, route: Route) -> GhcrPrincipal:
        values = request.headers.getall("Authorization", [])
        if not values:
            return NO_TOKEN
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if len(values) > 1 or scheme.lower() != "bearer" or not token:
            raise self.unauthorized(request, _request_scope(request, route), "invalid_token")
        if token.count(".") != 2:  # not a JWT: perhaps base64(user:PAT)
            return self._direct_principal(request, route, token)
        try:
            claims = self.signer.verify(token, audience=self.service_of(request), use=ACCESS_USE)
        except InvalidToken:
            raise self.unauthorized(request, _request_scope(request, route), "invalid_token") from None
        credential = claims.get("cred")
        if credential is None:
            identity: Identity | None = Identity(ANONYMOUS_CALLER, None)
        else:
            identity = self.identities.from_credential_id(str(credential))
        if identity is None:  # revoked or expired since the token was issued
            raise self.unauthorized(request, _request_scope(request, route), "invalid_token")
        access: dict[str, frozenset[str]] = {}
        catalog = False
        for entry in claims.get("access") or []:
            if not isinstance(entry, dict):
                continue
            actions = frozenset(str(a) for a in entry.get("actions") or [])
            if entry.get("type") == "repository":
                access[str(entry.get("name"))] = access.get(str(entry.get("name")), frozenset()) | actions
            elif entry.get("type") == "registry" and entry.get("name") == "catalog":
                catalog = "*" in actions
        return GhcrPrincipal(
            subject=identity.subject,
            kind=identity.caller.kind,
            caller=identity.caller,
            access=access,
            catalog=catalog,
            bearer=True,
            valid_until=min(float(claims["exp"]) + LEEWAY_SECONDS, identity.expires_at),
        )

    def _direct_principal(self, request: web.Request, route: Route, token: str) -> GhcrPrincipal:
        """`Bearer base64(user:PAT)`: the PAT's caller, judged live on every request."""
        try:
            user, colon, secret = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, colon, secret = "", "", ""
        identity = self.identities.from_secret(user, secret) if colon and secret else None
        if identity is None:
            raise self.unauthorized(request, _request_scope(request, route), "invalid_token")
        return GhcrPrincipal(
            subject=identity.subject,
            kind=identity.caller.kind,
            caller=identity.caller,
            catalog=not identity.is_anonymous,
            bearer=True,
            direct=True,
            valid_until=identity.expires_at,
        )

    def authorize(self, request: web.Request, route: Route, principal: GhcrPrincipal, action: Action) -> None:
        repository = route.name
        caller = principal.caller
        if request.method == "DELETE" and not self.config.registry_deletes and not caller.is_anonymous:
            # ghcr.io deletes only through its REST API; anonymous callers are asked to sign in first.
            raise OCIError(ErrorCode.UNSUPPORTED, DELETE_UNSUPPORTED)
        allowed = self.allowed(caller, repository)
        granted = allowed if principal.direct else principal.access.get(repository, frozenset())
        if action in allowed and str(action) in granted:
            return
        scope = f"repository:{repository}:{CHALLENGE_ACTIONS[action]}"
        if action in allowed or caller.is_anonymous:
            # The caller may (or, anonymous, might once logged in): send them for a fitting token.
            raise self.unauthorized(request, scope, "insufficient_scope" if principal.bearer else None)
        if action is Action.PUSH and Action.PULL in allowed:
            raise OCIError(ErrorCode.DENIED, WRITE_DENIED)  # it can read the package: no secret to keep
        # Same refusal whether the package is missing or invisible (AUTH-11).
        raise OCIError(ErrorCode.DENIED)

    def authorize_ping(self, request: web.Request, principal: GhcrPrincipal) -> None:
        """`/v2/` answers 401 with the challenge until a token (even an anonymous one) is shown:
        that is how clients discover the token service, and how `login` checks credentials. Its
        scope is ghcr.io's fixed placeholder."""
        if not principal.bearer:
            raise self.unauthorized(request, PING_SCOPE)

    def authorize_catalog(self, request: web.Request, principal: GhcrPrincipal) -> None:
        if principal.catalog:
            return
        raise self.unauthorized(
            request, "registry:catalog:*", "insufficient_scope" if principal.bearer else None
        )

    def may_read(self, principal: GhcrPrincipal, repository: str) -> bool:
        return Action.PULL in self.allowed(principal.caller, repository)

    def catalog_candidates(
        self, principal: GhcrPrincipal, after: str, limit: int
    ) -> CatalogCandidates | None:
        return permissions.catalog_candidates(self.store, principal.caller, after, limit)

    def manifest_storing(self, principal: GhcrPrincipal, stored: StoredManifest) -> None:
        self.packages.manifest_storing(principal.caller, principal.subject, stored)

    def manifest_stored(self, principal: GhcrPrincipal, stored: StoredManifest) -> list[str]:
        return self.packages.manifest_stored(principal.caller, principal.subject, stored)

    def decisions_version(self) -> Hashable:
        """Every decision reads the accounts database (tokens, packages, visibility, membership),
        and nothing else that changes while the server runs (the signing key is fixed per process)."""
        return self.store.generation()

    def valid_until(self, principal: GhcrPrincipal) -> float | None:
        return principal.valid_until

    def install(self, app: web.Application, manifests: MetadataStore) -> None:
        self.tokens.install(app)
        self.packages.attach(manifests)
        # Writes a crash cut between registry.db and accounts.db (data/packages.py): finish them.
        finished = (
            self.packages.recover_pushes()
            + self.packages.recover_package_moves()
            + self.packages.recover_version_moves()
        )
        if finished:
            log.warning("completed %d push(es), delete(s) or restore(s) a crash had cut short", finished)
        PackagesApi(self.store, self.identities, self.packages, self.base_url).install(app)
        PackagePages(self.store, self.identities, self.packages, self.base_url).install(app)

    # -- decisions ----------------------------------------------------------------------------
    def allowed(self, caller: Caller, repository: str) -> frozenset[Action]:
        """Live permission, cached until the accounts database changes."""
        generation = self.store.generation()
        key = (caller, repository)
        with self._lock:
            if generation != self._generation:
                self._decisions.clear()
                self._generation = generation
            cached = self._decisions.get(key)
        if cached is not None:
            return cached
        result = permissions.allowed_actions(self.store, caller, repository)
        with self._lock:
            if len(self._decisions) >= DECISION_CACHE_ENTRIES:
                self._decisions.clear()
            self._decisions[key] = result
        return result


def _request_scope(request: web.Request, route: Route) -> str | None:
    """The scope a client needs for this request, for the challenge of a refused token: the
    repository and the actions its method asks for (none for ping and catalog)."""
    if not route.name:
        return None
    action = SCOPE_ACTIONS.get(request.method, Action.PUSH)
    return f"repository:{route.name}:{CHALLENGE_ACTIONS[action]}"
