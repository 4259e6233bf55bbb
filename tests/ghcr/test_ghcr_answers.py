"""The reference server answers as ghcr.io does where clients notice it (conformance/ghcr/BEHAVIOUR.md,
rows R1–R6, T1–T3, A4): the /v2/ challenge, the token service's anonymous answers, Bearer
base64(user:PAT), the write refusal, deletion only through the REST API, the last tagged version,
and the plain-OCI mode (`--no-auth`) where /v2 deletes still work."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from keelhaul.client.images import push_image, sample_image
from keelhaul.client.registry import RegistryClient
from keelhaul.client.uploads import start_upload
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer

from .world import World

PLACEHOLDER_SCOPE = "repository:user/image:pull"
USER = "/users/alice/packages/container"


@pytest.fixture(scope="module")
def pushed(world: World) -> World:
    world.push_sample("alice/answers-private")
    world.push_sample("alice/answers-public", public=True)
    return world


def token_request(world: World, scope: str, auth: tuple[str, str] | None = None) -> httpx.Response:
    service = world.url.split("//", 1)[1]
    with world.http() as http:
        return http.get("/token", params={"service": service, "scope": scope}, auth=auth)


def pat_bearer(world: World, role: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + base64.b64encode(f"alice:{world.tokens[role]}".encode()).decode()}


def error_of(response: httpx.Response) -> tuple[str, str]:
    error = response.json()["errors"][0]
    return error["code"], error["message"]


def test_v2_challenge_carries_the_placeholder_scope(world: World) -> None:
    with world.http() as http:
        ping = http.get("/v2/")
    host = world.url.split("//", 1)[1]
    assert ping.status_code == 401
    assert ping.headers["WWW-Authenticate"] == (
        f'Bearer realm="{world.url}/token",service="{host}",scope="{PLACEHOLDER_SCOPE}"'
    )


def test_anonymous_token_requests_answer_like_ghcr(pushed: World) -> None:
    private = token_request(pushed, "repository:alice/answers-private:pull")
    missing = token_request(pushed, "repository:alice/answers-missing:pull")
    assert private.status_code == missing.status_code == 401
    assert private.content == missing.content
    assert token_request(pushed, "registry:catalog:*").status_code == 401
    public = token_request(pushed, "repository:alice/answers-public:pull")
    assert public.status_code == 200 and set(public.json()) == {"token"}
    refused = token_request(pushed, "repository:alice/answers-public:pull,push")
    assert refused.status_code == 403 and error_of(refused)[0] == "DENIED"
    assert token_request(pushed, "").status_code == 200  # no scope: an empty grant, as before
    # Signed-in callers always get a token, narrowed to what they may do.
    narrowed = token_request(
        pushed, "repository:alice/answers-private:pull,push", ("alice", pushed.tokens["reader"])
    )
    assert narrowed.status_code == 200 and set(narrowed.json()) == {"token"}
    with pushed.http() as http:
        pulled = http.get(
            "/v2/alice/answers-public/manifests/v1",
            headers={"Authorization": f"Bearer {public.json()['token']}", "Accept": "*/*"},
        )
    assert pulled.status_code == 200


def test_bearer_base64_pat_is_accepted_on_v2(pushed: World) -> None:
    with pushed.http() as http:
        assert http.get("/v2/", headers=pat_bearer(pushed, "reader")).status_code == 200
        manifest = http.get(
            "/v2/alice/answers-private/manifests/v1",
            headers={**pat_bearer(pushed, "reader"), "Accept": "*/*"},
        )
        assert manifest.status_code == 200
        upload = http.post("/v2/alice/answers-private/blobs/uploads/", headers=pat_bearer(pushed, "reader"))
        assert upload.status_code == 403
        assert error_of(upload) == ("DENIED", "permission_denied: write_package")
        assert (
            http.post(
                "/v2/alice/answers-private/blobs/uploads/", headers=pat_bearer(pushed, "writer")
            ).status_code
            == 202
        )
        for bad in ("revoked", "expired"):
            refused = http.get("/v2/", headers=pat_bearer(pushed, bad))
            assert (
                refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
            )
        garbage = http.get(
            "/v2/", headers={"Authorization": "Bearer " + base64.b64encode(b"alice:khp_nope").decode()}
        )
        assert garbage.status_code == 401


def test_read_only_caller_is_denied_write_package(pushed: World) -> None:
    image = sample_image("answers-reader-push")
    refused = pushed.push("reader", "alice/answers-private", "v-reader", image)
    assert refused.status_code == 403
    assert error_of(refused) == ("DENIED", "permission_denied: write_package")
    # Who cannot read the package learns nothing: the generic refusal, as for a missing one.
    outsider = pushed.push("other", "alice/answers-private", "v-bob", image)
    assert outsider.status_code == 403
    assert error_of(outsider) == ("DENIED", "requested access to the resource is denied")


def test_registry_deletes_and_upload_cancel_are_unsupported(pushed: World) -> None:
    image = sample_image("answers-delete")
    assert pushed.push("owner", "alice/answers-delete", "v1", image).status_code == 201
    with pushed.client("owner") as owner:
        for response in (
            owner.delete_manifest("alice/answers-delete", image.digest),
            owner.delete_manifest("alice/answers-delete", "v1"),
            owner.delete_blob("alice/answers-delete", image.layers[0].digest),
        ):
            assert response.status_code == 405
            assert error_of(response) == ("UNSUPPORTED", "The operation is unsupported.")
        assert owner.get_manifest("alice/answers-delete", "v1").status_code == 200
        location = start_upload(owner, "alice/answers-delete").headers["Location"]
        cancel = owner.request("DELETE", location)
        assert cancel.status_code == 405 and error_of(cancel)[0] == "UNSUPPORTED"
        assert owner.request("GET", location).status_code == 204  # the session is still open
    with pushed.http() as http:
        anonymous = http.delete(f"/v2/alice/answers-delete/manifests/{image.digest}")
    assert anonymous.status_code == 401  # credentials first, as for every write


def test_plain_oci_mode_keeps_registry_deletes(tmp_path: Path) -> None:
    with EmbeddedServer(ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)) as server:
        assert server.url is not None
        with RegistryClient(server.url) as client:
            image = sample_image("plain-oci-delete")
            push_image(client, "plain/delete", "v1", image)
            location = start_upload(client, "plain/delete").headers["Location"]
            assert client.request("DELETE", location).status_code == 204
            assert client.delete_manifest("plain/delete", image.digest).status_code == 202
            assert client.get_manifest("plain/delete", "v1").status_code == 404


def test_last_tagged_version_cannot_be_deleted(pushed: World) -> None:
    tagged, untagged = sample_image("answers-tagged"), sample_image("answers-untagged")
    assert pushed.push("owner", "alice/answers-versions", "v1", tagged).status_code == 201
    assert pushed.push("owner", "alice/answers-versions", None, untagged).status_code == 201
    ids = {v["name"]: v["id"] for v in pushed.api("GET", f"{USER}/answers-versions/versions").json()}
    refused = pushed.api("DELETE", f"{USER}/answers-versions/versions/{ids[tagged.digest]}")
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "You cannot delete the last tagged version of a package. You must delete the package instead."
    )
    assert pushed.api("DELETE", f"{USER}/answers-versions/versions/{ids[untagged.digest]}").status_code == 204
    last = pushed.api("DELETE", f"{USER}/answers-versions/versions/{ids[tagged.digest]}")
    assert last.status_code == 400 and "last version" in last.json()["message"]
