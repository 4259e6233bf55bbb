"""The Docker token endpoint (`GET /token`) and its OAuth2 variant (`POST /token`).

A token grants the intersection of the scopes asked for and what the caller may do right now; a
partial or empty grant is not an error (Docker token spec), so the answer never says whether a
package the caller cannot see exists. Bad credentials are a 401 whatever was wrong with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from reference_server.access import Action
from reference_server.ghcr.auth import permissions
from reference_server.ghcr.auth.identity import ANONYMOUS_IDENTITY, Identities, Identity, parse_basic
from reference_server.ghcr.auth.scopes import MAX_SCOPES, Scope, count_scopes, parse_scopes
from reference_server.ghcr.auth.signing import ACCESS_USE, REFRESH_USE, InvalidToken, TokenSigner
from reference_server.ghcr.data.store import AccountsStore
from reference_server.ghcr.data.timestamps import rfc3339

REFRESH_LIFETIME_SECONDS = 30 * 24 * 3600
ALL_REPOSITORY_ACTIONS = frozenset({"pull", "push", "delete"})


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(payload).encode(), content_type="application/json", headers=headers
    )


def _unauthorized(service: str, message: str = "authentication required") -> web.Response:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": message}]}
    return _json(401, body, {"WWW-Authenticate": f'Basic realm="{service}"'})


class TokenService:
    def __init__(
        self,
        store: AccountsStore,
        identities: Identities,
        signer: TokenSigner,
        service_of: Callable[[web.Request], str],
    ) -> None:
        self.store = store
        self.identities = identities
        self.signer = signer
        self.service_of = service_of

    def install(self, app: web.Application) -> None:
        app.router.add_get("/token", self.get_token)
        app.router.add_post("/token", self.post_token)

    # -- granting ---------------------------------------------------------------------------
    def grant(self, identity: Identity, scopes: list[Scope]) -> list[dict[str, Any]]:
        """The access claim: for each asked resource, the asked actions the caller may do."""
        access: list[dict[str, Any]] = []
        for scope in scopes:
            if scope.type == "repository":
                asked = (
                    ALL_REPOSITORY_ACTIONS if "*" in scope.actions else scope.actions & ALL_REPOSITORY_ACTIONS
                )
                allowed = {
                    str(a) for a in permissions.allowed_actions(self.store, identity.caller, scope.name)
                }
                granted = sorted(asked & allowed)
            elif scope.type == "registry" and scope.name == "catalog":
                granted = ["*"] if not identity.is_anonymous and "*" in scope.actions else []
            else:
                granted = []
            if granted:
                access.append({"type": scope.type, "name": scope.name, "actions": granted})
        return access

    def issue_access(
        self, identity: Identity, scopes: list[Scope], audience: str
    ) -> tuple[str, dict[str, Any]]:
        access = self.grant(identity, scopes)
        issued = self.signer.issue(
            audience=audience,
            subject=identity.subject or "",
            use=ACCESS_USE,
            extra={"access": access, "cred": identity.credential_id},
        )
        return issued.token, issued.claims

    def issue_refresh(self, identity: Identity, audience: str) -> str:
        return self.signer.issue(
            audience=audience,
            subject=identity.subject or "",
            use=REFRESH_USE,
            extra={"cred": identity.credential_id},
            lifetime_seconds=REFRESH_LIFETIME_SECONDS,
        ).token

    def identity_from_refresh(self, refresh_token: str, audience: str) -> Identity | None:
        try:
            claims = self.signer.verify(refresh_token, audience=audience, use=REFRESH_USE)
        except InvalidToken:
            return None
        credential = claims.get("cred")
        return self.identities.from_credential_id(credential) if isinstance(credential, str) else None

    # -- handlers ----------------------------------------------------------------------------
    async def get_token(self, request: web.Request) -> web.Response:
        service = self.service_of(request)
        scope_values = request.query.getall("scope", [])
        if count_scopes(scope_values) > MAX_SCOPES:
            return _json(400, {"errors": [{"code": "DENIED", "message": f"at most {MAX_SCOPES} scopes"}]})
        authorization = request.headers.getall("Authorization", [])
        identity: Identity | None = ANONYMOUS_IDENTITY
        if authorization:
            basic = parse_basic(authorization[0]) if len(authorization) == 1 else None
            identity = self.identities.from_secret(*basic) if basic else None
        if identity is None:
            return _unauthorized(service, "invalid username or token")
        scopes = parse_scopes(scope_values)
        if identity.is_anonymous:
            refusal = self.anonymous_refusal(scopes, service)
            if refusal is not None:
                return refusal
        token, _ = self.issue_access(identity, scopes, service)
        body: dict[str, Any] = {"token": token}  # ghcr.io's answer: the token alone
        if request.query.get("offline_token") == "true" and not identity.is_anonymous:
            body["refresh_token"] = self.issue_refresh(identity, service)
        return _json(200, body, {"Cache-Control": "no-store"})

    def anonymous_refusal(self, scopes: list[Scope], service: str) -> web.Response | None:
        """ghcr.io's answers to an anonymous caller asking for more than it may have: 401 when a
        named package is not readable (private and missing alike), 403 when it is readable but
        more than `pull` was asked; None when everything asked can be granted."""
        beyond_pull = False
        for scope in scopes:
            if scope.type != "repository":
                return _unauthorized(service)  # the catalog is for signed-in callers
            allowed = permissions.allowed_actions(self.store, ANONYMOUS_IDENTITY.caller, scope.name)
            if Action.PULL not in allowed:
                return _unauthorized(service)
            asked = ALL_REPOSITORY_ACTIONS if "*" in scope.actions else scope.actions
            beyond_pull = beyond_pull or bool(asked - {"pull"})
        if beyond_pull:
            body = {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}
            return _json(403, body)
        return None

    async def post_token(self, request: web.Request) -> web.Response:
        service = self.service_of(request)
        if request.content_length is not None and request.content_length > 64 * 1024:
            return _json(400, {"error": "invalid_request", "error_description": "form too large"})
        try:
            form = await request.post()
        except Exception:
            return _json(400, {"error": "invalid_request", "error_description": "unreadable form"})
        grant_type = str(form.get("grant_type", ""))
        scope_values = [str(value) for value in form.getall("scope", [])]
        if count_scopes(scope_values) > MAX_SCOPES:
            return _json(400, {"error": "invalid_scope", "error_description": f"at most {MAX_SCOPES} scopes"})
        identity: Identity | None
        if grant_type == "password":
            identity = self.identities.from_secret(
                str(form.get("username", "")), str(form.get("password", ""))
            )
        elif grant_type == "refresh_token":
            identity = self.identity_from_refresh(str(form.get("refresh_token", "")), service)
        else:
            return _json(400, {"error": "unsupported_grant_type"})
        if identity is None:
            return _json(401, {"error": "invalid_grant", "error_description": "invalid credentials"})
        token, claims = self.issue_access(identity, parse_scopes(scope_values), service)
        granted = " ".join(
            f"{entry['type']}:{entry['name']}:{','.join(entry['actions'])}" for entry in claims["access"]
        )
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "scope": granted,
            "expires_in": claims["exp"] - claims["iat"],
            "issued_at": rfc3339(claims["iat"]),
        }
        if form.get("access_type") == "offline" or grant_type == "refresh_token":
            body["refresh_token"] = (
                str(form["refresh_token"])
                if grant_type == "refresh_token"
                else self.issue_refresh(identity, service)
            )
        return _json(200, body, {"Cache-Control": "no-store"})
