"""The token flow against the reference server's real token service (ghcr.io model)."""

from __future__ import annotations

from keelhaul.client import Credentials, ExchangeRecorder, GeneratedBlob, RegistryClient
from keelhaul.client.images import push_image, sample_image


def test_writer_pushes_with_one_token_per_scope(auth_server):
    url, tokens = auth_server
    recorder = ExchangeRecorder(limit=None)
    with RegistryClient(url, credentials=Credentials("alice", tokens["writer"]), recorder=recorder) as client:
        image = sample_image("auth-writer")
        assert push_image(client, "alice/app", "v1", image) == image.digest
        assert client.upload_chunked("alice/app", GeneratedBlob(3 << 20, "auth"), 1 << 20).ok
        assert client.get_manifest("alice/app", "v1").content == image.manifest.body
    token_requests = [e for e in recorder.exchanges if e.note == "token request"]
    scopes = sorted(e.url.split("scope=")[-1] for e in token_requests)
    assert scopes == ["repository:alice/app:pull", "repository:alice/app:pull,push"]
    challenges = [e for e in recorder.exchanges if e.status == 401]
    assert len(challenges) == 2  # once per scope, then tokens go out preemptively
    assert all(tokens["writer"] not in str(e.to_dict()) for e in recorder.exchanges)


def test_reader_pulls_but_cannot_push(auth_server):
    url, tokens = auth_server
    with RegistryClient(url, credentials=Credentials("alice", tokens["writer"])) as writer:
        push_image(writer, "alice/readable", "v1", sample_image("auth-reader"))
    with RegistryClient(url, credentials=Credentials("alice", tokens["reader"])) as reader:
        assert reader.get_manifest("alice/readable", "v1").status_code == 200
        refused = reader.upload_monolithic("alice/readable", b"not allowed")
        assert not refused.ok
        assert refused.response.status_code in (401, 403)
        assert refused.response.json()["errors"][0]["code"] in ("UNAUTHORIZED", "DENIED")


def test_bad_credentials_and_forged_tokens_are_refused(auth_server):
    url, _ = auth_server
    with RegistryClient(url, credentials=Credentials("alice", "ghp_wrong")) as wrong:
        response = wrong.get_manifest("alice/app", "v1")
        assert response.status_code == 401
        assert wrong.last_token_response is not None and wrong.last_token_response.status_code == 401
    with RegistryClient(url) as anonymous:
        forged = anonymous.request(
            "GET", "/v2/alice/app/manifests/v1", headers={"Authorization": "Bearer x.y.z"}
        )
        assert forged.status_code == 401
        assert forged.headers["www-authenticate"].lower().startswith("bearer ")
