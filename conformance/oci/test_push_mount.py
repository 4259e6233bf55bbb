"""OCI §Mounting a blob from another repository (end-11): with `from`, without, and of unknown blobs."""

from __future__ import annotations

import pytest

from conformance.oci.content import missing_digest
from conformance.oci.expect import expect_blob, expect_created, expect_status, expect_upload_session
from conformance.outcomes import not_applicable


@pytest.fixture
def source_blob(client, new_repo):
    """A blob stored in a fresh source repository: (repo, data, digest)."""
    from keelhaul.client import digest_of

    repo = new_repo()
    data = f"keelhaul mount source {repo}".encode()
    client.upload_monolithic(repo, data).raise_for_status()
    return repo, data, digest_of(data)


@pytest.mark.req("OCI-PUSH-9")
def test_mount_with_from(client, new_repo, source_blob):
    """?mount=<digest>&from=<repo> answers 201 with Location /v2/<name>/blobs/<digest> (and the blob is
    pullable there), or 202 with an upload session."""
    source, data, digest = source_blob
    target = new_repo()
    response = client.mount_blob(target, digest, from_repo=source)
    status = expect_status(response, (201, 202), "OCI-PUSH-9: a mount MUST answer 201 or 202")
    if status == 202:
        expect_upload_session(response, target, "OCI-PUSH-9: a 202 to a mount MUST open an upload session")
        return
    location = expect_created(
        response,
        "OCI-PUSH-9: a successful mount MUST answer 201 with the blob's Location",
        location_path=f"/v2/{target}/blobs/{digest}",
    )
    expect_blob(client.request("GET", location), data, "OCI-PUSH-9: a mounted blob is pullable in the target")


@pytest.mark.req("OCI-PUSH-10")
@pytest.mark.parametrize("with_from", [False, True], ids=["without-from", "with-from"])
def test_mount_of_unknown_blob_opens_session(client, new_repo, source_blob, with_from):
    """A mount of a blob that exists nowhere answers 202 with an upload Location."""
    source, _, _ = source_blob
    target = new_repo()
    response = client.mount_blob(target, missing_digest("mount"), from_repo=source if with_from else None)
    expect_upload_session(
        response, target, "OCI-PUSH-10: mounting an unknown blob MUST answer 202 with a session"
    )


@pytest.mark.req("OCI-PUSH-11")
@pytest.mark.needs("automatic_crossmount")
def test_mount_without_from_automatic(client, new_repo, source_blob):
    """With automatic cross-mount declared, ?mount= without `from` of a blob held elsewhere answers 201."""
    _, data, digest = source_blob
    target = new_repo()
    response = client.mount_blob(target, digest)
    location = expect_created(
        response,
        "OCI-PUSH-11: an automatic cross-mount MUST answer 201",
        location_path=f"/v2/{target}/blobs/{digest}",
    )
    expect_blob(client.request("GET", location), data, "OCI-PUSH-11: the mounted blob is pullable")


@pytest.mark.req("OCI-PUSH-11")
def test_mount_without_from_not_automatic(client, new_repo, source_blob, target):
    """Without automatic cross-mount, ?mount= without `from` answers 202 with an upload session."""
    if target.features.automatic_crossmount:
        not_applicable("target profile declares automatic_crossmount: the 201 variant applies")
    _, _, digest = source_blob
    repo = new_repo()
    response = client.mount_blob(repo, digest)
    expect_upload_session(response, repo, "OCI-PUSH-11: without automatic cross-mount the answer MUST be 202")
