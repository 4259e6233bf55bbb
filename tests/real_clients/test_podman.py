"""podman (and buildah) push to and pull from the reference server (issue 2 acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keelhaul.client import media_types as mt
from keelhaul.client.images import build_image, push_image

pytestmark = pytest.mark.clients


def test_podman_pulls_and_pushes(podman, client, registry_host, repo, tmp_path: Path):
    labels = {
        "org.opencontainers.image.description": "podman round trip",
        "org.opencontainers.image.licenses": "MIT",
    }
    image = build_image(
        [{"etc/hello.txt": b"hello\n"}, {"opt/app/data.bin": bytes(range(256)) * 16}], labels=labels
    )
    push_image(client, repo, "v1", image)

    source = f"{registry_host}/{repo}:v1"
    podman("pull", "--tls-verify=false", source)
    inspected = json.loads(podman("image", "inspect", source))[0]
    assert inspected["Labels"] == labels
    assert inspected["RootFS"]["Layers"] == [layer.diff_id for layer in image.layers]

    pushed = f"{registry_host}/{repo}-podman:v1"
    digest_file = tmp_path / "digest"
    podman("tag", source, pushed)
    podman("push", "--tls-verify=false", "--digestfile", str(digest_file), pushed)
    digest = digest_file.read_text().strip()
    stored = client.get_manifest(f"{repo}-podman", "v1")
    assert stored.status_code == 200
    assert stored.headers["docker-content-digest"] == digest
    manifest = stored.json()
    config = client.get_blob(f"{repo}-podman", manifest["config"]["digest"]).json()
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in image.layers]
    for layer in manifest["layers"]:
        assert client.head_blob(f"{repo}-podman", layer["digest"]).status_code == 200

    # pull back by digest into empty storage
    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", f"{registry_host}/{repo}-podman@{digest}")
    again = json.loads(podman("image", "inspect", f"{registry_host}/{repo}-podman@{digest}"))[0]
    assert again["Labels"] == labels


def test_podman_pushes_docker_format(podman, client, registry_host, repo):
    image = build_image([{"f.txt": b"f"}])
    push_image(client, repo, "oci", image)
    podman("pull", "--tls-verify=false", f"{registry_host}/{repo}:oci")
    podman(
        "push",
        "--tls-verify=false",
        "--format",
        "v2s2",
        f"{registry_host}/{repo}:oci",
        f"docker://{registry_host}/{repo}:v2s2",
    )
    stored = client.get_manifest(repo, "v2s2")
    assert stored.status_code == 200
    assert stored.headers["content-type"] == mt.DOCKER_MANIFEST == stored.json()["mediaType"]


def test_buildah_builds_from_scratch_and_pushes(buildah, client, registry_host, repo, tmp_path: Path):
    (tmp_path / "hello.txt").write_text("built by buildah\n")
    container = buildah("from", "scratch").strip()
    buildah("copy", container, str(tmp_path / "hello.txt"), "/hello.txt")
    buildah("config", "--label", "org.opencontainers.image.source=https://example.com/repo", container)
    buildah("commit", "--format", "oci", container, f"{repo}:v1")
    digest_file = tmp_path / "digest"
    buildah(
        "push",
        "--tls-verify=false",
        "--digestfile",
        str(digest_file),
        f"{repo}:v1",
        f"docker://{registry_host}/{repo}:v1",
    )
    stored = client.get_manifest(repo, "v1")
    assert stored.headers["docker-content-digest"] == digest_file.read_text().strip()
    config = client.get_blob(repo, stored.json()["config"]["digest"]).json()
    assert config["config"]["Labels"]["org.opencontainers.image.source"] == "https://example.com/repo"
    buildah("rmi", "--all", "--force")
    buildah("pull", "--tls-verify=false", f"docker://{registry_host}/{repo}:v1")
