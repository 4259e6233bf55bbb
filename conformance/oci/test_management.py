"""OCI §Content Management (end-9, end-10): deleting tags, manifests and blobs, and the answers of a
registry where deletion is disabled. A profile that declares a delete feature must answer 202; one
that declares it absent must refuse with 400 or 405 (the spec names no error code), and the content
stays. Deletes are sent by the profile's admin (else deleter) role: on ghcr.io only a package admin
with delete:packages may delete, and the writer's lack of that right is an AUTH check, not an OCI one."""

from __future__ import annotations

import pytest

from conformance.oci import content
from conformance.oci.expect import (
    expect_blob,
    expect_error,
    expect_manifest,
    expect_status,
    expect_tag_list,
    fail,
)
from conformance.oci.fixtures import push_image
from keelhaul.client import digest_of

DISABLED = "deletion is disabled: the registry MUST answer 400 or 405 (any error code)"


@pytest.mark.req("OCI-MGMT-1")
@pytest.mark.needs("tag_delete")
def test_delete_tag(client, deleting_client, new_repo):
    """DELETE /manifests/<tag> answers 202 and removes only that tag; the manifest and its other tags
    stay."""
    repo, image = new_repo(), content.image("delete-tag")
    push_image(client, repo, image, "keep")
    expect_status(
        client.put_manifest(repo, "drop", image.manifest.body, image.manifest.media_type),
        201,
        "OCI-PUSH-12: PUT manifest by tag MUST answer 201",
    )
    expect_status(
        deleting_client.delete_manifest(repo, "drop"), 202, "OCI-MGMT-1: DELETE of a tag MUST answer 202"
    )
    expect_error(client.get_manifest(repo, "drop"), [404], None, "OCI-MGMT-1: a deleted tag MUST answer 404")
    expect_manifest(client.get_manifest(repo, "keep"), image.manifest, "OCI-MGMT-1: other tags stay")
    expect_manifest(
        client.get_manifest(repo, image.manifest.digest), image.manifest, "OCI-MGMT-1: the manifest stays"
    )
    tags = expect_tag_list(client.list_tags(repo), repo, "OCI-DISC-1: tags/list MUST answer 200")
    if tags != ["keep"]:
        fail("OCI-MGMT-1: the tag list no longer shows a deleted tag", None, "['keep']", repr(tags))


@pytest.mark.req("OCI-MGMT-6")
@pytest.mark.lacks("tag_delete")
def test_disabled_tag_delete_is_refused(client, deleting_client, new_repo):
    """Where tag deletion is disabled, DELETE /manifests/<tag> answers 400 or 405, whatever the error
    code, and the tag stays."""
    repo, image = new_repo(), content.image("delete-tag-disabled")
    push_image(client, repo, image, "stays")
    response = deleting_client.delete_manifest(repo, "stays")
    expect_error(response, [400, 405], None, f"OCI-MGMT-6: where tag {DISABLED}")
    expect_manifest(client.get_manifest(repo, "stays"), image.manifest, "OCI-MGMT-6: the tag stays")


@pytest.mark.req("OCI-MGMT-2")
@pytest.mark.needs("manifest_delete")
def test_delete_manifest_removes_its_tags(client, deleting_client, new_repo):
    """DELETE /manifests/<digest> answers 202; the digest and every tag on it answer 404 and leave the
    tag list, while another manifest's tag stays."""
    repo = new_repo()
    doomed, other = content.image("delete-manifest"), content.image("delete-manifest-other")
    push_image(client, repo, doomed, "doomed-1")
    expect_status(
        client.put_manifest(repo, "doomed-2", doomed.manifest.body, doomed.manifest.media_type),
        201,
        "OCI-PUSH-12: PUT manifest by tag MUST answer 201",
    )
    push_image(client, repo, other, "survivor")
    expect_status(
        deleting_client.delete_manifest(repo, doomed.manifest.digest),
        202,
        "OCI-MGMT-2: DELETE of a manifest by digest MUST answer 202",
    )
    for reference in (doomed.manifest.digest, "doomed-1", "doomed-2"):
        expect_error(
            client.get_manifest(repo, reference),
            [404],
            None,
            "OCI-MGMT-2: a deleted manifest, and any tag on it, MUST answer 404",
        )
    tags = expect_tag_list(client.list_tags(repo), repo, "OCI-MGMT-2: tags/list MUST answer 200")
    if tags != ["survivor"]:
        fail("OCI-MGMT-2: the tag list reflects the deletion", None, "['survivor']", repr(tags))
    expect_manifest(client.get_manifest(repo, "survivor"), other.manifest, "OCI-MGMT-2: other manifests stay")


@pytest.mark.req("OCI-MGMT-3")
@pytest.mark.needs("blob_delete")
def test_delete_blob(client, deleting_client, new_repo):
    """DELETE /blobs/<digest> answers 202; the blob then answers 404 while other blobs stay."""
    repo = new_repo()
    doomed, kept = b"keelhaul blob to delete", b"keelhaul blob to keep"
    digest = client.upload_monolithic(repo, doomed).raise_for_status().digest
    client.upload_monolithic(repo, kept).raise_for_status()
    expect_status(
        deleting_client.delete_blob(repo, digest), 202, "OCI-MGMT-3: DELETE of a blob MUST answer 202"
    )
    expect_error(
        client.get_blob(repo, digest), [404], {"BLOB_UNKNOWN"}, "OCI-MGMT-3: a deleted blob MUST answer 404"
    )
    expect_blob(client.get_blob(repo, digest_of(kept)), kept, "OCI-MGMT-3: other blobs stay")


@pytest.mark.req("OCI-MGMT-4")
def test_delete_unknown_content_is_404(client, deleting_client, new_repo, target):
    """DELETE of a blob or manifest digest the repository lacks, or of a manifest in a repository that
    does not exist, answers 404 (or, where that kind of deletion is disabled, 400 / 405)."""
    repo, never_created = new_repo(), new_repo()
    push_image(client, repo, content.image("delete-unknown"), "present")
    cases = (
        (
            deleting_client.delete_blob(repo, content.missing_digest("delete-blob")),
            target.features.blob_delete,
            "BLOB_UNKNOWN",
        ),
        (
            deleting_client.delete_manifest(repo, content.missing_digest("delete-manifest")),
            target.features.manifest_delete,
            "MANIFEST_UNKNOWN",
        ),
        (
            deleting_client.delete_manifest(never_created, content.missing_digest("delete-no-repo")),
            target.features.manifest_delete,
            "NAME_UNKNOWN",
        ),
    )
    for response, declared, code in cases:
        expect_error(
            response,
            [404] if declared else [404, 400, 405],
            {code, "MANIFEST_UNKNOWN", "NAME_UNKNOWN"} if declared else None,
            "OCI-MGMT-4: deleting what the repository lacks MUST answer 404",
        )


@pytest.mark.req("OCI-MGMT-5")
@pytest.mark.lacks("manifest_delete")
def test_disabled_manifest_delete_is_refused(client, deleting_client, new_repo):
    """Where manifest deletion is disabled, DELETE /manifests/<digest> answers 400 or 405, whatever the
    error code, and the manifest stays."""
    repo, image = new_repo(), content.image("delete-disabled")
    push_image(client, repo, image, "stays")
    response = deleting_client.delete_manifest(repo, image.manifest.digest)
    expect_error(response, [400, 405], None, f"OCI-MGMT-5: where manifest {DISABLED}")
    expect_manifest(client.get_manifest(repo, "stays"), image.manifest, "OCI-MGMT-5: the manifest stays")


@pytest.mark.req("OCI-MGMT-7")
@pytest.mark.lacks("blob_delete")
def test_disabled_blob_delete_is_refused(client, deleting_client, new_repo):
    """Where blob deletion is disabled, DELETE /blobs/<digest> answers 400 or 405, whatever the error
    code, and the blob stays."""
    repo, image = new_repo(), content.image("delete-blob-disabled")
    push_image(client, repo, image, "stays")
    response = deleting_client.delete_blob(repo, image.config.digest)
    expect_error(response, [400, 405], None, f"OCI-MGMT-7: where blob {DISABLED}")
    expect_blob(client.get_blob(repo, image.config.digest), image.config, "OCI-MGMT-7: the blob stays")
