"""Real clients against the ghcr.io model: skopeo and podman log in with a PAT, push and pull
(AUTH-1); anonymous pull of a public image works and of a private one is refused (AUTH-5/6)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from keelhaul.client.images import sample_image
from keelhaul.client.layout import write_oci_layout

from .world import World

pytestmark = pytest.mark.clients


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args[:3])}... failed: {result.stderr[-1500:]}")
    return result


def host(world: World) -> str:
    return world.url.split("//", 1)[1]


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="needs skopeo")
def test_skopeo_login_push_pull_and_anonymous_access(world: World, tmp_path: Path) -> None:
    image = sample_image("skopeo-ghcr")
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    authfile = tmp_path / "auth.json"
    target = f"docker://{host(world)}/alice/skopeo-img:v1"

    login = run(
        "skopeo",
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        "alice",
        "-p",
        world.tokens["owner"],
        host(world),
    )
    assert "Login Succeeded" in login.stdout
    refused = run(
        "skopeo",
        "login",
        "--tls-verify=false",
        "--authfile",
        str(tmp_path / "bad.json"),
        "-u",
        "alice",
        "-p",
        "khp_wrong",
        host(world),
        check=False,
    )
    assert refused.returncode != 0

    run("skopeo", "copy", "--dest-tls-verify=false", "--authfile", str(authfile), f"oci:{layout}:v1", target)
    digest = run(
        "skopeo",
        "inspect",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "--format",
        "{{.Digest}}",
        target,
    ).stdout.strip()
    assert digest == image.digest
    pulled = tmp_path / "pulled"
    run("skopeo", "copy", "--src-tls-verify=false", "--authfile", str(authfile), target, f"oci:{pulled}:v1")
    assert (pulled / "blobs" / "sha256" / image.digest.split(":")[1]).read_bytes() == image.manifest.body

    anonymous = run("skopeo", "inspect", "--tls-verify=false", "--no-creds", target, check=False)
    assert anonymous.returncode != 0  # private: refused
    world.admin.set_visibility("alice/skopeo-img", "public")
    public = run("skopeo", "inspect", "--tls-verify=false", "--no-creds", "--format", "{{.Digest}}", target)
    assert public.stdout.strip() == image.digest
    push_anonymously = run(
        "skopeo",
        "copy",
        "--dest-tls-verify=false",
        "--dest-no-creds",
        f"oci:{layout}:v1",
        f"docker://{host(world)}/alice/skopeo-img:anon",
        check=False,
    )
    assert push_anonymously.returncode != 0  # public still needs a token to publish


@pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman")
def test_podman_login_push_pull(world: World, tmp_path: Path) -> None:
    image = sample_image("podman-ghcr")
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    authfile = tmp_path / "auth.json"
    short = Path(tempfile.mkdtemp(prefix="khp-"))  # podman refuses a runroot path over 50 characters
    podman = [
        "podman",
        "--storage-driver",
        "vfs",
        "--root",
        str(short / "root"),
        "--runroot",
        str(short / "run"),
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ]
    try:
        _podman_round_trip(world, tmp_path, podman, layout, authfile, image)
    finally:
        run(*podman, "system", "reset", "--force", check=False)
        shutil.rmtree(short, ignore_errors=True)


def _podman_round_trip(
    world: World, tmp_path: Path, podman: list[str], layout: Path, authfile: Path, image
) -> None:
    reader_login = run(
        *podman,
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        "alice",
        "-p",
        world.tokens["writer"],
        host(world),
    )
    assert "Login Succeeded" in reader_login.stdout
    run(*podman, "pull", "--tls-verify=false", "--authfile", str(authfile), f"oci:{layout}:v1")
    reference = f"{host(world)}/alice/podman-img:v1"
    images = run(*podman, "images", "--format", "{{.ID}}").stdout.split()
    run(*podman, "tag", images[0], reference)
    run(*podman, "push", "--tls-verify=false", "--authfile", str(authfile), reference)
    run(*podman, "rmi", "-f", reference)
    run(*podman, "pull", "--tls-verify=false", "--authfile", str(authfile), reference)
    with world.client("reader") as client:
        assert client.get_manifest("alice/podman-img", "v1").status_code == 200

    reader_auth = tmp_path / "reader.json"
    run(
        *podman,
        "login",
        "--tls-verify=false",
        "--authfile",
        str(reader_auth),
        "-u",
        "alice",
        "-p",
        world.tokens["reader"],
        host(world),
    )
    denied = run(
        *podman,
        "push",
        "--tls-verify=false",
        "--authfile",
        str(reader_auth),
        reference,
        f"docker://{host(world)}/alice/podman-img:by-reader",
        check=False,
    )
    assert denied.returncode != 0 and "denied" in denied.stderr.lower()
