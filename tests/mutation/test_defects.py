"""The seeded-defect switch itself: never on by default, unknown names refused, every defect injectable
into the current core (its patch points exist), every requirement ID real, at least 25 defects."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from reference_server.access import OpenAccess
from reference_server.app import REGISTRY_KEY, create_app
from reference_server.config import ServerConfig
from reference_server.defects import DEFECTS, DefectWiringError, UnknownDefect, apply_defect
from reference_server.embedded import EmbeddedServer
from reference_server.ghcr import build_policy

ROOT = Path(__file__).resolve().parents[2]
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


def test_no_defect_by_default() -> None:
    assert ServerConfig().defect is None
    assert "--inject-defect" not in ServerConfig().to_cli_args()
    args = ServerConfig(defect="ignore-range").to_cli_args()  # ServerProcess passes it on
    assert args[args.index("--inject-defect") + 1] == "ignore-range"


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_every_defect_injects_into_the_current_core(name: str, tmp_path: Path) -> None:
    """Every patch point of every defect exists in today's core (else DefectWiringError) and the
    injection changes something in that one app."""
    defect = DEFECTS[name]
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=defect.needs_auth)
    policy = build_policy(config) if defect.needs_auth else OpenAccess()
    app = create_app(config, policy)
    registry = app[REGISTRY_KEY]
    try:
        changes = apply_defect(name, app, registry)
        assert changes, f"{name}: nothing was injected"
    finally:
        registry.close()


def test_auth_defect_refused_without_the_ghcr_policy(tmp_path: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False, defect="reader-can-push")
    with pytest.raises(DefectWiringError, match=r"ghcr\.io policy"):
        create_app(config, OpenAccess())


def test_unknown_defect_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownDefect, match="unknown defect 'nope'"):
        apply_defect("nope", None, None)
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False, defect="nope")
    with pytest.raises(UnknownDefect):
        create_app(config, OpenAccess())


def test_serve_cli_refuses_unknown_names_in_one_line(tmp_path: Path) -> None:
    for args, expected in (
        (["--inject-defect", "nope"], "unknown defect 'nope'"),
        (["--no-auth", "--inject-defect", "reader-can-push"], "needs the ghcr.io model"),
    ):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "keelhaul",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data",
                str(tmp_path),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], result.stderr


def test_defective_server_says_so_and_misbehaves(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One end-to-end example: `ignore-range` really serves the whole blob, and the log shouts."""
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False, defect="ignore-range")
    with caplog.at_level("WARNING"), EmbeddedServer(config) as server:
        http = httpx.Client(base_url=server.url)
        digest = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        assert http.post(f"/v2/a/b/blobs/uploads/?digest={digest}", content=b"hello world").status_code == 201
        ranged = http.get(f"/v2/a/b/blobs/{digest}", headers={"Range": "bytes=0-3"})
        assert (ranged.status_code, ranged.content) == (200, b"hello world")
    assert any("DEFECTIVE SERVER" in record.getMessage() for record in caplog.records)
