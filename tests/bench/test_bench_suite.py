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
from types import SimpleNamespace

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


class _OneRound:
    """pytest-benchmark's `benchmark` as `transfer` uses it: one round, the set-up untimed."""

    def __init__(self) -> None:
        self.extra_info: dict[str, object] = {}
        self.stats = None

    def pedantic(self, function, setup, rounds: int, iterations: int, warmup_rounds: int) -> None:
        setup()
        function()
        self.stats = SimpleNamespace(stats=SimpleNamespace(mean=0.5))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # the bench's own marks
def test_a_rounds_server_cpu_leaves_out_its_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first pull's set-up is a whole push: its CPU must not be counted as the pull's."""
    monkeypatch.syspath_prepend(str(BENCH))
    rounds = _load("test_side_by_side")
    cpu = {"seconds": 10.0}
    monkeypatch.setattr(rounds.bench_servers, "tree_cpu_seconds", lambda pid: cpu["seconds"])
    monkeypatch.setattr(rounds.os, "sync", lambda: None)

    def push() -> None:
        cpu["seconds"] += 3.0

    def pull() -> float:
        cpu["seconds"] += 0.25
        return 0.5

    benchmark, figures = _OneRound(), side_by_side.Figures()
    server = SimpleNamespace(name="keelhaul", pid=1)
    rounds.transfer(
        benchmark, figures, "pull_first", server, rounds.GIB, pull, setup=push, everyone={"keelhaul": server}
    )
    assert benchmark.extra_info["server_cpu_seconds_per_gib"] == 0.25
    assert benchmark.extra_info["mb_per_s"] == rounds.GIB / rounds.MB / 0.5


def test_a_round_starts_once_every_server_is_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work a server does after its answer must not land in the next round: a server that keeps using
    CPU holds the round back (up to the timeout, then False); one that stops lets it start."""
    monkeypatch.syspath_prepend(str(BENCH))
    servers = _load("bench_servers")
    used = {1: 0.0, 2: 0.0}
    busy_windows = {"left": 3}

    def tree_cpu_seconds(pid: int) -> float:
        if pid == 2 and busy_windows["left"] > 0:
            busy_windows["left"] -= 1
            used[2] += 0.1  # a tenth of a second of CPU per window: busy
        return used[pid]

    monkeypatch.setattr(servers, "tree_cpu_seconds", tree_cpu_seconds)
    assert servers.wait_until_idle([1, 2], window_seconds=0.01, timeout=5.0)
    assert busy_windows["left"] == 0  # it waited through the busy windows
    busy_windows["left"] = 10**6
    assert not servers.wait_until_idle([1, 2], window_seconds=0.01, timeout=0.1)


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
                "conformance, OCI checks", "conformance, OCI folder alone",
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
    whole, oci_checks, oci_alone = (
        document["rounds"]["conformance_whole"]["keelhaul"],
        document["rounds"]["conformance_oci"]["keelhaul"],
        document["rounds"]["conformance_oci_alone"]["keelhaul"],
    )
    assert len(whole) == len(oci_checks) == len(oci_alone) == 1, (whole, oci_checks, oci_alone)
    assert 0 < oci_checks[0] < oci_alone[0], (oci_checks, oci_alone)  # its checks, not its process
    benchmarks = json.loads((report_dir / "pytest-benchmark.json").read_text())["benchmarks"]
    first_pulls: dict[str, set[str]] = {}
    for entry in benchmarks:
        if entry["group"] == "pull-first":
            first_pulls.setdefault(entry["name"].split("[")[1].split("-")[0], set()).add(
                entry["extra_info"]["digest"]
            )
    assert len(first_pulls) == 2 and all(len(digests) == 1 for digests in first_pulls.values()), first_pulls
    assert len(set.union(*first_pulls.values())) == 2, "each first-pull round must move a blob of its own"
    assert {entry["group"] for entry in benchmarks} >= {
        "push-monolithic", "push-chunked", "pull-first", "pull-later", "manifest-get", "peak-rss",
        "conformance", "load-generator",
    }  # fmt: skip
    assert [path.name for path in tmp_path.iterdir()] == ["reports"], "the temp dir was not cleaned up"
