"""The seeded defects themselves: never in the shipped server (no flag, no config field), unknown
names refused, every defect injectable into the current core through create_app's test hook (its
patch points exist), every requirement ID real, at least 25 defects."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from reference_server.access import OpenAccess
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer
from reference_server.ghcr import build_policy
from reference_server.http.app import REGISTRY_KEY, AppParts, create_app
from tests.support.defects import DEFECTS, DefectWiringError, UnknownDefect, apply_defect, defect_hook

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "tests" / "support" / "defective_server.py"
REQUIREMENT_IDS = {
    entry["id"]
    for entry in tomllib.loads((ROOT / "conformance" / "requirements.toml").read_text())["requirement"]
}


def test_at_least_25_defects_each_with_real_requirement_ids() -> None:
    assert len(DEFECTS) >= 25
    for defect in DEFECTS.values():
        assert defect.requirements, defect.name
        unknown = set(defect.requirements) - REQUIREMENT_IDS
        assert not unknown, f"{defect.name}: {unknown} not in conformance/requirements.toml"
        assert defect.modelled_on and defect.summary


def test_the_shipped_server_has_no_defect_switch() -> None:
    assert "defect" not in {f.name for f in dataclasses.fields(ServerConfig)}
    assert not any("defect" in arg for arg in ServerConfig().to_cli_args())
    help_text = subprocess.run(
        [sys.executable, "-m", "keelhaul", "serve", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "--listen" in help_text and "defect" not in help_text


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_every_defect_injects_into_the_current_core(name: str, tmp_path: Path) -> None:
    """Every patch point of every defect exists in today's core (else DefectWiringError) and the
    injection changes something in that one app."""
    defect = DEFECTS[name]
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=defect.needs_auth)
    policy = build_policy(config) if defect.needs_auth else OpenAccess()
    seen: list[list[str]] = []
    app = create_app(config, policy, hooks=[lambda parts: seen.append(apply_defect(name, parts))])
    try:
        assert seen and seen[0], f"{name}: nothing was injected"
    finally:
        app[REGISTRY_KEY].close()


def test_auth_defect_refused_without_the_ghcr_policy(tmp_path: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    with pytest.raises(DefectWiringError, match=r"ghcr\.io policy"):
        create_app(config, OpenAccess(), hooks=[defect_hook("reader-can-push")])


def test_unknown_defect_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownDefect, match="unknown defect 'nope'"):
        defect_hook("nope")
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    with pytest.raises(UnknownDefect):
        create_app(config, OpenAccess(), hooks=[lambda parts: apply_defect("nope", parts)])


def test_launcher_refuses_bad_names_in_one_line(tmp_path: Path) -> None:
    for args, expected in (
        (["nope"], "unknown defect 'nope'"),
        (["reader-can-push", "--no-auth"], "needs the ghcr.io model"),
    ):
        result = subprocess.run(
            [sys.executable, str(LAUNCHER), *args, "--listen", "127.0.0.1:0", "--data", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], result.stderr


def test_launcher_serves_a_defective_server(tmp_path: Path) -> None:
    """The subprocess way: `ignore-range` really serves the whole blob, and the log shouts."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(LAUNCHER),
            "ignore-range",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--data",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("keelhaul serve: listening on "), line
        url = line.split()[4]
        _assert_whole_blob_served(url)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "DEFECTIVE SERVER" in stderr


def test_defective_embedded_server_says_so_and_misbehaves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The in-process way, next to a clean server in the same process."""
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    clean_config = ServerConfig(listen_port=0, data_dir=tmp_path / "clean", auth=False)
    with (
        caplog.at_level("WARNING"),
        EmbeddedServer(config, hooks=[defect_hook("ignore-range")]) as server,
        EmbeddedServer(clean_config) as clean,
    ):
        assert server.url and clean.url
        _assert_whole_blob_served(server.url)
        digest = _push_hello(clean.url)
        ranged = httpx.get(f"{clean.url}/v2/a/b/blobs/{digest}", headers={"Range": "bytes=0-3"})
        assert (ranged.status_code, ranged.content) == (206, b"hell")
    assert any("DEFECTIVE SERVER" in record.getMessage() for record in caplog.records)


def _push_hello(url: str) -> str:
    digest = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    pushed = httpx.post(f"{url}/v2/a/b/blobs/uploads/?digest={digest}", content=b"hello world")
    assert pushed.status_code == 201
    return digest


def _assert_whole_blob_served(url: str) -> None:
    digest = _push_hello(url)
    ranged = httpx.get(f"{url}/v2/a/b/blobs/{digest}", headers={"Range": "bytes=0-3"})
    assert (ranged.status_code, ranged.content) == (200, b"hello world")


def test_app_parts_name_what_a_hook_may_change(tmp_path: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    policy = OpenAccess()
    seen: list[AppParts] = []
    app = create_app(config, policy, hooks=[seen.append])
    try:
        (parts,) = seen
        assert parts.app is app and parts.policy is policy
    finally:
        parts.registry.close()
