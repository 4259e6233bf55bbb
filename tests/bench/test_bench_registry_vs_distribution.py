"""Smoke test of bench/registry_vs_distribution.py: with tiny sizes, the script starts both registries,
drives every phase with curl and wrk, and writes a figure for each server and metric. The speed targets
themselves are judged by the full benchmark only, never here."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "registry_vs_distribution.py"
METRICS = ("push_monolithic", "push_chunked", "pull", "manifest_get", "peak_rss")


def _load_script():
    spec = importlib.util.spec_from_file_location("registry_vs_distribution", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    return module


bench = _load_script()


@pytest.mark.parametrize(
    ("text", "size"),
    [("1GiB", 1024**3), ("16MiB", 16 * 1024**2), ("512KiB", 512 * 1024), ("1GB", 10**9), ("1000", 1000)],
)
def test_sizes_are_read_in_binary_and_decimal_units(text: str, size: int) -> None:
    assert bench.parse_size(text) == size


def test_ratio_targets_pass_only_at_the_ratio_and_the_rss_target_is_absolute() -> None:
    push = next(target for target in bench.TARGETS if target.metric == "push_monolithic")
    assert push.verdict({"distribution": 100.0, "keelhaul": 200.0}) == "PASS"
    assert push.verdict({"distribution": 100.0, "keelhaul": 199.0}) == "MISS"
    assert push.verdict({"distribution": None, "keelhaul": 199.0}) == "n/a"
    rss = next(target for target in bench.TARGETS if target.metric == "peak_rss")
    assert rss.verdict({"distribution": 10.0, "keelhaul": 149.0}) == "PASS"
    assert rss.verdict({"distribution": 10.0, "keelhaul": 150.0}) == "MISS"


def _skip_without_tools() -> None:
    missing = [tool for tool in ("curl", "wrk", "docker-registry") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages)")
    if importlib.util.find_spec("reference_server.serve_cli") is None:
        pytest.skip("the reference server has no `keelhaul serve` yet")


def test_the_benchmark_runs_end_to_end_with_tiny_sizes(tmp_path: Path) -> None:
    _skip_without_tools()
    report_dir = tmp_path / "reports"
    command = [
        sys.executable,
        str(SCRIPT),
        "--size",
        "2MiB",
        "--rss-size",
        "4MiB",
        "--chunk-size",
        "512KiB",
        "--quick",
        "--wrk-seconds",
        "1",
        "--workdir",
        str(tmp_path),
        "--report-dir",
        str(report_dir),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    rows = (
        "push monolithic",
        "push 512 KiB chunks",
        "pull (median)",
        "manifest GET by tag",
        "peak RSS, 4 MiB",
    )
    for row in rows:
        assert row in completed.stdout, f"table row {row!r} missing"
    (report,) = report_dir.glob("*.json")
    document = json.loads(report.read_text())
    assert document["errors"] == {}, document["errors"]
    for metric in METRICS:
        for server in ("distribution", "keelhaul"):
            figure = document["figures"][metric][server]
            assert figure is not None and figure > 0, f"{metric} on {server}: {figure}"
    assert set(document["verdicts"].values()) <= {"PASS", "MISS"}
    cpu = document["server_cpu"]["figures"]
    for metric in ("push_monolithic", "manifest_get"):
        assert set(cpu[metric]) == {"distribution", "keelhaul"}, f"server CPU for {metric} missing"
    assert "server CPU per unit of work" in completed.stdout
    assert [path.name for path in tmp_path.iterdir()] == ["reports"], "the temp dir was not cleaned up"
