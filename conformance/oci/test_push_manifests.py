"""OCI §Pushing Manifests (end-7): by tag and by digest, byte-exact storage, no layers, subject,
missing blobs, size limits, tag moves; FMT-1/FMT-2 for Docker and OCI manifest and index types."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from conformance import content
from conformance.oci.expect import (
    expect_created,
    expect_error,
    expect_manifest,
    expect_status,
    fail,
)
from conformance.oci.fixtures import push_blobs, push_image
from keelhaul.client import media_types as mt
from keelhaul.client.images import Built, Platform, descriptor


def _expect_manifest_created(response, manifest, requirement):
    location = expect_created(response, requirement)
    header = response.headers.get("docker-content-digest")
    if header is not None and header != manifest.digest:
        fail(
            f"{requirement} (Docker-Content-Digest MUST equal the digest of the bytes sent)",
            response,
            manifest.digest,
            header,
        )
    return location


@pytest.mark.req("OCI-PUSH-12", "OCI-PUSH-14", "OCI-PULL-1", "FMT-2", "PUSH-1")
def test_put_manifest_by_tags(client, new_repo):
    """PUT under four tags (`test0`…`test3`, as the official suite) answers 201 + Location each time, and
    every tag pulls the exact bytes sent (pretty-printed, with an unknown field)."""
    repo = new_repo()
    image = content.image("tags")
    push_blobs(client, repo, image)
    for tag in ("test0", "test1", "test2", "test3"):
        put = client.put_manifest(repo, tag, image.manifest.body, image.manifest.media_type)
        location = _expect_manifest_created(
            put, image.manifest, "OCI-PUSH-12: PUT manifest by tag MUST answer 201"
        )
        pulled = client.request("GET", location, headers={"Accept": mt.ALL_MANIFEST_ACCEPT})
        expect_manifest(pulled, image.manifest, "OCI-PUSH-12: the Location MUST be a pullable manifest URL")
        expect_manifest(
            client.get_manifest(repo, tag), image.manifest, "OCI-PULL-1: the tag pulls the manifest"
        )


@pytest.mark.req("PULL-4", "PUSH-1", "OCI-PULL-1")
def test_nested_names_push_and_pull(client, new_repo):
    """A three-level name (`<namespace>/<image>/release`) pushes and pulls like a flat one, with
    `latest` and a `1.14.1`-style tag."""
    repo = new_repo("release")
    image = content.image("nested")
    push_image(client, repo, image, "1.14.1")
    expect_status(
        client.put_manifest(repo, "latest", image.manifest.body, image.manifest.media_type),
        201,
        "PUSH-1: `:latest` and version tags both push (201)",
    )
    for tag in ("latest", "1.14.1"):
        expect_manifest(client.get_manifest(repo, tag), image.manifest, f"PULL-4: {repo}:{tag} pulls")


@pytest.mark.req("OCI-PUSH-13", "OCI-PULL-2", "OCI-PUSH-14")
def test_put_manifest_by_digest(client, new_repo):
    """PUT /manifests/<digest> answers 201; GET by that digest returns the same bytes."""
    repo = new_repo()
    image = content.image("by-digest")
    push_blobs(client, repo, image)
    put = client.put_manifest(repo, image.manifest.digest, image.manifest.body, image.manifest.media_type)
    _expect_manifest_created(put, image.manifest, "OCI-PUSH-13: PUT manifest by digest MUST answer 201")
    expect_manifest(
        client.get_manifest(repo, image.manifest.digest),
        image.manifest,
        "OCI-PULL-2: GET by digest MUST return the manifest",
    )


@pytest.mark.req("OCI-PUSH-15")
def test_manifest_without_layers(client, new_repo):
    """A manifest with an empty-JSON config and no layers is accepted (official: SHOULD, warning only)."""
    repo = new_repo()
    client.upload_monolithic(repo, content.EMPTY_CONFIG.body).raise_for_status()
    body = content.manifest_body(descriptor(content.EMPTY_CONFIG), [], media_type=None)
    manifest = Built.of(body, mt.OCI_MANIFEST)
    put = client.put_manifest(repo, "emptylayer", body, mt.OCI_MANIFEST)
    _expect_manifest_created(put, manifest, "OCI-PUSH-15: a manifest with no layers SHOULD be accepted (201)")
    # image-spec's schema wants at least one layer: compare bytes instead of validating the schema
    expect_manifest(
        client.get_manifest(repo, "emptylayer"), manifest, "OCI-PULL-1: it pulls back", validate=False
    )


@pytest.mark.req("OCI-PUSH-20", "PULL-3")
def test_tag_moves_on_repush(client, new_repo):
    """PUT of another manifest under an existing tag moves the tag; the old manifest stays by digest."""
    repo = new_repo()
    old = content.image("move-old")
    new = content.image("move-new")
    push_image(client, repo, old, "latest")
    push_image(client, repo, new, "latest")
    expect_manifest(
        client.get_manifest(repo, "latest"), new.manifest, "OCI-PUSH-20: the tag names the new manifest"
    )
    expect_manifest(
        client.get_manifest(repo, old.manifest.digest),
        old.manifest,
        "OCI-PUSH-20: the old manifest is still pullable by digest",
    )


@pytest.mark.req("OCI-PUSH-17")
def test_manifest_with_missing_blobs(client, new_repo):
    """A manifest naming blobs the repository lacks is accepted or refused with MANIFEST_BLOB_UNKNOWN."""
    repo = new_repo()
    image = content.image("missing-blobs")
    put = client.put_manifest(repo, "dangling", image.manifest.body, image.manifest.media_type)
    if put.status_code == 201:
        expect_manifest(
            client.get_manifest(repo, "dangling"), image.manifest, "OCI-PUSH-17: accepted means stored"
        )
        return
    expect_error(
        put,
        [400, 404],
        {"MANIFEST_BLOB_UNKNOWN"},
        "OCI-PUSH-17: a manifest refused for missing blobs MUST carry MANIFEST_BLOB_UNKNOWN",
    )


@pytest.mark.req("OCI-PUSH-16")
def test_subject_may_not_exist_yet(client, new_repo):
    """A manifest whose subject was never pushed is accepted (201) and pullable. (The OCI-Subject
    answer is checked with the referrers, test_discovery_referrers.py.)"""
    repo = new_repo()
    subject = content.image("absent-subject").manifest
    referrer = content.artifact("orphan", subject, artifact_type="application/vnd.keelhaul.orphan")
    push_blobs(client, repo, referrer)
    put = client.put_manifest(
        repo, referrer.manifest.digest, referrer.manifest.body, referrer.manifest.media_type
    )
    _expect_manifest_created(
        put, referrer.manifest, "OCI-PUSH-16: a manifest with a missing subject MUST be accepted"
    )
    expect_manifest(
        client.get_manifest(repo, referrer.manifest.digest),
        referrer.manifest,
        "OCI-PUSH-16: the accepted referrer pulls back byte for byte",
    )


@pytest.mark.req("FMT-1", "OCI-PUSH-14")
def test_docker_manifest_and_list(client, new_repo):
    """Docker v2 schema 2 manifests and manifest lists are accepted and served byte-exact with their type."""
    repo = new_repo()
    image = content.image("docker", media_type=mt.DOCKER_MANIFEST)
    push_image(client, repo, image, "v2s2")
    expect_manifest(client.get_manifest(repo, "v2s2"), image.manifest, "FMT-1: Docker v2s2 served byte-exact")
    listing = content.index_body(
        [descriptor(image.manifest, platform=Platform("linux", "amd64"))],
        media_type=mt.DOCKER_MANIFEST_LIST,
    )
    put = client.put_manifest(repo, "list", listing.body, listing.media_type)
    _expect_manifest_created(put, listing, "FMT-1: a Docker manifest list MUST be accepted")
    expect_manifest(
        client.get_manifest(repo, "list"),
        listing,
        "FMT-1: Docker manifest list served byte-exact",
        validate=False,
    )


@pytest.mark.req("FMT-3")
@pytest.mark.parametrize(
    ("manifest_type", "config_type", "layer_type"),
    [
        (mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, mt.DOCKER_FOREIGN_LAYER_GZIP),
        (mt.OCI_MANIFEST, mt.OCI_CONFIG, mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP),
    ],
    ids=["docker-foreign", "oci-nondistributable"],
)
def test_foreign_layer_need_not_be_uploaded(client, new_repo, manifest_type, config_type, layer_type):
    """A manifest whose (Windows-style) foreign / non-distributable layer carries `urls` is accepted
    without that blob having been pushed, and pulls back byte for byte."""
    repo = new_repo()
    config = replace(content.config("foreign"), media_type=config_type)
    client.upload_monolithic(repo, config.body).raise_for_status()
    foreign = {
        "mediaType": layer_type,
        "digest": content.missing_digest("foreign-layer"),
        "size": 1048576,
        "urls": [
            "https://mcr.microsoft.com/v2/windows/servercore/blobs/" + content.missing_digest("foreign-layer")
        ],
    }
    body = content.manifest_body(descriptor(config), [foreign], media_type=manifest_type)
    manifest = Built.of(body, manifest_type)
    put = client.put_manifest(repo, "foreign", body, manifest_type)
    _expect_manifest_created(
        put, manifest, "FMT-3: a manifest with a foreign layer (with urls) MUST be accepted"
    )
    expect_manifest(client.get_manifest(repo, "foreign"), manifest, "FMT-3: it is served byte-exact")


@pytest.mark.req("FMT-2", "OCI-PUSH-14")
def test_oci_index(client, new_repo):
    """An OCI image index over two platform manifests is accepted and served byte-exact."""
    repo = new_repo()
    amd64 = content.image("index-amd64")
    arm64 = content.image("index-arm64")
    push_image(client, repo, amd64)
    push_image(client, repo, arm64)
    index = content.index_body(
        [
            descriptor(amd64.manifest, platform=Platform("linux", "amd64")),
            descriptor(arm64.manifest, platform=Platform("linux", "arm64")),
        ],
        annotations={"org.opencontainers.image.description": "keelhaul multi-arch"},
    )
    put = client.put_manifest(repo, "multi", index.body, index.media_type)
    _expect_manifest_created(put, index, "FMT-2: an OCI image index MUST be accepted")
    expect_manifest(client.get_manifest(repo, "multi"), index, "FMT-2: the index is served byte-exact")


@pytest.mark.req("OCI-PUSH-18", "LIM-3")
@pytest.mark.needs(limit="max_manifest_bytes")
def test_manifest_size_limit(client, new_repo, target):
    """A manifest of 4 MB (or the declared limit if lower… never below 4 MB) is accepted; one just over
    the declared limit is refused with 413 (or MANIFEST_INVALID)."""
    repo = new_repo()
    client.upload_monolithic(repo, content.EMPTY_CONFIG.body).raise_for_status()
    limit = target.limits.max_manifest_bytes

    def padded(size: int) -> bytes:
        base = json.loads(
            content.manifest_body(descriptor(content.EMPTY_CONFIG), [], media_type=mt.OCI_MANIFEST)
        )
        base["annotations"] = {content.PADDING_KEY: ""}
        return content.padded_to(json.dumps(base).encode(), size, b"x")

    at_limit = padded(min(limit, 4 * 1000 * 1000))
    put = client.put_manifest(repo, "big", at_limit, mt.OCI_MANIFEST)
    expect_status(
        put,
        201,
        f"OCI-PUSH-18: a {len(at_limit)}-byte manifest (≤ 4 MB, ≤ the declared limit) SHOULD be accepted",
    )
    over = padded(limit + 1)
    refused = client.put_manifest(repo, "too-big", over, mt.OCI_MANIFEST)
    expect_error(
        refused,
        [413, 400],
        {"MANIFEST_INVALID", "SIZE_INVALID"},
        f"LIM-3: a manifest over the declared {limit}-byte limit is refused with 413 or MANIFEST_INVALID",
    )
