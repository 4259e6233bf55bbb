"""The CI acceptance run: `keelhaul load --smoke` (embedded reference server, a master and two workers
on loopback, chunked uploads until a byte budget, every committed digest verified) must exit 0.

The quick variant runs the same distributed path with small layers on every test run; the full one
(>= 2 GiB, marked slow) is what CI runs as the acceptance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def smoke(tmp_path: Path, *extra: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], dict]:
    command = [
        sys.executable,
        "-m",
        "keelhaul",
        "load",
        "--smoke",
        "--report-dir",
        str(tmp_path),
        "--run-id",
        "smoke",
        *extra,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    summary_path = tmp_path / "smoke" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return completed, summary


def test_quick_distributed_smoke(tmp_path: Path) -> None:
    completed, summary = smoke(
        tmp_path, "--layer-size", "4MiB", "--chunk-size", "1MiB", "--stop-after", "24MiB", timeout=240
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "keelhaul load --smoke: OK" in completed.stdout
    assert summary["target"]["runner"] == "distributed" and summary["failures"] == 0
    verification = summary["verification"]
    assert verification["ok"] and verification["bytes_verified"] >= 24 << 20
    # every upload a worker committed reached the master (one UPLOAD event per committed upload)
    assert (
        summary["requests"]["UPLOAD chunked layer 4MiB in 1MiB chunks"]["count"]
        == summary["uploads"]["count"]
    )
    assert summary["requests"]["POST blob upload start"]["count"] == summary["uploads"]["count"]


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("KEELHAUL_LOAD_SMOKE"),
    reason="the 2 GiB acceptance run: set KEELHAUL_LOAD_SMOKE=1 (or run `keelhaul load --smoke`)",
)
def test_full_smoke_two_gib(tmp_path: Path) -> None:
    completed, summary = smoke(tmp_path, timeout=1500)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert summary["verification"]["bytes_verified"] >= 2 << 30 and summary["failures"] == 0
