"""The token × action matrix: who (anonymous, each PAT role, another tenant, a workflow token, an
expired, a revoked and a forged token) may do what (pull, push, delete, catalog, REST) on a private
package the writer pushed (not linked to any repository). Every cell is one parametrized check.

The expectations follow the role contract of conformance.ghcr: read:packages pulls,
write:packages pushes, delete:packages deletes, outsiders and bad credentials get nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.ghcr.support import (
    TokenShape,
    all_scope,
    expect_allowed,
    expect_refused,
    expect_rest_status,
    forged_tokens,
    push,
    token_answer,
    token_from,
)
from conformance.oci.expect import expect_manifest, expect_status, fail
from keelhaul.client import Credentials, RegistryClient
from keelhaul.client.images import sample_image

pytestmark = pytest.mark.needs("token_auth")

PROFILE_ROLES = ("anonymous", "reader", "writer", "deleter", "admin", "other_tenant", "workflow")
BAD_CREDENTIALS = ("expired_pat", "revoked_pat", "forged_token")
ALLOWED = {
    "pull": {"reader", "writer", "deleter", "admin"},
    "push": {"writer", "admin"},
    "delete": {"deleter", "admin"},
    "catalog": {"reader", "writer", "deleter", "admin"},
    "rest": {"reader", "writer", "deleter", "admin"},
}
ACTION_NEEDS = {
    "delete": pytest.mark.needs("manifest_delete"),
    "rest": pytest.mark.needs(packages_api="github"),
}
REQUIREMENTS = {
    "pull": ("AUTH-2", "AUTH-5"),
    "push": ("AUTH-3", "AUTH-2", "AUTH-8"),
    "delete": ("AUTH-4",),
    "catalog": ("AUTH-2", "AUTH-11"),
    "rest": ("AUTH-2", "AUTH-11", "API-1"),
}
CATALOG_PAGES = 50


@dataclass
class Caller:
    """A row of the matrix: a registry client, plus the Authorization to send as is (bad tokens)."""

    name: str
    client: RegistryClient
    authorization: str | None = None
    rest_authorization: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}

    @property
    def bad(self) -> bool:
        return self.name in BAD_CREDENTIALS


def _cells() -> list[Any]:
    cells = []
    for action, allowed in ALLOWED.items():
        for role in (*PROFILE_ROLES, *BAD_CREDENTIALS):
            marks = [pytest.mark.req(*REQUIREMENTS[action])]
            if role in BAD_CREDENTIALS:
                marks.append(pytest.mark.req("AUTH-1"))
            if role in PROFILE_ROLES and role != "anonymous":
                marks.append(pytest.mark.needs(role=role))
            if role == "forged_token":
                marks.append(pytest.mark.needs(role="writer"))
            if action in ACTION_NEEDS:
                marks.append(ACTION_NEEDS[action])
            expected = "allowed" if role in allowed else "refused"
            cells.append(pytest.param(role, action, marks=marks, id=f"{role}-{action}-{expected}"))
    return cells


@pytest.fixture
def make_caller(request, client_for: Callable[[str], RegistryClient], target) -> Callable[[str, str], Caller]:
    def factory(role: str, repo: str) -> Caller:
        if role in PROFILE_ROLES:
            client = client_for(role)
            return Caller(role, client)
        if role == "forged_token":
            writer = client_for("writer")
            answer = token_answer(writer, all_scope(repo))
            expect_status(answer, 200, "setup: the writer gets a genuine token to copy")
            challenge = writer.last_challenge
            shape = TokenShape.of(token_from(answer), repo, challenge.service if challenge else None)
            forged = forged_tokens(shape)["foreign-key"]
            return Caller(role, client_for("anonymous"), f"Bearer {forged}", f"Bearer {forged}")
        admin = request.getfixturevalue("embedded_admin")
        login = target.credentials("admin").username
        scopes = ["read:packages", "write:packages", "delete:packages"]
        if role == "expired_pat":
            issued = admin.create_token(login, scopes, expires_in=-60, note="keelhaul expired PAT")
        else:
            issued = admin.create_token(login, scopes, expires_in=3600, note="keelhaul revoked PAT")
            admin.revoke_token(issued.token)
        client = client_for("anonymous").with_credentials(Credentials(login, issued.token))
        return Caller(role, client, rest_authorization=f"Bearer {issued.token}")

    return factory


def _expect_refusal(caller: Caller, answer, requirement: str, statuses=(401, 403, 404)) -> None:
    """Bad credentials are refused as such (401); callers without the right get 401/403 (404 where
    an invisible package looks missing)."""
    expect_refused(answer, requirement, (401,) if caller.bad else statuses)


@pytest.mark.parametrize(("role", "action"), _cells())
def test_matrix(role, action, make_caller, shared_private, pushed, client_for, rest):
    """Token × action: each role may do exactly what its scopes and access allow on a private package."""
    allowed = role in ALLOWED[action]
    label = f"{role} × {action}: {'allowed' if allowed else 'refused'}"
    if action in ("pull", "catalog", "rest"):
        repo, image = shared_private
    else:
        repo, image = pushed(f"matrix-{role}-{action}", tag="v1")
    caller = make_caller(role, repo)
    requirement = f"{'/'.join(REQUIREMENTS[action])}: {label}"
    if action == "pull":
        answer = caller.client.request(
            "GET", f"/v2/{repo}/manifests/v1", headers={**caller.headers, "Accept": image.manifest.media_type}
        )
        if allowed:
            expect_manifest(answer, image.manifest, requirement)
        else:
            _expect_refusal(caller, answer, requirement)
    elif action == "push":
        fresh = sample_image(f"matrix-push-{role}-{repo}")
        if caller.authorization:
            answer = caller.client.request("POST", f"/v2/{repo}/blobs/uploads/", headers=caller.headers)
        else:
            answer = push(caller.client, repo, f"by-{role.replace('_', '-')}", fresh)
        if allowed:
            expect_status(answer, 201, requirement)
            expect_manifest(
                client_for("writer").get_manifest(repo, fresh.digest),
                fresh.manifest,
                f"{requirement}: the pushed image pulls",
            )
        else:
            _expect_refusal(caller, answer, requirement)
            expect_status(
                client_for("writer").get_manifest(repo, f"by-{role.replace('_', '-')}"),
                404,
                f"{requirement}: nothing was tagged",
            )
    elif action == "delete":
        answer = caller.client.request(
            "DELETE", f"/v2/{repo}/manifests/{image.manifest.digest}", headers=caller.headers
        )
        after = client_for("writer").get_manifest(repo, image.manifest.digest)
        if allowed:
            expect_status(answer, 202, requirement)
            expect_status(after, 404, f"{requirement}: the manifest is gone")
        else:
            _expect_refusal(caller, answer, requirement)
            expect_status(after, 200, f"{requirement}: the refused delete removed nothing")
    elif action == "catalog":
        _catalog_cell(caller, repo, allowed, requirement)
    else:
        path = rest.package_path(repo)
        if caller.rest_authorization:
            answer = rest.call("anonymous", "GET", path, authorization=caller.rest_authorization)
        else:
            answer = rest.call(role, "GET", path)
        if allowed:
            expect_rest_status(answer, [200], requirement)
        elif caller.bad or role == "anonymous":
            expect_rest_status(answer, [401], requirement)
        else:
            expect_rest_status(answer, [403, 404], requirement)


def _catalog_cell(caller: Caller, repo: str, allowed: bool, requirement: str) -> None:
    """`/v2/_catalog` is optional (OCI v1.1 does not define it): a target may refuse it to everyone.
    What it lists must hold only what the caller may read; a reader must find the package in it."""
    path = "/v2/_catalog?n=1000"
    seen: list[str] = []
    for _ in range(CATALOG_PAGES):
        answer = caller.client.request("GET", path, headers=caller.headers)
        if caller.bad:
            expect_allowed(answer, [401, 404], f"{requirement} (bad credentials are refused)")
            return
        if answer.status_code != 200:
            expect_allowed(answer, [401, 403, 404], f"{requirement} (a catalog refused to this caller)")
            if allowed and seen:
                fail(requirement, answer, "the next catalog page", f"{answer.status_code} mid-listing")
            return
        seen += list((answer.json() or {}).get("repositories") or [])
        if repo in seen:
            break
        link = answer.headers.get("link")
        if not link or 'rel="next"' not in link:
            break
        path = link.split(";", 1)[0].strip().strip("<>")
    if allowed and repo not in seen:
        fail(
            requirement, answer, f"{repo} listed to a caller who may read it", f"{len(seen)} names without it"
        )
    if not allowed and repo in seen:
        fail(
            f"{requirement} (the catalog lists only what the caller may read)",
            answer,
            f"no {repo}",
            f"{repo} listed",
        )
