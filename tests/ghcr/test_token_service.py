"""The token service (`GET`/`POST /token`), the challenge, and forged or stale bearer tokens."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from keelhaul.client.auth import parse_challenge
from keelhaul.client.images import sample_image
from reference_server.ghcr.auth.signing import ACCESS_USE, REFRESH_USE, InvalidToken, TokenSigner

from .world import World

REPO = "alice/tokens"


@pytest.fixture(scope="module")
def pushed(world: World) -> World:
    assert world.push("owner", REPO, "v1", sample_image("tokens")).status_code == 201
    return world


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def get_manifest(world: World, token: str | None, repository: str = REPO):
    headers = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}".strip()
    with world.http() as http:
        return http.get(f"/v2/{repository}/manifests/v1", headers=headers)


def test_challenge_shape(world: World) -> None:
    with world.http() as http:
        ping = http.get("/v2/")
        manifest = http.get(f"/v2/{REPO}/manifests/v1")
        catalog = http.get("/v2/_catalog")
    assert ping.status_code == 401
    challenge = parse_challenge(manifest.headers["WWW-Authenticate"])
    assert challenge.scheme == "bearer"
    assert challenge.realm == f"{world.url}/token"  # absolute
    assert challenge.service == world.url.split("//", 1)[1]
    assert challenge.scope == f"repository:{REPO}:pull"
    assert manifest.headers["WWW-Authenticate"].count('"') == 6  # every value quoted
    assert parse_challenge(catalog.headers["WWW-Authenticate"]).scope == "registry:catalog:*"


def test_public_url_sets_realm_and_service(tmp_path) -> None:
    from .world import start_world

    world = start_world(tmp_path / "data", public_url="https://registry.example:8443")
    try:
        with world.http() as http:
            challenge = parse_challenge(http.get("/v2/").headers["WWW-Authenticate"])
            token = http.get("/token", auth=("alice", world.tokens["reader"])).json()["token"]
    finally:
        world.server.stop()
        world.admin.close()
    assert (challenge.realm, challenge.service) == (
        "https://registry.example:8443/token",
        "registry.example:8443",
    )
    assert claims_of(token)["aud"] == "registry.example:8443"


def test_basic_pat_gets_a_signed_jwt_with_pinned_claims(pushed: World) -> None:
    """AUTH-1: username + PAT at the token endpoint."""
    with pushed.http() as http:
        response = http.get(
            "/token",
            params={"service": pushed.url.split("//")[1], "scope": f"repository:{REPO}:pull,push"},
            auth=("alice", pushed.tokens["owner"]),
        )
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"token"}  # ghcr.io's answer: the token alone
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "ES256" and header["kid"] == pushed.policy.signer.kid and "jwk" not in header
    claims = claims_of(body["token"])
    assert claims["sub"] == "alice" and claims["aud"] == pushed.url.split("//")[1]
    assert {"iss", "exp", "nbf", "iat", "jti"} <= set(claims)
    assert claims["access"] == [{"type": "repository", "name": REPO, "actions": ["pull", "push"]}]
    assert get_manifest(pushed, body["token"]).status_code == 200


def test_grant_is_the_intersection_never_an_error(pushed: World) -> None:
    """Scope escalation at /token: only what is both asked and allowed, possibly nothing."""
    scopes = [
        f"repository:{REPO}:pull,push,delete",
        "repository:bob/secret:pull,push",
        "repository:*:*",
        "repository:alice/../bob/x:pull",
        "registry:catalog:*",
        "nonsense",
    ]
    with pushed.http() as http:
        reader = http.get(
            "/token", params=[("scope", s) for s in scopes], auth=("alice", pushed.tokens["reader"])
        )
        joined = http.get(
            "/token", params={"scope": " ".join(scopes)}, auth=("alice", pushed.tokens["reader"])
        )
        anonymous = http.get("/token", params={"scope": f"repository:{REPO}:pull"})
    assert reader.status_code == joined.status_code == 200
    assert anonymous.status_code == 401  # anonymous and private: refused, as on ghcr.io
    expected = [
        {"type": "repository", "name": REPO, "actions": ["pull"]},
        {"type": "registry", "name": "catalog", "actions": ["*"]},
    ]
    assert claims_of(reader.json()["token"])["access"] == expected
    assert claims_of(joined.json()["token"])["access"] == expected


def test_too_many_scopes_is_refused(world: World) -> None:
    with world.http() as http:
        response = http.get("/token", params=[("scope", f"repository:alice/x{i}:pull") for i in range(65)])
    assert response.status_code == 400


@pytest.mark.parametrize(
    "auth",
    [
        ("alice", "khp_not-a-real-token"),
        ("alice", "revoked"),
        ("alice", "expired"),
        ("nobody", "khp_" + "A" * 44),
    ],
)
def test_bad_credentials_are_401_whatever_the_reason(world: World, auth: tuple[str, str]) -> None:
    user, secret = auth
    secret = world.tokens.get(secret, secret)
    with world.http() as http:
        response = http.get("/token", params={"scope": f"repository:{REPO}:pull"}, auth=(user, secret))
    assert response.status_code == 401
    assert response.json() == {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or token"}]}


@pytest.mark.parametrize(
    "header",
    ["Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer khp_x", "Digest abc"],
)
def test_malformed_authorization_at_token_endpoint(world: World, header: str) -> None:
    with world.http() as http:
        assert http.get("/token", headers={"Authorization": header}).status_code == 401


def test_any_username_with_a_valid_pat_acts_as_its_owner(pushed: World) -> None:
    """As on ghcr.io, the username is not checked: the PAT alone names the caller."""
    with pushed.http() as http:
        response = http.get(
            "/token", params={"scope": f"repository:{REPO}:pull"}, auth=("ci", pushed.tokens["reader"])
        )
    assert response.status_code == 200 and claims_of(response.json()["token"])["sub"] == "alice"


def test_registry_jwt_is_not_a_password(pushed: World) -> None:
    """A registry token presented as Basic password at /token is refused (Quay CVE-2026-134651)."""
    token = pushed.bearer("owner", f"repository:{REPO}:pull")
    with pushed.http() as http:
        assert http.get("/token", auth=("alice", token)).status_code == 401


def test_oauth2_post_password_and_refresh(pushed: World) -> None:
    service = pushed.url.split("//")[1]
    with pushed.http() as http:
        first = http.post(
            "/token",
            data={
                "grant_type": "password",
                "service": service,
                "client_id": "keelhaul-tests",
                "access_type": "offline",
                "scope": f"repository:{REPO}:pull,push",
                "username": "alice",
                "password": pushed.tokens["owner"],
            },
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["scope"] == f"repository:{REPO}:pull,push" and body["expires_in"] >= 60
        refreshed = http.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "service": service,
                "client_id": "keelhaul-tests",
                "refresh_token": body["refresh_token"],
                "scope": f"repository:{REPO}:pull",
            },
        )
        assert refreshed.status_code == 200 and refreshed.json()["scope"] == f"repository:{REPO}:pull"
        assert get_manifest(pushed, refreshed.json()["access_token"]).status_code == 200
        # a refresh token is not an access token, and an access token is not a refresh token
        assert get_manifest(pushed, body["refresh_token"]).status_code == 401
        wrong_use = http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": body["access_token"]}
        )
        assert wrong_use.status_code == 401
        bad = http.post("/token", data={"grant_type": "password", "username": "alice", "password": "nope"})
        assert bad.status_code == 401
        assert http.post("/token", data={"grant_type": "authorization_code"}).status_code == 400


def test_offline_token_on_get(pushed: World) -> None:
    with pushed.http() as http:
        response = http.get(
            "/token", params={"offline_token": "true"}, auth=("alice", pushed.tokens["reader"])
        )
    assert claims_of(response.json()["refresh_token"])["use"] == REFRESH_USE


def test_revocation_applies_to_tokens_already_issued(pushed: World) -> None:
    issued = pushed.admin.create_token("alice", ["read:packages"])
    with pushed.http() as http:
        token = http.get(
            "/token", params={"scope": f"repository:{REPO}:pull"}, auth=("alice", issued.token)
        ).json()["token"]
    assert get_manifest(pushed, token).status_code == 200
    pushed.admin.revoke_token(issued.id)
    response = get_manifest(pushed, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("method", "path", "actions"),
    [
        ("GET", f"/v2/{REPO}/manifests/v1", "pull"),
        ("HEAD", f"/v2/{REPO}/blobs/sha256:{'0' * 64}", "pull"),
        ("PUT", f"/v2/{REPO}/manifests/v2", "pull,push"),
        ("POST", f"/v2/{REPO}/blobs/uploads/", "pull,push"),
        ("DELETE", f"/v2/{REPO}/manifests/v1", "delete"),
    ],
)
def test_invalid_token_challenge_names_the_request_scope(
    pushed: World, method: str, path: str, actions: str
) -> None:
    """A refused token (expired, revoked, forged) gets a challenge with the scope this request
    needs, so a client can fetch a fitting token in one round trip (the access seam hands the
    policy the parsed route, which names the repository)."""
    forged = forged_tokens(pushed)["wrong key"]
    with pushed.http() as http:
        response = http.request(method, path, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    challenge = parse_challenge(response.headers["WWW-Authenticate"])
    assert challenge.error == "invalid_token"
    assert challenge.scope == f"repository:{REPO}:{actions}"


def test_invalid_token_challenge_on_ping_and_catalog_has_no_repository_scope(pushed: World) -> None:
    with pushed.http() as http:
        for path in ("/v2/", "/v2/_catalog"):
            response = http.get(path, headers={"Authorization": "Bearer not.a.token"})
            assert response.status_code == 401, path
            challenge = parse_challenge(response.headers["WWW-Authenticate"])
            assert challenge.error == "invalid_token" and challenge.scope is None, path


def test_insufficient_scope_challenge(pushed: World) -> None:
    token = pushed.bearer("owner", f"repository:{REPO}:pull")
    with pushed.http() as http:
        response = http.post(f"/v2/{REPO}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    challenge = parse_challenge(response.headers["WWW-Authenticate"])
    assert challenge.error == "insufficient_scope" and challenge.scope == f"repository:{REPO}:pull,push"


# -- forged, stale and malformed bearer tokens --------------------------------------------------------
def _claims(world: World, **overrides: object) -> dict:
    now = int(time.time())
    claims = {
        "iss": "keelhaul-token-service",
        "sub": "alice",
        "aud": world.url.split("//")[1],
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "forged",
        "use": ACCESS_USE,
        "cred": world.admin.store.tokens(world.admin.user("alice"))[0].id,
        "access": [{"type": "repository", "name": REPO, "actions": ["pull", "push", "delete"]}],
    }
    claims.update(overrides)
    return claims


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(world: World) -> dict[str, str]:
    kid = world.policy.signer.kid
    attacker = ec.generate_private_key(ec.SECP256R1())
    public_pem = world.policy.signer._key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attacker_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    signer = world.policy.signer
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(_claims(world))}.",
        "wrong key": jwt.encode(_claims(world), attacker, algorithm="ES256", headers={"kid": kid}),
        "jwk header": jwt.encode(
            _claims(world), attacker, algorithm="ES256", headers={"kid": kid, "jwk": attacker_jwk}
        ),
        "hs256 with public key": _hs256(_claims(world), kid, public_pem),
        "unknown kid": jwt.encode(_claims(world), attacker, algorithm="ES256", headers={"kid": "nope"}),
        "expired": signer.issue(
            audience=_claims(world)["aud"],
            subject="alice",
            use=ACCESS_USE,
            extra={"access": _claims(world)["access"], "cred": _claims(world)["cred"]},
            now=time.time() - 3600,
        ).token,
        "wrong audience": signer.issue(
            audience="registry.example",
            subject="alice",
            use=ACCESS_USE,
            extra={"access": _claims(world)["access"], "cred": _claims(world)["cred"]},
        ).token,
        "refresh used as access": signer.issue(
            audience=_claims(world)["aud"],
            subject="alice",
            use=REFRESH_USE,
            extra={"cred": _claims(world)["cred"]},
        ).token,
        "tampered payload": _tamper(
            signer.issue(
                audience=_claims(world)["aud"],
                subject="alice",
                use=ACCESS_USE,
                extra={"access": [], "cred": None},
            ).token,
            _claims(world),
        ),
        "8 KB of dots": "." * 8000,
        "empty": "",
    }


def _hs256(claims: dict, kid: str, secret: bytes) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _tamper(token: str, claims: dict) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64(claims)}.{signature}"


FORGERIES = [
    "alg none",
    "wrong key",
    "jwk header",
    "hs256 with public key",
    "unknown kid",
    "expired",
    "wrong audience",
    "refresh used as access",
    "tampered payload",
    "8 KB of dots",
    "empty",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_tokens_are_refused(pushed: World, kind: str) -> None:
    token = forged_tokens(pushed)[kind]
    response = get_manifest(pushed, token)
    assert response.status_code == 401, kind
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_a_megabyte_of_dots_is_refused_fast(world: World) -> None:
    started = time.perf_counter()
    response = get_manifest(world, "." * 1_000_000)
    assert response.status_code in (400, 401, 431)  # the HTTP layer's header limit may answer first
    assert time.perf_counter() - started < 5


def test_multiple_authorization_headers_are_refused(pushed: World) -> None:
    token = pushed.bearer("owner", f"repository:{REPO}:pull")
    with pushed.http() as http:
        response = http.get(
            f"/v2/{REPO}/manifests/v1",
            headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],
        )
    assert response.status_code == 401


def test_basic_credentials_on_the_registry_api_are_refused(pushed: World) -> None:
    """ghcr.io accepts only bearer tokens on /v2/ (clients go through /token)."""
    with pushed.http() as http:
        response = http.get(f"/v2/{REPO}/manifests/v1", auth=("alice", pushed.tokens["owner"]))
    assert response.status_code == 401 and "Bearer realm=" in response.headers["WWW-Authenticate"]


def test_a_token_just_issued_is_known_without_a_signature_check(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signer remembers what it issued; its first use gives the claims a full decode gives."""
    signer = TokenSigner(tmp_path / "key.pem")
    issued = signer.issue(audience="r", subject="alice", use=ACCESS_USE, extra={"access": [{"a": ("x",)}]})
    decoded = TokenSigner(tmp_path / "key.pem").verify(issued.token, audience="r", use=ACCESS_USE)

    def no_check(token: str, audience: str) -> dict:
        raise AssertionError("a token this signer issued was checked again")

    monkeypatch.setattr(signer, "_verify_signature", no_check)
    assert signer.verify(issued.token, audience="r", use=ACCESS_USE) == decoded
    for audience, use in (("elsewhere", ACCESS_USE), ("r", REFRESH_USE)):
        with pytest.raises(InvalidToken):
            signer.verify(issued.token, audience=audience, use=use)


def test_a_token_issued_for_later_is_refused_until_then(tmp_path) -> None:
    """Remembered or decoded, a token whose `nbf` lies ahead is not valid yet."""
    signer = TokenSigner(tmp_path / "key.pem")
    later = signer.issue(audience="r", subject="alice", use=ACCESS_USE, extra={}, now=time.time() + 3600)
    for verifier in (signer, TokenSigner(tmp_path / "key.pem")):
        with pytest.raises(InvalidToken):
            verifier.verify(later.token, audience="r", use=ACCESS_USE)
