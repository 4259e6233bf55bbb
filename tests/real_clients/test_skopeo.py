"""skopeo copies images into and out of the reference server byte-exact (issue 2 acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keelhaul.client import media_types as mt
from keelhaul.client.images import build_image, multi_arch_sample, push_image
from keelhaul.client.layout import (
    layout_manifest,
    read_blob,
    read_dir_image,
    write_dir_image,
    write_oci_layout,
)

pytestmark = pytest.mark.clients


def test_oci_multi_layer_image_in_and_out(skopeo, client, registry_host, repo, tmp_path: Path):
    image = build_image(
        [
            {"etc/one.txt": b"one\n"},
            {"usr/share/two.txt": b"two\n" * 100},
            {"three/3.bin": bytes(range(256))},
        ],
        labels={"org.opencontainers.image.description": "skopeo round trip"},
    )
    source = write_oci_layout(tmp_path / "src", {"v1": image})
    skopeo("copy", "--dest-tls-verify=false", f"oci:{source}:v1", f"docker://{registry_host}/{repo}:v1")

    stored = client.get_manifest(repo, "v1")
    assert stored.status_code == 200
    assert stored.content == image.manifest.body, "the registry must keep the manifest byte for byte"
    assert stored.headers["docker-content-digest"] == image.digest
    assert stored.headers["content-type"] == mt.OCI_MANIFEST
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry_host}/{repo}:v1")
    assert raw.encode() == image.manifest.body

    out = tmp_path / "out"
    skopeo(
        "copy", "--src-tls-verify=false", f"docker://{registry_host}/{repo}@{image.digest}", f"oci:{out}:v1"
    )
    pulled = layout_manifest(out, "v1")
    assert pulled.digest == image.digest
    for blob in image.blobs:
        assert read_blob(out, blob.digest) == blob.body


def test_docker_format_image_in_and_out(skopeo, client, registry_host, repo, tmp_path: Path):
    image = build_image([{"a.txt": b"a"}, {"b/b.txt": b"b" * 5000}], docker=True)
    source = write_dir_image(tmp_path / "src", image)
    skopeo("copy", "--dest-tls-verify=false", f"dir:{source}", f"docker://{registry_host}/{repo}:docker")

    stored = client.get_manifest(repo, "docker")
    assert stored.content == image.manifest.body
    assert stored.headers["content-type"] == mt.DOCKER_MANIFEST
    assert stored.headers["docker-content-digest"] == image.digest

    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{registry_host}/{repo}:docker", f"dir:{out}")
    manifest, blobs = read_dir_image(out)
    assert manifest.digest == image.digest
    assert blobs == {blob.digest: blob.body for blob in image.blobs}


def test_multi_arch_oci_index_round_trips(skopeo, client, registry_host, repo, tmp_path: Path):
    index = multi_arch_sample(repo)
    source = write_oci_layout(tmp_path / "src", {"multi": index})
    skopeo(
        "copy",
        "--all",
        "--dest-tls-verify=false",
        f"oci:{source}:multi",
        f"docker://{registry_host}/{repo}:multi",
    )

    stored = client.get_manifest(repo, "multi")
    assert stored.content == index.manifest.body
    assert stored.headers["content-type"] == mt.OCI_INDEX
    for child in index.children:
        assert client.get_manifest(repo, child.digest).content == child.manifest.body

    out = tmp_path / "out"
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        f"docker://{registry_host}/{repo}:multi",
        f"oci:{out}:multi",
    )
    assert layout_manifest(out, "multi").digest == index.digest
    for child in index.children:
        assert read_blob(out, child.digest) == child.manifest.body
        for blob in child.blobs:
            assert read_blob(out, blob.digest) == blob.body


def test_docker_manifest_list_copies_between_repositories(skopeo, client, registry_host, repo):
    listing = multi_arch_sample(repo, docker=True)
    push_image(client, repo, "list", listing)
    target = f"{repo}-copy"
    skopeo(
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{registry_host}/{repo}:list",
        f"docker://{registry_host}/{target}:list",
    )
    copied = client.get_manifest(target, "list")
    assert copied.content == listing.manifest.body
    assert copied.headers["content-type"] == mt.DOCKER_MANIFEST_LIST
    # one platform, chosen by skopeo from the list
    arm = next(
        c
        for c, m in zip(listing.children, listing.manifest.json()["manifests"], strict=True)
        if m["platform"]["architecture"] == "arm64"
    )
    raw = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        f"docker://{registry_host}/{target}:list",
    )
    assert json.loads(raw)["mediaType"] == mt.DOCKER_MANIFEST_LIST
    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--override-arch",
        "arm64",
        "--override-variant",
        "v8",
        f"docker://{registry_host}/{target}:list",
        f"docker://{registry_host}/{target}:arm64",
    )
    assert client.get_manifest(target, "arm64").content == arm.manifest.body


def test_tags_listed_and_deleted_through_skopeo(skopeo, client, registry_host, repo):
    image = build_image([{"x": b"x"}])
    for tag in ("b", "a", "c"):
        push_image(client, repo, tag, image)
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{registry_host}/{repo}"))
    assert sorted(tags["Tags"]) == ["a", "b", "c"]
    skopeo("delete", "--tls-verify=false", f"docker://{registry_host}/{repo}@{image.digest}")
    assert client.get_manifest(repo, image.digest).status_code == 404
