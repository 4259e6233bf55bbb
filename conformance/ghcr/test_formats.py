"""FMT-1…3 (GHCR §"Acerca del soporte"): Docker v2 schema 2 and manifest lists, OCI manifests and
indexes, accepted and served byte-exact; foreign / non-distributable layers accepted without their blob."""

from __future__ import annotations

import pytest

from conformance.ghcr.support import push
from conformance.oci.expect import expect_error, expect_manifest, expect_status
from keelhaul.client import digest_of
from keelhaul.client import media_types as mt
from keelhaul.client.images import (
    Built,
    Image,
    descriptor,
    encode_json,
    image_config,
    multi_arch_sample,
    sample_image,
)

FOREIGN_URL = "https://mcr.microsoft.com/v2/windows/servercore/blobs/"


def _expect_served(client, repo, manifest, requirement):
    for reference in ("v1", manifest.digest):
        expect_manifest(client.get_manifest(repo, reference), manifest, requirement)
        expect_manifest(client.head_manifest(repo, reference), manifest, requirement)


@pytest.mark.req("FMT-1")
@pytest.mark.parametrize("kind", ["manifest-v2s2", "manifest-list"])
def test_docker_formats_accepted_byte_exact(client, new_repo, kind):
    """FMT-1: a Docker v2 schema 2 manifest and a Docker manifest list are accepted and served byte-exact."""
    repo = new_repo()
    image = (
        sample_image(f"fmt1-{repo}", docker=True)
        if kind == "manifest-v2s2"
        else multi_arch_sample(f"fmt1-{repo}", docker=True)
    )
    answer = push(client, repo, "v1", image)
    expect_status(answer, 201, f"FMT-1: a Docker {kind} MUST be accepted")
    _expect_served(client, repo, image.manifest, f"FMT-1: a Docker {kind} is served byte-exact")


@pytest.mark.req("FMT-2")
@pytest.mark.parametrize("kind", ["image-manifest", "image-index"])
def test_oci_formats_accepted_byte_exact(client, new_repo, kind):
    """FMT-2: an OCI image manifest and an OCI image index (multi-arch) are accepted and served byte-exact."""
    repo = new_repo()
    image = sample_image(f"fmt2-{repo}") if kind == "image-manifest" else multi_arch_sample(f"fmt2-{repo}")
    answer = push(client, repo, "v1", image)
    expect_status(answer, 201, f"FMT-2: an OCI {kind} MUST be accepted")
    _expect_served(client, repo, image.manifest, f"FMT-2: an OCI {kind} is served byte-exact")


def _foreign_image(seed: str, docker: bool) -> tuple[Image, str]:
    """An image whose base layer is foreign (Docker) / non-distributable (OCI), with `urls`, whose
    blob is never uploaded; its second layer is an ordinary uploaded one."""
    foreign_bytes = f"keelhaul foreign base layer {seed}: never uploaded".encode()
    foreign = Built.of(foreign_bytes, mt.OCI_LAYER_GZIP)
    ordinary = sample_image(seed, layers=1).layers[0]
    config = image_config([ordinary], media_type=mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG)
    foreign_type = (
        mt.DOCKER_FOREIGN_LAYER_GZIP
        if docker
        else "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    )
    layers = [
        descriptor(foreign, media_type=foreign_type, urls=[FOREIGN_URL + digest_of(foreign_bytes)]),
        descriptor(ordinary, media_type=mt.DOCKER_LAYER_GZIP if docker else mt.OCI_LAYER_GZIP),
    ]
    media_type = mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST
    document = {"schemaVersion": 2, "mediaType": media_type, "config": descriptor(config), "layers": layers}
    manifest = Built.of(encode_json(document), media_type)
    return Image(manifest, (config, ordinary)), foreign.digest


@pytest.mark.req("FMT-3")
@pytest.mark.parametrize("docker", [True, False], ids=["docker-foreign", "oci-nondistributable"])
def test_foreign_layer_accepted_without_blob(client, new_repo, docker):
    """FMT-3: a manifest with a foreign / non-distributable layer (with `urls`) is accepted although
    that layer's blob was never uploaded, and served byte-exact."""
    repo = new_repo()
    image, foreign_digest = _foreign_image(f"fmt3-{repo}", docker)
    answer = push(client, repo, "v1", image)
    expect_status(answer, 201, "FMT-3: a foreign layer with urls MUST NOT need its blob uploaded")
    _expect_served(client, repo, image.manifest, "FMT-3: the manifest is served byte-exact")
    expect_error(
        client.head_blob(repo, foreign_digest),
        [404],
        None,
        "FMT-3: the registry never fetched the foreign layer: its blob is not in the repository",
    )
