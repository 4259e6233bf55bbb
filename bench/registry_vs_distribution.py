"""Reference server vs. distribution 2.8, side by side, from one run.

    python bench/registry_vs_distribution.py [--size 1GiB] [--rss-size 5GiB] [--quick]

Starts `keelhaul serve --no-auth` and Debian's `docker-registry`, each with its own temp storage, and
measures the same operations against both with curl and wrk (C clients, so the client is never the
bottleneck or the Python interpreter): monolithic push, push in 16 MiB chunks, pull, manifest GET by tag at
32 connections, and the server's peak RSS during a big upload. Prints a table with the ratio and
PASS/MISS per target (issue 2, "Speed") and writes the figures to reports/bench/<timestamp>.json.
Phases alternate which server goes first so that a change in machine load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data
import bench_servers
import curl_http

REPO_ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000  # throughput and RSS are reported in decimal MB, as in issue 2
GIB = 1024**3
DISK_MARGIN = GIB
SERVER_NAMES = ("distribution", "keelhaul")  # the order of the table's columns


@dataclass(frozen=True)
class Target:
    """One promise of issue 2: either a ratio keelhaul/distribution or an absolute ceiling."""

    metric: str
    label: str
    unit: str
    min_ratio: float | None = None
    max_keelhaul: float | None = None
    # distribution's figure as issue 2 states it, for a second ratio beside the measured one: the
    # targets were set against these, and this machine's distribution may be faster or slower today.
    issue_baseline: float | None = None

    def describe(self) -> str:
        if self.min_ratio is not None:
            return f">= {self.min_ratio:g}x"
        return f"< {self.max_keelhaul:g} {self.unit}"

    def verdict(self, figures: dict[str, float | None]) -> str:
        ours = figures.get("keelhaul")
        if ours is None:
            return "n/a"
        if self.max_keelhaul is not None:
            return "PASS" if ours < self.max_keelhaul else "MISS"
        theirs = figures.get("distribution")
        if not theirs:
            return "n/a"
        return "PASS" if ours / theirs >= (self.min_ratio or 0) else "MISS"


TARGETS = (
    Target("push_monolithic", "push monolithic", "MB/s", min_ratio=2.0, issue_baseline=150.0),
    Target("push_chunked", "push 16 MiB chunks", "MB/s", min_ratio=2.0),
    Target("pull", "pull (median)", "MB/s", min_ratio=1.0, issue_baseline=1400.0),
    Target("manifest_get", "manifest GET by tag", "req/s", min_ratio=10.0, issue_baseline=600.0),
    Target("peak_rss", "peak RSS, big upload", "MB", max_keelhaul=150.0),
)


@dataclass
class Results:
    """Figures per metric and server, plus what else a reader needs to trust them."""

    figures: dict[str, dict[str, float | None]] = field(default_factory=dict)
    details: dict[str, dict[str, object]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    load_average: dict[str, list[float]] = field(default_factory=dict)
    # Server CPU per unit of work (s per GiB moved, µs per manifest GET), beside each figure.
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)

    def record(self, metric: str, server: str, value: float | None, **detail: object) -> None:
        self.figures.setdefault(metric, {})[server] = value
        self.details.setdefault(metric, {})[server] = detail

    def record_cpu(self, metric: str, server: str, value: float) -> None:
        self.cpu.setdefault(metric, {})[server] = value

    def fail(self, metric: str, server: str, error: Exception) -> None:
        self.figures.setdefault(metric, {})[server] = None
        self.errors.setdefault(metric, {})[server] = f"{type(error).__name__}: {error}"


# ---------------------------------------------------------------------------------------------- sizes


def parse_size(text: str) -> int:
    """`1GiB`, `16MiB`, `512KiB`, `1GB`, `1000` -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", text, re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 1GiB, 16MiB, 1000000)")
    number, prefix, binary = match.groups()
    power = " KMGT".index(prefix.upper() or " ")
    return int(float(number) * ((1024 if binary or prefix == "" else 1000) ** power))


def human_size(size: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


# ---------------------------------------------------------------------------------------------- phases


@dataclass(frozen=True)
class Plan:
    size: int
    rss_size: int
    chunk_size: int
    push_repeats: int
    pull_repeats: int
    wrk_seconds: int
    wrk_connections: int
    wrk_threads: int


def alternate(
    servers: list[bench_servers.RunningServer], round_index: int
) -> list[bench_servers.RunningServer]:
    """Servers in the order of this round: each goes first every other round."""
    return servers if round_index % 2 == 0 else list(reversed(servers))


def run_phase(
    results: Results,
    metric: str,
    servers: list[bench_servers.RunningServer],
    measure: Callable[[bench_servers.RunningServer], None],
) -> None:
    print(f"  {metric} ...", flush=True)
    for server in servers:
        try:
            measure(server)
        except (curl_http.BenchHTTPError, subprocess.TimeoutExpired, OSError) as error:
            results.fail(metric, server.name, error)
            print(f"    {server.name}: ERROR {error}", flush=True)
    results.load_average[metric] = [round(value, 2) for value in os.getloadavg()]


def phase_transfer(
    results: Results,
    metric: str,
    servers: list[bench_servers.RunningServer],
    repeats: int,
    size: int,
    transfer: Callable[[bench_servers.RunningServer, int], float],
) -> None:
    """`repeats` rounds of one blob transfer per server, alternating who goes first; the figure is
    the median MB/s, with the server's median CPU seconds per GiB beside it."""
    seconds: dict[str, list[float]] = {server.name: [] for server in servers}
    cpu_seconds: dict[str, list[float]] = {server.name: [] for server in servers}
    failed: dict[str, Exception] = {}
    print(f"  {metric} ...", flush=True)
    for round_index in range(repeats):
        for server in alternate(servers, round_index):
            if server.name in failed:
                continue
            try:
                cpu_before = bench_servers.tree_cpu_seconds(server.pid)
                elapsed = transfer(server, round_index)
                cpu_seconds[server.name].append(bench_servers.tree_cpu_seconds(server.pid) - cpu_before)
                seconds[server.name].append(elapsed)
            except (curl_http.BenchHTTPError, subprocess.TimeoutExpired, OSError) as error:
                failed[server.name] = error
                print(f"    {server.name}: ERROR {error}", flush=True)
    for server in servers:
        if server.name in failed:
            results.fail(metric, server.name, failed[server.name])
            continue
        rates = [size / MB / elapsed for elapsed in seconds[server.name]]
        cpu_per_gib = statistics.median(cpu_seconds[server.name]) / (size / GIB)
        results.record(
            metric,
            server.name,
            statistics.median(rates),
            runs_mb_per_s=rates,
            runs_seconds=seconds[server.name],
            runs_server_cpu_seconds=cpu_seconds[server.name],
            bytes=size,
        )
        results.record_cpu(metric, server.name, cpu_per_gib)
        print(
            f"    {server.name}: {statistics.median(rates):.0f} MB/s (runs {_rounded(rates)}; "
            f"server CPU {cpu_per_gib:.2f} s/GiB)",
            flush=True,
        )
    results.load_average[metric] = [round(value, 2) for value in os.getloadavg()]


def push_and_check(
    push: Callable[[str, str], float], blob: bench_data.BlobFile, metric: str
) -> Callable[[bench_servers.RunningServer, int], float]:
    """A push into a fresh repository per round, then a HEAD proving the registry holds the blob."""

    def transfer(server: bench_servers.RunningServer, round_index: int) -> float:
        repository = f"bench/{metric.replace('_', '-')}-{round_index}"
        elapsed = push(server.url, repository)
        curl_http.check_blob(server.url, repository, blob.digest, blob.size)
        return elapsed

    return transfer


def phase_manifest_get(
    results: Results, servers: list[bench_servers.RunningServer], plan: Plan, image: bench_data.ImageFixture
) -> None:
    repository, tag = "bench/manifest", "v1"

    def measure(server: bench_servers.RunningServer) -> None:
        for blob in (image.config, image.layer):
            curl_http.push_small_blob(server.url, repository, blob.path, blob.digest)
        curl_http.put_manifest(server.url, repository, tag, image.manifest_path, image.media_type)
        url = f"{server.url}/v2/{repository}/manifests/{tag}"
        curl_http.check_manifest_get(url, image.media_type, image.manifest_digest)
        cpu_before = bench_servers.tree_cpu_seconds(server.pid)
        outcome = curl_http.wrk_get(
            url, image.media_type, plan.wrk_connections, plan.wrk_threads, plan.wrk_seconds
        )
        cpu_per_request_us = (
            (bench_servers.tree_cpu_seconds(server.pid) - cpu_before) / outcome.requests * 1e6
        )
        if outcome.non_2xx or outcome.socket_errors:
            raise curl_http.BenchHTTPError(
                f"wrk: {outcome.non_2xx} non-2xx responses, {outcome.socket_errors} socket errors"
                f" in {outcome.requests} requests"
            )
        results.record(
            "manifest_get",
            server.name,
            outcome.requests_per_second,
            requests=outcome.requests,
            latency_p50_ms=outcome.latency_p50_ms,
            latency_p99_ms=outcome.latency_p99_ms,
            connections=plan.wrk_connections,
            threads=plan.wrk_threads,
            seconds=plan.wrk_seconds,
            server_cpu_us_per_request=cpu_per_request_us,
        )
        results.record_cpu("manifest_get", server.name, cpu_per_request_us)
        print(
            f"    {server.name}: {outcome.requests_per_second:.0f} req/s "
            f"(p50 {outcome.latency_p50_ms} ms, p99 {outcome.latency_p99_ms} ms; "
            f"server CPU {cpu_per_request_us:.0f} µs/request)",
            flush=True,
        )

    run_phase(results, "manifest_get", servers, measure)


def phase_peak_rss(
    results: Results, servers: list[bench_servers.RunningServer], big: bench_data.BlobFile
) -> None:
    """Polls the server's RSS (its whole process tree) every 20 ms during one monolithic push of the
    big blob; VmHWM (lifetime peak, all phases) is kept beside it."""

    def measure(server: bench_servers.RunningServer) -> None:
        before = bench_servers.tree_rss_bytes(server.pid)
        sampler = bench_servers.RssSampler(server.pid)
        cpu_before = bench_servers.tree_cpu_seconds(server.pid)
        with sampler.running():
            seconds = curl_http.push_monolithic(server.url, "bench/rss", big.path, big.digest)
        cpu_per_gib = (bench_servers.tree_cpu_seconds(server.pid) - cpu_before) / (big.size / GIB)
        results.record_cpu("peak_rss", server.name, cpu_per_gib)
        curl_http.check_blob(server.url, "bench/rss", big.digest, big.size)
        hwm = bench_servers.tree_hwm_bytes(server.pid)
        results.record(
            "peak_rss",
            server.name,
            sampler.peak_bytes / MB,
            peak_rss_bytes=sampler.peak_bytes,
            peak_rss_anon_bytes=sampler.peak_anon_bytes,
            rss_before_bytes=before,
            vm_hwm_bytes=hwm,
            samples=sampler.samples,
            upload_bytes=big.size,
            upload_mb_per_s=big.size / MB / seconds,
            upload_server_cpu_seconds_per_gib=cpu_per_gib,
        )
        print(
            f"    {server.name}: peak {sampler.peak_bytes / MB:.0f} MB"
            f" (anon {sampler.peak_anon_bytes / MB:.0f}, before {before / MB:.0f} MB, "
            f"VmHWM {hwm / MB:.0f} MB, upload {big.size / MB / seconds:.0f} MB/s)",
            flush=True,
        )

    run_phase(results, "peak_rss", servers, measure)


def _rounded(values: list[float]) -> str:
    return ", ".join(f"{value:.0f}" for value in values)


# ---------------------------------------------------------------------------------------------- output


def row_label(target: Target, plan: Plan) -> str:
    return {
        "push_chunked": f"push {human_size(plan.chunk_size)} chunks",
        "peak_rss": f"peak RSS, {human_size(plan.rss_size)} upload",
    }.get(target.metric, target.label)


def format_table(results: Results, plan: Plan) -> str:
    header = (
        f"{'metric':<26}{'unit':>7}{'distribution':>14}{'keelhaul':>12}{'ratio':>9}{'target':>10}"
        f"  {'verdict':<9}{'vs issue-2 baseline':>20}"
    )
    lines = [header, "-" * len(header)]
    for target in TARGETS:
        figures = results.figures.get(target.metric, {})
        dist, ours = figures.get("distribution"), figures.get("keelhaul")
        ratio = f"{ours / dist:.2f}x" if ours is not None and dist else "-"
        label = row_label(target, plan)
        lines.append(
            f"{label:<26}{target.unit:>7}{_cell(dist):>14}{_cell(ours):>12}{ratio:>9}"
            f"{target.describe():>10}  {target.verdict(figures):<9}{_versus_issue(target, ours):>20}"
        )
    return "\n".join(lines)


CPU_UNITS = {
    "push_monolithic": "s/GiB",
    "push_chunked": "s/GiB",
    "pull": "s/GiB",
    "manifest_get": "µs/req",
    "peak_rss": "s/GiB",
}


def format_cpu_table(results: Results, plan: Plan) -> str:
    """Server CPU per unit of work: steadier than throughput when other work shares the cores."""
    header = (
        f"{'server CPU per unit of work':<26}{'unit':>7}{'distribution':>14}{'keelhaul':>12}{'dist/ours':>11}"
    )
    lines = [header, "-" * len(header)]
    for target in TARGETS:
        figures = results.cpu.get(target.metric, {})
        dist, ours = figures.get("distribution"), figures.get("keelhaul")
        ratio = f"{dist / ours:.2f}x" if dist is not None and ours else "-"
        label = row_label(target, plan).replace("peak RSS, ", "")
        lines.append(
            f"{label:<26}{CPU_UNITS[target.metric]:>7}{_cpu_cell(dist):>14}{_cpu_cell(ours):>12}{ratio:>11}"
        )
    return "\n".join(lines)


def _cpu_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _versus_issue(target: Target, ours: float | None) -> str:
    if target.issue_baseline is None or ours is None:
        return ""
    return f"{ours / target.issue_baseline:.2f}x of {target.issue_baseline:,.0f}"


def _cell(value: float | None) -> str:
    return "ERROR" if value is None else f"{value:,.0f}"


def write_report(
    results: Results, plan: Plan, report_dir: Path, started: datetime, uptimes: dict[str, str]
) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "benchmark": "registry_vs_distribution",
        "started": started.isoformat(),
        "plan": plan.__dict__,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "git_commit": _git_commit(),
        "uptime": uptimes,
        "load_average_after_phase": results.load_average,
        "server_cpu": {"units": CPU_UNITS, "figures": results.cpu},
        "figures": results.figures,
        "units": {target.metric: target.unit for target in TARGETS},
        "issue_baselines": {target.metric: target.issue_baseline for target in TARGETS},
        "verdicts": {
            target.metric: target.verdict(results.figures.get(target.metric, {})) for target in TARGETS
        },
        "details": results.details,
        "errors": results.errors,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or None


def _uptime() -> str:
    completed = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return completed.stdout.strip()


# ---------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=parse_size, default=None, help="blob for push/pull (default 1GiB)")
    parser.add_argument(
        "--rss-size", type=parse_size, default=None, help="upload for peak RSS (default 5GiB)"
    )
    parser.add_argument("--chunk-size", type=parse_size, default=parse_size("16MiB"), help="PATCH chunk")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one run per push/pull, 3 s of wrk, 256MiB/512MiB unless sizes are given",
    )
    parser.add_argument("--repeats", type=int, default=None, help="runs per push and pull, median (3)")
    parser.add_argument("--wrk-seconds", type=int, default=None, help="manifest GET duration (10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO_ROOT / "reports" / "bench",
        help="where the temp dir for test files and both servers' storage goes (default reports/bench:"
        " on the project's disk, never a RAM-backed /tmp; removed at the end)",
    )
    parser.add_argument("--report-dir", type=Path, default=REPO_ROOT / "reports" / "bench")
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="use ports BASE (distribution) and BASE+1 (keelhaul) instead of free ones",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


def make_plan(args: argparse.Namespace) -> Plan:
    size = args.size or parse_size("256MiB" if args.quick else "1GiB")
    rss_size = args.rss_size or parse_size("512MiB" if args.quick else "5GiB")
    repeats = args.repeats or (1 if args.quick else 3)
    wrk_seconds = args.wrk_seconds or (3 if args.quick else 10)
    if min(size, rss_size, args.chunk_size, repeats, wrk_seconds) <= 0:
        raise SystemExit("registry_vs_distribution: sizes, repeats and durations must be positive")
    return Plan(
        size=size,
        rss_size=rss_size,
        chunk_size=min(args.chunk_size, size),
        push_repeats=repeats,
        pull_repeats=repeats,
        wrk_seconds=wrk_seconds,
        wrk_connections=args.connections,
        wrk_threads=args.threads,
    )


def check_disk(workdir: Path, plan: Plan) -> None:
    """Test files (blob, its chunks, the big blob) plus both servers storing blob and big blob."""
    needed = 2 * plan.size + plan.rss_size + 2 * (plan.size + plan.rss_size) + DISK_MARGIN
    free = shutil.disk_usage(workdir).free
    if free < needed:
        raise SystemExit(
            f"registry_vs_distribution: {workdir} has {free / GIB:.1f} GiB free, needs {needed / GIB:.1f} GiB"
        )


def start_servers(
    workdir: Path, port_base: int | None, results: Results
) -> list[bench_servers.RunningServer]:
    """Both registries; one that does not come up is reported as an error in every row, and the
    other is still measured (so the benchmark is usable while the reference server is incomplete)."""
    starters = {"distribution": bench_servers.start_distribution, "keelhaul": bench_servers.start_reference}
    servers = []
    for offset, name in enumerate(SERVER_NAMES):
        try:
            server = starters[name](workdir / name, bench_servers.free_port(port_base, offset))
        except (RuntimeError, OSError, ImportError, TypeError) as error:
            print(f"  {name}: could not start: {error}", flush=True)
            for target in TARGETS:
                results.fail(target.metric, name, RuntimeError(f"server did not start: {error}"))
            continue
        print(f"  {server.name} at {server.url} (pid {server.pid})", flush=True)
        servers.append(server)
    if not servers:
        raise SystemExit("registry_vs_distribution: neither server started")
    return servers


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plan = make_plan(args)
    try:
        curl_http.require_tools()
    except RuntimeError as error:
        raise SystemExit(f"registry_vs_distribution: {error}") from None
    args.workdir.mkdir(parents=True, exist_ok=True)
    check_disk(args.workdir, plan)
    started = datetime.now(UTC)
    uptimes = {"start": _uptime()}
    print(
        f"registry_vs_distribution: {human_size(plan.size)} blobs, {human_size(plan.rss_size)} RSS upload; "
        f"{uptimes['start']}",
        flush=True,
    )
    results = Results()
    with tempfile.TemporaryDirectory(prefix="keelhaul-bench-", dir=args.workdir) as temp:
        workdir = Path(temp)
        servers: list[bench_servers.RunningServer] = []
        try:
            print("  writing test files ...", flush=True)
            blob = bench_data.write_blob_file(workdir / "blob.bin", plan.size, seed=1)
            chunks = bench_data.split_into_chunks(blob, plan.chunk_size, workdir / "chunks")
            image = bench_data.write_image_fixture(workdir / "image")
            servers = start_servers(workdir, args.port_base, results)
            monolithic = push_and_check(
                lambda url, repo: curl_http.push_monolithic(url, repo, blob.path, blob.digest),
                blob,
                "push_monolithic",
            )
            phase_transfer(results, "push_monolithic", servers, plan.push_repeats, blob.size, monolithic)
            chunked = push_and_check(
                lambda url, repo: curl_http.push_chunked(url, repo, chunks, blob.digest), blob, "push_chunked"
            )
            phase_transfer(results, "push_chunked", servers, plan.push_repeats, blob.size, chunked)
            shutil.rmtree(workdir / "chunks")
            phase_transfer(
                results,
                "pull",
                servers,
                plan.pull_repeats,
                blob.size,
                lambda server, _: curl_http.pull(
                    server.url, "bench/push-monolithic-0", blob.digest, blob.size
                ),
            )
            phase_manifest_get(results, servers, plan, image)
            blob.path.unlink()
            print("  writing the big upload ...", flush=True)
            big = bench_data.write_blob_file(workdir / "big.bin", plan.rss_size, seed=2)
            phase_peak_rss(results, servers, big)
        finally:
            for server in servers:
                server.stop()
    uptimes["end"] = _uptime()
    print()
    print(format_table(results, plan))
    print()
    print(format_cpu_table(results, plan))
    print(f"load: {uptimes['end']}")
    by_message: dict[str, list[str]] = {}
    for metric, by_server in results.errors.items():
        for server_name, message in by_server.items():
            by_message.setdefault(f"{server_name}: {message}", []).append(metric)
    for message, metrics in by_message.items():
        print(f"error in {', '.join(metrics)} on {message}")
    report = write_report(results, plan, args.report_dir, started, uptimes)
    print(f"figures: {report}")
    missed = [
        target for target in TARGETS if target.verdict(results.figures.get(target.metric, {})) != "PASS"
    ]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
