"""Tenant isolation and token forgery (failure-modes §1 and §4.7).

Another tenant's private blob is unreadable by HEAD, GET, a mount with or without `from`, and a
manifest reference; its upload sessions cannot be touched; forged tokens (foreign key, alg=none, a
`jwk` header with a foreign key, HMAC, tampered claims, 1 MB of dots) are refused; so are genuine
but wrong ones (expired, wrong audience or issuer, not yet valid) where the suite can mint them.
"""

from __future__ import annotations

import time

import pytest

from conformance.ghcr.support import (
    NOT_READABLE,
    TokenShape,
    all_scope,
    bearer,
    expect_allowed,
    expect_refused,
    forged_tokens,
    push,
    token_answer,
    token_from,
)
from conformance.oci.expect import check_answer, expect_status, fail
from conformance.outcomes import not_applicable
from keelhaul.client.images import oci_manifest, sample_image
from keelhaul.client.uploads import location_of

pytestmark = pytest.mark.needs("token_auth")

READERS = ["anonymous", "reader", "writer", "admin", "workflow"]
PUSHERS = ["writer", "admin", "workflow"]


@pytest.fixture
def tenant_image(client_for, tenant_repo):
    """A private image the other tenant pushed into its own namespace: (repo, image)."""
    repo = tenant_repo()
    image = sample_image(f"tenant-{repo}")
    answer = push(client_for("other_tenant"), repo, "v1", image)
    expect_status(answer, 201, "setup: the other tenant pushes into its own namespace")
    return repo, image


def _needs(role):
    return pytest.mark.needs(roles=("other_tenant",) + (() if role == "anonymous" else (role,)))


@pytest.mark.req("AUTH-10", "AUTH-5")
@pytest.mark.parametrize("role", [pytest.param(r, marks=_needs(r)) for r in READERS])
def test_other_tenants_blob_unreadable(client_for, tenant_image, role):
    """Tenant isolation: another tenant's private blob and manifest are unreadable by HEAD and GET."""
    repo, image = tenant_image
    caller = client_for(role)
    layer = image.layers[0].digest
    for method, path in (
        ("HEAD", f"/v2/{repo}/blobs/{layer}"),
        ("GET", f"/v2/{repo}/blobs/{layer}"),
        ("HEAD", f"/v2/{repo}/manifests/{image.digest}"),
        ("GET", f"/v2/{repo}/manifests/v1"),
    ):
        expect_refused(
            caller.request(method, path),
            f"isolation: {role} MUST NOT read another tenant's {path}",
            NOT_READABLE,
        )


@pytest.mark.req("AUTH-10", "AUTH-5")
@pytest.mark.parametrize("with_from", [True, False], ids=["with-from", "without-from"])
@pytest.mark.parametrize("role", [pytest.param(r, marks=_needs(r)) for r in PUSHERS])
def test_other_tenants_blob_cannot_be_mounted(client_for, tenant_image, new_repo, role, with_from):
    """Tenant isolation: mounting another tenant's private blob, with or without `from`, never answers
    201 and never makes the blob readable in the caller's repository (zot CVE-2024-39897)."""
    repo, image = tenant_image
    caller = client_for(role)
    own = new_repo()
    layer = image.layers[0].digest
    answer = caller.mount_blob(own, layer, from_repo=repo if with_from else None)
    if answer.status_code == 201:
        fail(
            "isolation: a mount of an unreadable blob MUST NOT succeed",
            answer,
            "202 (an upload session) or a refusal",
        )
    expect_allowed(
        answer, (202, 401, 403, 404), "isolation: a mount of an unreadable blob opens a session or is refused"
    )
    expect_refused(
        caller.head_blob(own, layer),
        "isolation: the blob is not in the caller's repository",
        NOT_READABLE,
        None,
    )


@pytest.mark.req("AUTH-10", "AUTH-5")
@pytest.mark.parametrize("role", [pytest.param(r, marks=_needs(r)) for r in PUSHERS])
def test_other_tenants_blob_cannot_be_referenced(client_for, tenant_image, new_repo, role):
    """Tenant isolation: a manifest in the caller's repository naming another tenant's private blobs is
    refused (MANIFEST_BLOB_UNKNOWN) and gives no access to them."""
    _, image = tenant_image
    caller = client_for(role)
    own = new_repo()
    manifest = oci_manifest(image.config, image.layers)
    answer = caller.put_manifest(own, "stolen", manifest.body, manifest.media_type)
    if answer.status_code == 201:
        fail(
            "isolation: a manifest MUST NOT adopt another tenant's blobs", answer, "400 MANIFEST_BLOB_UNKNOWN"
        )
    expect_refused(
        answer,
        "isolation: a manifest naming unreadable blobs is refused",
        (400, 401, 403, 404),
        ("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "DENIED", "UNAUTHORIZED", "NAME_UNKNOWN"),
    )
    expect_refused(
        caller.get_blob(own, image.layers[0].digest),
        "isolation: the blob stays unreadable",
        NOT_READABLE,
        None,
    )


@pytest.mark.req("AUTH-10", "AUTH-7")
@pytest.mark.parametrize("role", [pytest.param(r, marks=_needs(r)) for r in PUSHERS])
def test_cannot_publish_into_other_namespace(client_for, tenant_repo, role):
    """Tenant isolation: nobody of ours (PATs or our workflow's GITHUB_TOKEN) publishes a package into
    another tenant's namespace."""
    repo = tenant_repo()
    caller = client_for(role)
    answer = push(caller, repo, "v1", sample_image(f"intruder-{role}-{repo}"))
    expect_refused(
        answer,
        f"isolation: {role} MUST NOT publish into another tenant's namespace",
        (401, 403, 404),
        ("DENIED", "UNAUTHORIZED", "NAME_UNKNOWN"),
    )
    expect_refused(
        client_for("other_tenant").get_manifest(repo, "v1"),
        "isolation: nothing was published",
        (404,),
        ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"),
    )


@pytest.mark.req("AUTH-10")
@pytest.mark.needs(roles=("other_tenant", "writer"))
def test_other_tenants_upload_session_untouchable(client_for, tenant_repo):
    """Tenant isolation: another tenant's open upload session cannot be read, written, finished or
    cancelled by us (Quay CVE-2026-32589), and stays usable by its owner."""
    repo = tenant_repo()
    owner = client_for("other_tenant")
    started = owner.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect_status(started, 202, "setup: the other tenant opens an upload")
    location = location_of(started)
    intruder = client_for("writer")
    data = b"keelhaul: written by an intruder"
    from keelhaul.client import digest_of

    attempts = [
        intruder.request("GET", location),
        intruder.request(
            "PATCH", location, content=data, headers={"Content-Type": "application/octet-stream"}
        ),
        intruder.request(
            "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest_of(data)}", content=data
        ),
        intruder.request("DELETE", location),
    ]
    for answer in attempts:
        expect_refused(
            answer,
            "isolation: another tenant's upload session is untouchable",
            NOT_READABLE,
            ("UNAUTHORIZED", "DENIED", "BLOB_UPLOAD_UNKNOWN", "NAME_UNKNOWN"),
        )
    own = b"keelhaul: the owner's own bytes"
    finish = owner.request(
        "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest_of(own)}", content=own
    )
    expect_status(finish, 201, "isolation: the owner still finishes its upload")


# ---- forged tokens ------------------------------------------------------------------------------------
FORGERIES = [
    "foreign-key",
    "alg-none",
    "jwk-header-foreign-key",
    "hs256-guessed-secret",
    "claims-swapped-signature-kept",
    "expired-foreign-key",
    "megabyte-of-dots",
    "sixty-kb-of-dots",
    "empty-segments",
]


@pytest.fixture
def genuine_shape(client_for, shared_private):
    """The shape of a genuine token the writer gets for the shared private package."""
    repo, _ = shared_private
    writer = client_for("writer")
    answer = token_answer(writer, all_scope(repo))
    expect_status(answer, 200, "setup: the writer gets a genuine token")
    service = writer.last_challenge.service if writer.last_challenge else None
    return TokenShape.of(token_from(answer), repo, service)


@pytest.mark.req("AUTH-1", "AUTH-5")
@pytest.mark.needs(role="writer")
@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_token_refused(client_for, shared_private, genuine_shape, forgery):
    """Forged bearer tokens (foreign key, alg=none, jwk header with a foreign key, HS256, tampered
    claims, expired, 1 MB of dots) are refused with 401 on pull, push and delete; never a 2xx or 5xx."""
    repo, image = shared_private
    token = forged_tokens(genuine_shape)[forgery]
    caller = client_for("anonymous")
    oversized = forgery == "megabyte-of-dots"
    allowed = (400, 401, 413, 431) if oversized else (401,)
    for method, path in (
        ("GET", f"/v2/{repo}/manifests/v1"),
        ("POST", f"/v2/{repo}/blobs/uploads/"),
        ("DELETE", f"/v2/{repo}/manifests/{image.digest}"),
        ("GET", "/v2/"),
    ):
        started = time.monotonic()
        answer = caller.request(method, path, headers=bearer(token))
        elapsed = time.monotonic() - started
        if answer.status_code not in allowed:
            check_answer(answer)
            fail(f"forged token ({forgery}) MUST be refused", answer, " or ".join(map(str, allowed)))
        if not oversized:
            check_answer(answer)
        if oversized and elapsed > 5:
            fail(
                "a 1 MB token is refused fast (golang-jwt CVE-2025-30204 class)",
                answer,
                "an answer within 5 s",
                f"{elapsed:.1f} s",
            )
    expect_status(client_for("writer").get_manifest(repo, image.digest), 200, "forged tokens changed nothing")


@pytest.mark.req("AUTH-1")
@pytest.mark.needs(role="writer")
@pytest.mark.parametrize("header", ["Bearer", "Basic !!!notbase64", "Bearer a.b", "Token abc", "Bearer x y"])
def test_garbage_authorization_refused(client_for, shared_private, header):
    """Malformed Authorization headers are answered 401 (or 400), never served and never a 5xx."""
    repo, _ = shared_private
    answer = client_for("anonymous").request(
        "GET", f"/v2/{repo}/manifests/v1", headers={"Authorization": header}
    )
    expect_refused(answer, f"a malformed Authorization ({header!r}) is refused", (400, 401), None)


# ---- genuine key, wrong claims (embedded server only: the suite holds its signing key) -----------------
def _sign(key, shape: TokenShape, **changes):
    import jwt

    claims = {**shape.claims, **changes}
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
    return jwt.encode(
        claims,
        key,
        algorithm=shape.header.get("alg", "ES256"),
        headers={k: v for k, v in shape.header.items() if k not in ("alg",)},
    )


WRONG_CLAIMS = {
    "expired": lambda now: {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
    "not-yet-valid": lambda now: {"iat": now + 3600, "nbf": now + 3600, "exp": now + 7200},
    "wrong-audience": lambda now: {"aud": "registry.example.invalid"},
    "wrong-issuer": lambda now: {"iss": "https://issuer.example.invalid"},
    "no-expiry": lambda now: {"exp": None},
}


@pytest.mark.req("AUTH-1", "AUTH-5")
@pytest.mark.needs(role="writer")
@pytest.mark.parametrize("wrong", list(WRONG_CLAIMS))
def test_genuinely_signed_but_invalid_token_refused(
    client_for, shared_private, genuine_shape, server_signing_key, wrong
):
    """Tokens signed with the registry's own key but expired, not yet valid, for another audience or
    issuer, or without an expiry are refused with 401."""
    repo, _ = shared_private
    control = _sign(server_signing_key, genuine_shape)
    caller = client_for("anonymous")
    expect_status(
        caller.request("GET", f"/v2/{repo}/manifests/v1", headers=bearer(control)),
        200,
        "control: the same claims, validly signed, pull",
    )
    token = _sign(server_signing_key, genuine_shape, **WRONG_CLAIMS[wrong](int(time.time())))
    answer = caller.request("GET", f"/v2/{repo}/manifests/v1", headers=bearer(token))
    expect_refused(answer, f"a {wrong} token MUST be refused", (401,), ("UNAUTHORIZED",))


ESCALATIONS = {
    "other-tenant-repository": lambda ours, theirs: [f"repository:{theirs}:pull,push,delete"],
    "wildcard": lambda ours, theirs: ["repository:*:*", f"repository:{theirs}:*"],
    "path-traversal": lambda ours, theirs: [f"repository:{ours.split('/')[0]}/../{theirs}:pull"],
    "many-duplicates": lambda ours, theirs: [f"repository:{theirs}:pull"] * 40,
}


@pytest.mark.req("AUTH-10", "AUTH-11")
@pytest.mark.needs(roles=("writer", "other_tenant"))
@pytest.mark.parametrize("escalation", list(ESCALATIONS))
def test_token_scope_escalation_grants_nothing(client_for, tenant_image, shared_private, escalation):
    """Asking the token endpoint for another tenant's repository (directly, by wildcard, by path tricks,
    many times over) grants nothing usable on it: the grant is the intersection of asked and allowed."""
    repo, _ = tenant_image
    ours, _ = shared_private
    writer = client_for("writer")
    challenge = writer.challenge()
    scopes = ESCALATIONS[escalation](ours, repo)
    token = writer.fetch_token(challenge, " ".join(scopes)) if challenge else None
    answer = writer.last_token_response
    if token is None:
        expect_refused(
            answer,
            f"scope escalation ({escalation}): the realm refuses or grants nothing",
            (400, 401, 403),
            None,
        )
        return
    for method, path in (
        ("GET", f"/v2/{repo}/manifests/v1"),
        ("POST", f"/v2/{repo}/blobs/uploads/"),
        ("DELETE", f"/v2/{repo}/manifests/v1"),
    ):
        refused = client_for("anonymous").request(method, path, headers=bearer(token))
        expect_refused(
            refused,
            f"scope escalation ({escalation}) MUST NOT open another tenant's repository",
            NOT_READABLE,
        )


@pytest.mark.req("AUTH-2", "AUTH-10")
@pytest.mark.needs(role="writer")
def test_token_for_one_repository_does_not_open_another(client_for, shared_private, new_repo):
    """A token granted for one repository is refused on another (the grant is per resource)."""
    repo, _ = shared_private
    writer = client_for("writer")
    other = new_repo()
    expect_status(push(writer, other, "v1", sample_image(f"scope-{other}")), 201, "setup push")
    answer = token_answer(writer, f"repository:{repo}:pull")
    expect_status(answer, 200, "setup: a pull token for one repository")
    refused = client_for("anonymous").request(
        "GET", f"/v2/{other}/manifests/v1", headers=bearer(token_from(answer))
    )
    expect_refused(refused, "a token MUST NOT open a repository it was not granted", (401, 403))


@pytest.mark.req("AUTH-1", "AUTH-5")
@pytest.mark.slow
@pytest.mark.needs(role="writer")
def test_genuine_token_refused_after_expiry(client_for, shared_private):
    """A genuine registry token is refused once its `expires_in` (plus a minute of clock leeway) passed."""
    repo, _ = shared_private
    writer = client_for("writer")
    answer = token_answer(writer, f"repository:{repo}:pull")
    expect_status(answer, 200, "setup: a pull token")
    lifetime = answer.json().get("expires_in")
    if not isinstance(lifetime, int):
        not_applicable("the token answer declares no expires_in: nothing to wait for")
    token = token_from(answer)
    expect_status(
        client_for("anonymous").request("GET", f"/v2/{repo}/manifests/v1", headers=bearer(token)),
        200,
        "control: the fresh token pulls",
    )
    time.sleep(lifetime + 61)
    late = client_for("anonymous").request("GET", f"/v2/{repo}/manifests/v1", headers=bearer(token))
    expect_refused(late, f"a token past expires_in={lifetime} s MUST be refused", (401,), ("UNAUTHORIZED",))


@pytest.mark.req("AUTH-1")
@pytest.mark.needs(role="writer")
def test_revoked_pat_refused(client_for, embedded_admin, target, shared_private):
    """A revoked PAT gets no token any more, and an expired one never does (401 at the realm)."""
    from keelhaul.client import Credentials

    repo, _ = shared_private
    login = (
        target.credentials("admin").username
        if target.has_role("admin")
        else target.credentials("writer").username
    )
    issued = embedded_admin.create_token(
        login, ["read:packages"], expires_in=3600, note="keelhaul revoke check"
    )
    client = client_for("anonymous").with_credentials(Credentials(login, issued.token))
    expect_status(client.get_manifest(repo, "v1"), 200, "control: the PAT pulls before revocation")
    embedded_admin.revoke_token(issued.token)
    fresh = client_for("anonymous").with_credentials(Credentials(login, issued.token))
    answer = token_answer(fresh, f"repository:{repo}:pull")
    expect_status(answer, 401, "a revoked PAT is refused at the token endpoint")
    expect_refused(fresh.get_manifest(repo, "v1"), "a revoked PAT pulls nothing", (401,), ("UNAUTHORIZED",))
    expired = embedded_admin.create_token(
        login, ["read:packages"], expires_in=-1, note="keelhaul expired check"
    )
    late = client_for("anonymous").with_credentials(Credentials(login, expired.token))
    expect_status(
        token_answer(late, f"repository:{repo}:pull"), 401, "an expired PAT is refused at the token endpoint"
    )
