"""How ghcr.io answers where clients notice it and its page is silent: the /v2/ challenge, the token
service's anonymous answers, `Bearer base64(user:PAT)`, the write refusal, deletion only through the
REST API, and the last tagged version. Each row of conformance/ghcr/BEHAVIOUR.md names the public
thread that quotes ghcr.io's answer. The requirement IDs are ghcr.io's (N/A for other products)."""

from __future__ import annotations

import base64

import pytest

from conformance.ghcr.support import (
    expect_github_error,
    expect_rest_status,
    pull_scope,
    push,
    set_visibility,
    token_answer,
)
from conformance.oci.expect import expect_error, expect_manifest, expect_status, fail, json_body
from keelhaul.client.auth import parse_challenge
from keelhaul.client.images import sample_image
from keelhaul.client.uploads import start_upload, upload_status

PLACEHOLDER_SCOPE = "repository:user/image:pull"
WRITE_DENIED = "permission_denied: write_package"
LAST_TAGGED = "You cannot delete the last tagged version of a package. You must delete the package instead."
LAST_VERSION = "You cannot delete the last version of a package. You must delete the package instead."


def _error_messages(response) -> list[str]:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return []
    return [str(e.get("message", "")) for e in errors if isinstance(e, dict)]


@pytest.mark.req("AUTH-1")
@pytest.mark.needs("token_auth")
def test_v2_challenge_carries_the_placeholder_scope(client_for):
    """AUTH-1: an anonymous `GET /v2/` answers 401 with `Bearer realm, service` and ghcr.io's
    placeholder `scope="repository:user/image:pull"` (clients that reuse it must cope)."""
    ping = client_for("anonymous").request("GET", "/v2/", authenticate=False)
    expect_status(ping, 401, "AUTH-1: /v2/ without credentials answers 401 with the challenge")
    challenge = parse_challenge(ping.headers.get("www-authenticate"))
    if challenge is None or challenge.scheme != "bearer" or challenge.scope != PLACEHOLDER_SCOPE:
        fail(
            "AUTH-1: the /v2/ challenge carries ghcr.io's placeholder scope",
            ping,
            f'Bearer realm="…",service="…",scope="{PLACEHOLDER_SCOPE}"',
            repr(ping.headers.get("www-authenticate")),
        )


@pytest.mark.req("AUTH-5", "AUTH-6", "AUTH-11")
@pytest.mark.needs("token_auth", packages_api="github", role="admin")
def test_token_service_answers_anonymous_callers(client, client_for, new_repo, rest, shared_private):
    """AUTH-6/AUTH-11/AUTH-5: anonymous token requests get 401 for a private and a missing package
    alike, a `{"token": …}` body for `pull` on a public one, and 403 for `pull,push` on it."""
    anonymous = client_for("anonymous")
    private, _ = shared_private
    for name, what in ((private, "private"), (new_repo(), "missing")):
        answer = token_answer(anonymous, pull_scope(name))
        if answer is None:
            pytest.skip("the target challenges no one: there is no token endpoint to ask")
        expect_status(answer, 401, f"AUTH-11: an anonymous token request for a {what} package answers 401")
    public = new_repo()
    expect_status(push(client, public, "v1", sample_image(f"answers-{public}")), 201, "AUTH-6: setup push")
    set_visibility(rest, public, "public", "AUTH-6")
    granted = token_answer(anonymous, pull_scope(public))
    expect_status(granted, 200, "AUTH-6: anonymous callers get a `pull` token for a public package")
    body = json_body(granted, "AUTH-6")
    if not isinstance(body, dict) or set(body) != {"token"}:
        fail('AUTH-6: the token answer is ghcr.io\'s `{"token": …}`', granted, '{"token": "…"}', granted.text)
    refused = token_answer(anonymous, f"repository:{public}:pull,push")
    expect_status(
        refused, 403, "AUTH-5: an anonymous `pull,push` token request for a public package answers 403"
    )


@pytest.mark.req("AUTH-1")
@pytest.mark.needs("token_auth", role="reader")
def test_bearer_base64_pat_opens_the_registry_api(client_for, target, shared_private):
    """AUTH-1: `Authorization: Bearer <base64(user:PAT)>` is accepted on /v2/ without the token
    service (CI tools send it), with the PAT's own rights."""
    repo, image = shared_private
    credentials = target.credentials("reader")
    pair = f"{credentials.username}:{credentials.password}".encode()
    header = {"Authorization": "Bearer " + base64.b64encode(pair).decode()}
    reader = client_for("reader")
    expect_status(
        reader.request("GET", "/v2/", headers=header), 200, "AUTH-1: /v2/ accepts Bearer base64(user:PAT)"
    )
    expect_manifest(
        reader.request("GET", f"/v2/{repo}/manifests/v1", headers={**header, "Accept": image.media_type}),
        image.manifest,
        "AUTH-1: a manifest pulls with Bearer base64(user:PAT)",
    )
    expect_error(
        reader.request("POST", f"/v2/{repo}/blobs/uploads/", headers=header),
        [403],
        {"DENIED"},
        "AUTH-2: Bearer base64(user:PAT) carries only the PAT's rights",
    )


@pytest.mark.req("AUTH-2")
@pytest.mark.needs("token_auth", role="reader")
def test_reader_push_is_denied_write_package(client_for, shared_private):
    """AUTH-2: a caller who may read a package but not write it gets 403 `DENIED`
    "permission_denied: write_package" when it starts an upload or puts a manifest."""
    repo, image = shared_private
    reader = client_for("reader")
    for answer, what in (
        (start_upload(reader, repo), "an upload"),
        (reader.put_manifest(repo, "v-reader", image.manifest.body, image.manifest.media_type), "a manifest"),
    ):
        expect_error(answer, [403], {"DENIED"}, f"AUTH-2: read-only callers are denied {what}")
        if not any(WRITE_DENIED in message for message in _error_messages(answer)):
            fail(f"AUTH-2: the refusal of {what} says {WRITE_DENIED!r}", answer, WRITE_DENIED)


@pytest.mark.req("API-1")
@pytest.mark.needs("token_auth", role="writer", manifest_delete=False)
def test_registry_api_deletes_are_unsupported(client, deleting_client, new_repo):
    """API-1: deletion goes through the REST API only: `DELETE` of a manifest (by digest or tag), of a
    blob and of an upload session answers 405 UNSUPPORTED and removes nothing (the OCI spec allows
    405 where deletion is disabled)."""
    repo = new_repo()
    image = sample_image(f"answers-delete-{repo}")
    expect_status(push(client, repo, "v1", image), 201, "API-1: setup push")
    layer = image.layers[0].digest
    for path, what in (
        (f"manifests/{image.digest}", "a manifest by digest"),
        ("manifests/v1", "a tag"),
        (f"blobs/{layer}", "a blob"),
    ):
        expect_error(
            deleting_client.request("DELETE", f"/v2/{repo}/{path}"),
            [405],
            {"UNSUPPORTED"},
            f"API-1: DELETE of {what} on the registry API answers 405 UNSUPPORTED",
        )
    expect_manifest(
        client.get_manifest(repo, "v1"), image.manifest, "API-1: the refused deletes removed nothing"
    )
    expect_status(client.head_blob(repo, layer), 200, "API-1: the blob is still there")
    started = start_upload(client, repo)
    expect_status(started, 202, "OCI-PUSH-1: POST starts an upload session")
    location = started.headers["location"]
    expect_error(
        client.request("DELETE", location), [405], {"UNSUPPORTED"}, "API-1: cancelling an upload answers 405"
    )
    expect_status(upload_status(client, location), 204, "API-1: the refused cancel left the session open")


@pytest.mark.req("API-1")
@pytest.mark.needs(packages_api="github", role="admin")
def test_last_tagged_version_cannot_be_deleted(client, new_repo, rest):
    """API-1: while untagged versions remain, the last tagged version cannot be deleted: 400 with
    GitHub's message; the version stays pullable, an untagged version can still be deleted, and then
    the only version left cannot be deleted either (GitHub's other message)."""
    repo = new_repo()
    tagged, untagged = sample_image(f"answers-tagged-{repo}"), sample_image(f"answers-untagged-{repo}")
    expect_status(push(client, repo, "v1", tagged), 201, "API-1: setup push (tagged)")
    expect_status(push(client, repo, None, untagged), 201, "API-1: setup push (untagged)")
    path = f"{rest.package_path(repo)}/versions"
    refused = rest.call(
        "admin", "DELETE", f"{path}/{rest.version_of('admin', repo, tagged.digest, 'API-1')['id']}"
    )
    expect_github_error(refused, [400], "API-1: deleting the last tagged version answers 400")
    if refused.json().get("message") != LAST_TAGGED:
        fail("API-1: GitHub's message for the last tagged version", refused, LAST_TAGGED)
    expect_manifest(
        client.get_manifest(repo, "v1"), tagged.manifest, "API-1: the refused delete removed nothing"
    )
    untagged_id = rest.version_of("admin", repo, untagged.digest, "API-1")["id"]
    expect_rest_status(
        rest.call("admin", "DELETE", f"{path}/{untagged_id}"), [204], "API-1: an untagged version deletes"
    )
    last = rest.call(
        "admin", "DELETE", f"{path}/{rest.version_of('admin', repo, tagged.digest, 'API-1')['id']}"
    )
    expect_github_error(last, [400], "API-1: deleting the only version answers 400")
    if last.json().get("message") != LAST_VERSION:
        fail("API-1: GitHub's message for the last version", last, LAST_VERSION)
