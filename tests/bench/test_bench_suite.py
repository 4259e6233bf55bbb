"""The benchmark suite (bench/, pytest-benchmark) works: with tiny sizes it starts keelhaul,
distribution and nginx, runs every group, prints the side-by-side table and writes its JSON. It checks
the bench code, never speed: the targets are judged by `tox -e bench` only."""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file loads
    spec.loader.exec_module(module)
    return module


side_by_side = _load("side_by_side")


def _figures(metric: str, **rounds: list[float]):
    figures = side_by_side.Figures()
    for server, values in rounds.items():
        for value in values:
            figures.add(metric, server, value)
    return figures, side_by_side.METRIC_BY_KEY[metric]


def test_a_ratio_target_passes_only_at_the_ratio() -> None:
    figures, metric = _figures("push_monolithic", distribution=[100.0, 110.0, 90.0], keelhaul=[400, 420, 380])
    assert figures.verdict(metric) == "PASS"
    figures, metric = _figures("push_monolithic", distribution=[100.0], keelhaul=[399.0])
    assert figures.verdict(metric) == "MISS"
    figures, metric = _figures("push_monolithic", keelhaul=[399.0])
    assert figures.verdict(metric) == "n/a"


def test_first_pull_passes_at_the_lower_of_its_two_bars() -> None:
    """>= 1.5x distribution, or >= 0.9x the static file server, whichever is lower."""
    figures, metric = _figures("pull_first", distribution=[1000.0], static=[1500.0], keelhaul=[1400.0])
    assert figures.verdict(metric) == "PASS"  # 0.93x static, though only 1.4x distribution
    figures, metric = _figures("pull_first", distribution=[1000.0], static=[2000.0], keelhaul=[1400.0])
    assert figures.verdict(metric) == "MISS"  # below 1.5x distribution and below 0.9x static


def test_ceilings_judge_keelhauls_own_figure_and_the_table_shows_the_spread() -> None:
    figures, metric = _figures("peak_rss", distribution=[30.0], keelhaul=[99.0])
    assert figures.verdict(metric) == "PASS"
    figures.add("peak_rss", "keelhaul", 150.0)
    figures.add("peak_rss", "keelhaul", 160.0)
    assert figures.verdict(metric) == "MISS"  # median 150
    figures, _ = _figures("push_chunked", distribution=[100.0, 100.0, 100.0], keelhaul=[280, 320, 300])
    table = side_by_side.format_table(figures)
    assert "push chunked" in table and "3.00x" in table and "2.80-3.20" in table


def _skip_without_tools() -> None:
    missing = [tool for tool in ("curl", "wrk", "docker-registry") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages, .ci/system-packages.sh)")


def _run_with_teardown(command: list[str], timeout: float) -> tuple[int, str]:
    """Run the inner pytest; past `timeout` interrupt it (SIGINT) so its fixtures stop the three servers
    they started, and only kill it if it does not finish its teardown."""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            pytest.fail(f"the benchmark suite took over {timeout:.0f} s:\n{output[-3000:]}")
    return process.returncode, output


@pytest.mark.timeout(660)
def test_the_suite_runs_every_group_with_tiny_sizes(tmp_path: Path) -> None:
    _skip_without_tools()
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:locust", "-p", "no:anyio",
        str(BENCH), "-q",
        "--bench-size", "2MiB", "--bench-rss-size", "4MiB", "--bench-chunk-size", "512KiB",
        "--bench-rounds", "2", "--bench-wrk-seconds", "1", "--bench-conformance-runs", "1",
        "--bench-load-size", "2MiB", "--bench-workdir", str(tmp_path), "--bench-report-dir", str(report_dir),
        "--benchmark-json", str(report_dir / "pytest-benchmark.json"),
    ]  # fmt: skip
    returncode, output = _run_with_teardown(command, timeout=540)
    assert returncode == 0, output[-4000:]
    assert "keelhaul vs distribution 2.8, side by side" in output
    for row in ("push monolithic", "push 512KiB chunks", "first pull after push", "later pulls",
                "manifest GET by tag", "peak RSS, 4MiB upload", "conformance, default run",
                "conformance, OCI checks in it", "conformance, OCI folder alone",
                "load generator"):  # fmt: skip
        assert row in output, f"table row {row!r} missing:\n{output[-3000:]}"
    (report,) = report_dir.glob("side-by-side-*.json")
    document = json.loads(report.read_text())
    servers = ["distribution", "keelhaul"] + (["static"] if shutil.which("nginx") else [])
    for metric in ("push_monolithic", "push_chunked", "pull_first", "pull_later", "manifest_get", "peak_rss"):
        for server in servers if metric.startswith("pull") else servers[:2]:
            values = document["rounds"][metric][server]
            assert values and all(value > 0 for value in values), f"{metric} on {server}: {values}"
    assert document["metrics"]["push_monolithic"]["verdict"] in {"PASS", "MISS"}
    whole, in_run = (
        document["rounds"]["conformance_whole"]["keelhaul"],
        document["rounds"]["conformance_oci"]["keelhaul"],
    )
    assert len(whole) == len(in_run) == 1 and 0 < in_run[0] < whole[0], (whole, in_run)
    benchmarks = json.loads((report_dir / "pytest-benchmark.json").read_text())["benchmarks"]
    assert {entry["group"] for entry in benchmarks} >= {
        "push-monolithic", "push-chunked", "pull-first", "pull-later", "manifest-get", "peak-rss",
        "conformance", "load-generator",
    }  # fmt: skip
    assert [path.name for path in tmp_path.iterdir()] == ["reports"], "the temp dir was not cleaned up"
