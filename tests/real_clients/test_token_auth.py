"""skopeo and podman through the reference server's token service (`keelhaul serve` with auth):
a write PAT pushes, a read PAT pulls but cannot push, anonymous callers cannot read a private image."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from keelhaul.client import Credentials, RegistryClient
from keelhaul.client.images import sample_image
from keelhaul.client.layout import layout_manifest, write_oci_layout

from .commands import COMMAND_TIMEOUT, shown

pytestmark = pytest.mark.clients


def refused(command: tuple[str, ...]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert result.returncode != 0, f"{shown(command)} should have been refused"
    return result.stderr


def test_skopeo_with_pats(skopeo, auth_server, tmp_path: Path):
    url, tokens = auth_server
    host = url.split("://", 1)[1]
    image = sample_image("skopeo-auth", layers=2)
    source = write_oci_layout(tmp_path / "src", {"v1": image})
    skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"alice:{tokens['writer']}",
        f"oci:{source}:v1",
        f"docker://{host}/alice/skopeo:v1",
    )
    with RegistryClient(url, credentials=Credentials("alice", tokens["reader"])) as reader:
        assert reader.get_manifest("alice/skopeo", "v1").content == image.manifest.body

    skopeo(
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"alice:{tokens['reader']}",
        f"docker://{host}/alice/skopeo:v1",
        f"oci:{tmp_path / 'out'}:v1",
    )
    assert layout_manifest(tmp_path / "out", "v1").digest == image.digest

    stderr = refused(
        (
            "skopeo",
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"alice:{tokens['reader']}",
            f"oci:{source}:v1",
            f"docker://{host}/alice/skopeo:v2",
        )
    )
    assert "denied" in stderr or "unauthorized" in stderr
    stderr = refused(
        (
            "skopeo",
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{host}/alice/skopeo:v1",
        )
    )
    assert "denied" in stderr or "unauthorized" in stderr


def test_podman_with_pats(podman, auth_server, tmp_path: Path):
    url, tokens = auth_server
    host = url.split("://", 1)[1]
    image = sample_image("podman-auth")
    source = write_oci_layout(tmp_path / "src", {"v1": image})
    image_id = podman("pull", "-q", f"oci:{source}:v1").strip().splitlines()[-1]
    podman("tag", image_id, f"{host}/alice/podman:v1")
    podman("push", "--tls-verify=false", "--creds", f"alice:{tokens['writer']}", f"{host}/alice/podman:v1")
    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", "--creds", f"alice:{tokens['reader']}", f"{host}/alice/podman:v1")
    with RegistryClient(url, credentials=Credentials("alice", tokens["reader"])) as reader:
        assert reader.get_manifest("alice/podman", "v1").status_code == 200
