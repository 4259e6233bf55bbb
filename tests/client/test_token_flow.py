"""The Docker token flow of RegistryClient, against an in-process fake registry and realm."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import httpx
import pytest

from keelhaul.client import Credentials, ExchangeRecorder, RegistryClient
from keelhaul.client.auth import parse_challenge, request_key

SECRET = "s3cret-pat"
ALICE = Credentials("alice", SECRET)


@dataclass
class FakeRegistry:
    """A registry that wants `Bearer <token>` whose scope covers the request, and a realm that mints
    tokens `tok-<n>` for alice:s3cret-pat (or anonymously, when allowed)."""

    realm: str = "http://registry.test/token"
    token_field: str = "token"
    expires_in: int | None = 300
    allow_anonymous: bool = False
    basic_only: bool = False
    issued: dict[str, str] = field(default_factory=dict)  # token -> scope
    realm_calls: list[httpx.Request] = field(default_factory=list)
    registry_calls: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return self.token(request)
        self.registry_calls.append(request)
        request.read()
        repo, action = request_key(request.method, request.url.path)
        needed = f"repository:{repo}:{'pull' if action == 'pull' else 'pull,push'}"
        auth = request.headers.get("authorization", "")
        if self.basic_only:
            if auth == Credentials("alice", SECRET).basic_header():
                return httpx.Response(200, json={})
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if auth.startswith("Bearer ") and self.issued.get(auth[7:], "").split(" ").count(needed):
            return httpx.Response(200, json={"ok": True})
        challenge = f'Bearer realm="{self.realm}",service="fake.test",scope="{needed}"'
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": challenge},
            json={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
        )

    def token(self, request: httpx.Request) -> httpx.Response:
        self.realm_calls.append(request)
        auth = request.headers.get("authorization")
        good = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
        if auth != good and not (auth is None and self.allow_anonymous):
            return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED", "message": "bad creds"}]})
        token = f"tok-{len(self.issued)}"
        self.issued[token] = " ".join(request.url.params.get_list("scope"))
        body = {self.token_field: token}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)


def make_client(
    fake: FakeRegistry,
    credentials: Credentials | None = ALICE,
    recorder: ExchangeRecorder | None = None,
) -> RegistryClient:
    return RegistryClient(
        "http://registry.test",
        credentials=credentials,
        recorder=recorder,
        transport=httpx.MockTransport(fake.handler),
    )


def test_bearer_challenge_fetches_token_with_basic_creds_and_retries():
    fake = FakeRegistry()
    response = make_client(fake).get_manifest("alice/app", "v1")
    assert response.status_code == 200
    assert len(fake.realm_calls) == 1
    realm_request = fake.realm_calls[0]
    assert realm_request.url.params["service"] == "fake.test"
    assert realm_request.url.params.get_list("scope") == ["repository:alice/app:pull"]
    assert realm_request.headers["authorization"].startswith("Basic ")
    assert [r.headers.get("authorization") for r in fake.registry_calls] == [None, "Bearer tok-0"]


def test_token_is_cached_per_scope_and_sent_preemptively():
    fake = FakeRegistry()
    client = make_client(fake)
    for _ in range(3):
        assert client.get_manifest("alice/app", "v1").status_code == 200
    assert len(fake.realm_calls) == 1
    assert len(fake.registry_calls) == 4  # one challenge, then three authorized requests
    # a push needs another scope: one more challenge and token
    assert client.request("POST", "/v2/alice/app/blobs/uploads/", content=b"").status_code == 200
    assert len(fake.realm_calls) == 2
    assert fake.issued["tok-1"] == "repository:alice/app:pull,push"
    # another repository: another scope
    assert client.get_manifest("alice/other", "v1").status_code == 200
    assert len(fake.realm_calls) == 3


def test_access_token_field_is_accepted():
    fake = FakeRegistry(token_field="access_token")
    assert make_client(fake).ping().status_code in (200, 401)
    assert make_client(fake).head_blob("a/b", "sha256:" + "0" * 64).status_code == 200


def test_expired_token_is_fetched_again():
    fake = FakeRegistry(expires_in=1)  # shorter than the refresh margin: never reused
    client = make_client(fake)
    client.get_manifest("alice/app", "v1")
    client.get_manifest("alice/app", "v1")
    assert len(fake.realm_calls) == 2


def test_scope_override_is_sent_to_the_realm():
    fake = FakeRegistry()
    client = make_client(fake)
    scope = "repository:alice/app:pull repository:bob/lib:pull"
    client.request("GET", "/v2/alice/app/tags/list", scope=scope)
    assert fake.realm_calls[0].url.params.get_list("scope") == scope.split(" ")


def test_refused_credentials_return_the_original_401():
    fake = FakeRegistry()
    client = make_client(fake, Credentials("alice", "wrong"))
    response = client.get_manifest("alice/app", "v1")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert client.last_token_response is not None and client.last_token_response.status_code == 401
    assert len(fake.registry_calls) == 1


def test_anonymous_token_when_the_realm_allows_it():
    fake = FakeRegistry(allow_anonymous=True)
    client = make_client(fake, credentials=None)
    assert client.get_manifest("alice/app", "v1").status_code == 200
    assert "authorization" not in fake.realm_calls[0].headers


def test_relative_realm_is_resolved_against_the_request():
    fake = FakeRegistry(realm="/token")
    assert make_client(fake).get_manifest("alice/app", "v1").status_code == 200
    assert str(fake.realm_calls[0].url).startswith("http://registry.test/token?")


def test_basic_challenge_gets_basic_credentials_and_then_preemptively():
    fake = FakeRegistry(basic_only=True)
    client = make_client(fake)
    assert client.ping().status_code == 200
    assert client.ping().status_code == 200
    assert [r.headers.get("authorization") is None for r in fake.registry_calls] == [True, False, False]
    assert fake.realm_calls == []


def test_basic_challenge_without_credentials_returns_401():
    fake = FakeRegistry(basic_only=True)
    assert make_client(fake, credentials=None).ping().status_code == 401


def test_explicit_authorization_header_is_sent_as_is():
    fake = FakeRegistry()
    client = make_client(fake)
    response = client.request("GET", "/v2/alice/app/manifests/v1", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert fake.realm_calls == []


def test_replayable_body_is_sent_again_after_the_challenge_but_one_shot_is_not():
    fake = FakeRegistry()
    client = make_client(fake)
    chunks = lambda: iter([b"ab", b"cd"])  # noqa: E731
    response = client.request("PUT", "/v2/alice/app/blobs/uploads/x", content=chunks, content_length=4)
    assert response.status_code == 200
    assert [r.content for r in fake.registry_calls] == [b"abcd", b"abcd"]
    fresh = make_client(fake)  # knows nothing of the registry's scopes yet: its first request gets a 401
    one_shot = iter([b"xy"])
    response = fresh.request("PUT", "/v2/alice/lib/blobs/uploads/x", content=one_shot, content_length=2)
    assert response.status_code == 401  # no replay of a consumed iterator...
    response = fresh.request("PUT", "/v2/alice/lib/blobs/uploads/x", content=iter([b"xy"]), content_length=2)
    assert response.status_code == 200  # ...but the token it fetched is used next time


def test_a_new_repository_gets_the_learned_scope_before_the_registry_asks():
    """After one challenge showed the scope form for writes, the first write to another repository
    carries a token for `repository:OTHER:pull,push`: no 401 round trip."""
    fake = FakeRegistry()
    client = make_client(fake)
    assert client.request("POST", "/v2/alice/one/blobs/uploads/").status_code == 200
    assert [r.headers.get("authorization") is None for r in fake.registry_calls] == [True, False]
    fake.registry_calls.clear()
    assert client.request("POST", "/v2/alice/two/blobs/uploads/").status_code == 200
    assert [r.headers.get("authorization") is None for r in fake.registry_calls] == [False]
    assert fake.realm_calls[-1].url.params.get_list("scope") == ["repository:alice/two:pull,push"]
    # pulls were never challenged: their form is unknown, so the registry's challenge decides
    fake.registry_calls.clear()
    assert client.get_manifest("alice/two", "v1").status_code == 200
    assert [r.headers.get("authorization") is None for r in fake.registry_calls] == [True, False]


def test_learned_scope_forms_are_shared_across_identities_but_never_used_anonymously():
    fake = FakeRegistry(allow_anonymous=True)
    client = make_client(fake)
    assert client.get_manifest("alice/one", "v1").status_code == 200
    sibling = client.with_credentials(ALICE)
    fake.registry_calls.clear()
    assert sibling.get_manifest("alice/two", "v1").status_code == 200
    assert [r.headers.get("authorization") is None for r in fake.registry_calls] == [False]
    anonymous = client.with_credentials(None)
    fake.registry_calls.clear()
    anonymous.get_manifest("alice/three", "v1")
    assert fake.registry_calls[0].headers.get("authorization") is None


def test_a_wrong_prediction_falls_back_to_the_challenge():
    """A registry that asks for a different scope on the next repository: the predicted token is
    refused, and the challenge's own scope is fetched and used."""
    fake = FakeRegistry()
    client = make_client(fake)
    assert client.request("POST", "/v2/alice/one/blobs/uploads/").status_code == 200
    client.scope_forms.learn(
        ("alice/two", "push"),
        parse_challenge('Bearer realm="http://registry.test/token",scope="repository:alice/two:push"'),
    )
    fake.registry_calls.clear()
    assert client.request("POST", "/v2/alice/three/blobs/uploads/").status_code == 200
    assert [r.headers.get("authorization") is None for r in fake.registry_calls] == [False, False]
    assert fake.realm_calls[-1].url.params.get_list("scope") == ["repository:alice/three:pull,push"]


def test_recorder_redacts_credentials_and_tokens():
    fake = FakeRegistry()
    recorder = ExchangeRecorder()
    make_client(fake, recorder=recorder).get_manifest("alice/app", "v1")
    dumped = json.dumps([e.to_dict() for e in recorder.exchanges])
    assert SECRET not in dumped
    assert base64.b64encode(f"alice:{SECRET}".encode()).decode() not in dumped
    assert "tok-0" not in dumped
    token_exchange = next(e for e in recorder.exchanges if e.note == "token request")
    assert token_exchange.request_headers["authorization"] == "Basic <redacted>"
    assert json.loads(token_exchange.response_text or "{}")["token"] == "<redacted>"
    assert [e.status for e in recorder.exchanges] == [401, 200, 200]
    assert recorder.exchanges[-1].request_headers["authorization"] == "Bearer <redacted>"


def test_challenge_parsing_handles_quoted_commas_and_errors():
    challenge = parse_challenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
        'scope="repository:a/b:pull,push repository:c/d:pull",error="insufficient_scope"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://ghcr.io/token"
    assert challenge.scope == "repository:a/b:pull,push repository:c/d:pull"
    assert challenge.error == "insufficient_scope"
    assert parse_challenge("") is None


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("GET", "/v2/a/b/manifests/v1", ("a/b", "pull")),
        ("PATCH", "/v2/a/b/c/blobs/uploads/123", ("a/b/c", "push")),
        ("DELETE", "/v2/a/tags/manifests/x", ("a/tags", "delete")),
        ("GET", "/v2/_catalog", ("_catalog", "pull")),
        ("GET", "/v2/", ("", "pull")),
    ],
)
def test_request_key(method, path, key):
    assert request_key(method, path) == key


def test_unauthenticated_requests_and_challenge_discovery():
    fake = FakeRegistry()
    client = make_client(fake)
    challenge = client.challenge()
    assert challenge is not None and challenge.realm == fake.realm and challenge.service == "fake.test"
    assert client.get_manifest("alice/app", "v1").status_code == 200
    anonymous = client.request("GET", "/v2/alice/app/manifests/v1", authenticate=False)
    assert anonymous.status_code == 401
    assert "authorization" not in fake.registry_calls[-1].headers
    token = client.fetch_token(challenge, "repository:alice/app:pull")
    assert token is not None and fake.issued[token] == "repository:alice/app:pull"


def test_with_credentials_keeps_transport_and_recorder_but_not_tokens():
    fake = FakeRegistry(allow_anonymous=True)
    recorder = ExchangeRecorder()
    client = make_client(fake, recorder=recorder)
    client.get_manifest("alice/app", "v1")
    other = client.with_credentials(None)
    assert other.credentials is None and other.recorder is recorder
    assert other.get_manifest("alice/app", "v1").status_code == 200  # same fake transport
    assert "authorization" not in fake.realm_calls[-1].headers  # its own, anonymous, token
