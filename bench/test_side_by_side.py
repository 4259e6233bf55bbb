"""keelhaul vs distribution 2.8 (and nginx on the same file), one pytest-benchmark group per row of
the side-by-side table (issue 14). Every request is made by curl or wrk (C clients), so the client is
neither the bottleneck nor Python; pytest-benchmark times each operation (one round per test, rounds
as parametrized tests that alternate who goes first), and each test also records its figure (MB/s,
req/s, MB, s) for the ratio table printed at the end. Speed targets live here only.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import bench_data
import bench_servers
import curl_http
import load_generator
import pytest
import side_by_side
from conftest import FirstPullBlobs, Plan

MB = 1_000_000  # throughput and RSS in decimal MB, as in the issues
GIB = 1024**3
REPO = Path(__file__).resolve().parents[1]
DISTRIBUTION, REFERENCE, STATIC = side_by_side.DISTRIBUTION, side_by_side.REFERENCE, side_by_side.STATIC
Servers = dict[str, bench_servers.RunningServer]


def timed(benchmark, function: Callable[[], object], setup: Callable[[], None] | None = None) -> float:
    """One timed round of `function` through pytest-benchmark (its `setup` untimed); its seconds."""
    benchmark.pedantic(function, setup=setup, rounds=1, iterations=1, warmup_rounds=0)
    if benchmark.stats is None:
        pytest.skip("pytest-benchmark is disabled (--benchmark-disable): nothing is timed")
    return benchmark.stats.stats.mean


def record_transfer(
    benchmark,
    figures,
    metric: str,
    server: bench_servers.RunningServer,
    size: int,
    seconds: float,
    cpu_seconds: float,
) -> None:
    rate = size / MB / seconds
    benchmark.extra_info.update(
        mb_per_s=rate, bytes=size, server_cpu_seconds_per_gib=cpu_seconds / (size / GIB)
    )
    figures.add(metric, server.name, rate)


def transfer(
    benchmark,
    figures,
    metric: str,
    server: bench_servers.RunningServer,
    size: int,
    function: Callable[[], float],
    setup: Callable[[], None] | None = None,
    *,
    everyone: Servers,
    in_requests: bool = False,
) -> None:
    """Time `function` moving `size` bytes and record its MB/s. `in_requests`: the figure counts the
    seconds `function` returns (curl's own time in its requests) rather than the wall time, which also
    holds one curl start per request (11 ms each here; a 16 MiB chunked push of 1 GiB starts 66). Those
    starts weigh the same on both servers and would squeeze their ratio toward 1; pytest-benchmark's
    own table keeps the wall time.

    Before the round (untimed), `sync` writes back what earlier rounds left dirty: distribution writes
    through the page cache, and its 1 GiB of write-back otherwise lands in whichever round comes next,
    another server's. (Whole runs without it had the reference server's first pull at 0.44-0.60x of
    distribution's in every round, where runs before and after had 1.5-2.9x.) Then every server in
    `everyone` must be idle (`wait_until_idle`): work a server does after its answer, such as keelhaul
    caching a blob it served past the page cache, is its own and must not slow another's round. The
    server CPU seconds recorded are the timed part's only (a first pull's set-up is a whole push)."""

    cpu_before: list[float] = []

    def prepare() -> None:
        os.sync()
        if not bench_servers.wait_until_idle(member.pid for member in everyone.values()):
            figures.note(metric, "a server was still busy 20 s after the round before; measured anyway")
        if setup is not None:
            setup()
        cpu_before.append(bench_servers.tree_cpu_seconds(server.pid))  # the set-up's CPU is not the round's

    returned: list[float] = []
    wall = timed(benchmark, lambda: returned.append(function()), prepare)
    seconds = returned[0] if in_requests else wall
    benchmark.extra_info["wall_seconds"] = wall
    record_transfer(
        benchmark,
        figures,
        metric,
        server,
        size,
        seconds,
        bench_servers.tree_cpu_seconds(server.pid) - cpu_before[-1],
    )


# ------------------------------------------------------------------------------------------------ pushes


@pytest.mark.benchmark(group="push-monolithic")
def test_push_monolithic(
    benchmark, figures, servers: Servers, blob: bench_data.BlobFile, round_and_server
) -> None:
    """POST, then one streamed PUT ?digest= of the whole blob; a HEAD proves the registry holds it."""
    index, name = round_and_server
    server, repository = servers[name], f"bench/push-monolithic-{index}"
    transfer(
        benchmark,
        figures,
        "push_monolithic",
        server,
        blob.size,
        lambda: curl_http.push_monolithic(server.url, repository, blob.path, blob.digest),
        everyone=servers,
    )
    curl_http.check_blob(server.url, repository, blob.digest, blob.size)


@pytest.mark.benchmark(group="push-chunked")
def test_push_chunked(
    benchmark, figures, servers: Servers, blob: bench_data.BlobFile, chunks: list[Path], round_and_server
) -> None:
    """POST, one PATCH per chunk with Content-Range following each Location, closing PUT ?digest=."""
    index, name = round_and_server
    server, repository = servers[name], f"bench/push-chunked-{index}"
    transfer(
        benchmark,
        figures,
        "push_chunked",
        server,
        blob.size,
        lambda: curl_http.push_chunked(server.url, repository, chunks, blob.digest),
        everyone=servers,
        in_requests=True,
    )
    curl_http.check_blob(server.url, repository, blob.digest, blob.size)


# ------------------------------------------------------------------------------------------------ pulls


def blob_url(server: bench_servers.RunningServer, repository: str, blob: bench_data.BlobFile) -> str:
    """Where `server` serves the blob: the registry's blob URL, or the plain file for nginx."""
    if server.name == STATIC:
        return f"{server.url}/{blob.path.name}"
    return f"{server.url}/v2/{repository}/blobs/{blob.digest}"


@pytest.mark.servers(DISTRIBUTION, REFERENCE, STATIC)
@pytest.mark.benchmark(group="pull-first")
def test_first_pull_after_push(
    benchmark, figures, servers: Servers, first_pull_blobs: FirstPullBlobs, round_and_server
) -> None:
    """What CI does: push (untimed), then at once the first pull. Each round moves a blob of its own,
    which no registry held before (`FirstPullBlobs`). nginx serves that file, which the benchmark has
    just written: the practical limit."""
    index, name = round_and_server
    server, repository = servers[name], f"bench/pull-first-{index}"
    blob = first_pull_blobs.for_round(index)
    benchmark.extra_info["digest"] = blob.digest

    def push() -> None:
        if server.name != STATIC:
            curl_http.push_monolithic(server.url, repository, blob.path, blob.digest)

    url = blob_url(server, repository, blob)
    transfer(
        benchmark,
        figures,
        "pull_first",
        server,
        blob.size,
        lambda: curl_http.get_file(url, blob.size, blob.digest),
        setup=push,
        everyone=servers,
    )


@pytest.fixture(scope="session")
def pulled_once(servers: Servers, blob: bench_data.BlobFile) -> str:
    """A repository every registry holds the blob in and has served once already."""
    repository = "bench/pull-later"
    for name in (DISTRIBUTION, REFERENCE, STATIC):
        server = servers.get(name)
        if server is None:
            continue
        if name != STATIC:
            curl_http.push_monolithic(server.url, repository, blob.path, blob.digest)
        curl_http.get_file(blob_url(server, repository, blob), blob.size, blob.digest)
    return repository


@pytest.mark.servers(DISTRIBUTION, REFERENCE, STATIC)
@pytest.mark.benchmark(group="pull-later")
def test_later_pull(
    benchmark, figures, servers: Servers, blob: bench_data.BlobFile, pulled_once: str, round_and_server
) -> None:
    """A blob the registry served before: the speed of the wire, against nginx on the same file."""
    _, name = round_and_server
    server = servers[name]
    url = blob_url(server, pulled_once, blob)
    transfer(
        benchmark,
        figures,
        "pull_later",
        server,
        blob.size,
        lambda: curl_http.get_file(url, blob.size, blob.digest),
        everyone=servers,
    )


# ------------------------------------------------------------------------------------------------ manifest


@pytest.mark.benchmark(group="manifest-get")
def test_manifest_get_by_tag(
    benchmark, figures, plan: Plan, servers: Servers, image: bench_data.ImageFixture, round_and_server
) -> None:
    """wrk at 32 connections on GET /v2/<name>/manifests/<tag> with the OCI Accept header, after one
    checked GET; any non-2xx answer or socket error invalidates the figure."""
    _, name = round_and_server
    server, repository, tag = servers[name], "bench/manifest", "v1"
    for part in (image.config, image.layer):
        curl_http.push_small_blob(server.url, repository, part.path, part.digest)
    curl_http.put_manifest(server.url, repository, tag, image.manifest_path, image.media_type)
    url = f"{server.url}/v2/{repository}/manifests/{tag}"
    curl_http.check_manifest_get(url, image.media_type, image.manifest_digest)
    cpu_before = bench_servers.tree_cpu_seconds(server.pid)
    outcomes: list[curl_http.WrkResult] = []
    timed(
        benchmark,
        lambda: outcomes.append(
            curl_http.wrk_get(url, image.media_type, plan.wrk_connections, plan.wrk_threads, plan.wrk_seconds)
        ),
    )
    (outcome,) = outcomes
    if outcome.non_2xx or outcome.socket_errors:
        pytest.fail(
            f"wrk: {outcome.non_2xx} non-2xx, {outcome.socket_errors} socket errors "
            f"in {outcome.requests} requests"
        )
    cpu = bench_servers.tree_cpu_seconds(server.pid) - cpu_before
    benchmark.extra_info.update(
        requests_per_second=outcome.requests_per_second,
        requests=outcome.requests,
        latency_p50_ms=outcome.latency_p50_ms,
        latency_p99_ms=outcome.latency_p99_ms,
        server_cpu_us_per_request=cpu / outcome.requests * 1e6,
    )
    figures.add("manifest_get", name, outcome.requests_per_second)


# ------------------------------------------------------------------------------------------------ memory


@pytest.fixture(scope="session")
def big_blob(workdir: Path, plan: Plan) -> bench_data.BlobFile:
    return bench_data.write_blob_file(workdir / "big.bin", plan.rss_size, seed=2)


@pytest.mark.parametrize("name", [DISTRIBUTION, REFERENCE])
@pytest.mark.benchmark(group="peak-rss")
def test_peak_rss_through_a_big_upload(
    benchmark, figures, servers: Servers, big_blob: bench_data.BlobFile, name: str
) -> None:
    """The server's resident memory (its whole process tree) polled every 20 ms during one
    monolithic push of the big blob; VmHWM (the lifetime peak) is kept beside it."""
    server = servers[name]
    sampler = bench_servers.RssSampler(server.pid)
    cpu_before = bench_servers.tree_cpu_seconds(server.pid)
    with sampler.running():
        seconds = timed(
            benchmark,
            lambda: curl_http.push_monolithic(server.url, "bench/rss", big_blob.path, big_blob.digest),
        )
    curl_http.check_blob(server.url, "bench/rss", big_blob.digest, big_blob.size)
    record_transfer(
        benchmark,
        figures,
        "upload_big",
        server,
        big_blob.size,
        seconds,
        bench_servers.tree_cpu_seconds(server.pid) - cpu_before,
    )
    benchmark.extra_info.update(
        peak_rss_bytes=sampler.peak_bytes,
        peak_rss_anon_bytes=sampler.peak_anon_bytes,
        vm_hwm_bytes=bench_servers.tree_hwm_bytes(server.pid),
        samples=sampler.samples,
    )
    figures.add("peak_rss", name, sampler.peak_bytes / MB)


# ------------------------------------------------------------------------------------------------ suite


_RUN_IDS = itertools.count()


def as_installed() -> dict[str, str]:
    """This environment, but the run is made as an installed program makes it: with its bytecode
    compiled once (pip compiles at install; the untimed first run writes what is missing), not
    compiled again in every run (0.3-0.4 s each, where PYTHONDONTWRITEBYTECODE is set)."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def conformance_command(part: str, report_dir: Path, run_id: str) -> list[str]:
    if part == "whole":
        command = [sys.executable, "-m", "keelhaul", "check"]
    else:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:locust",
            "-p",
            "no:cacheprovider",
            "-q",
            str(REPO / "conformance" / "oci"),
        ]
    return [*command, "--report-dir", str(report_dir), "--run-id", run_id]


@pytest.mark.parametrize("part", ["whole", "oci"])
@pytest.mark.benchmark(group="conformance")
def test_conformance_run_time(benchmark, figures, plan: Plan, workdir: Path, part: str) -> None:
    """The default `keelhaul check` against the embedded server (interpreter, server start and reports
    included), and the OCI folder alone in its own process with the wall time of its checks (from the
    first one's start, all lanes together); every run must pass and report its checks. Before each
    round (untimed) the kernel writes back what the push benchmarks left dirty (2.3 GB seen): a run
    timed during that write-back timed the disk. One untimed run goes first: the first of a row was
    0.6-1.2 s slower even with nothing before it."""
    report_dir = workdir / "conformance"
    checks: list[int] = []
    oci_seconds: list[float] = []

    def run() -> None:
        run_id = f"{part}-{next(_RUN_IDS)}"
        finished = subprocess.run(
            conformance_command(part, report_dir, run_id),
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
            env=as_installed(),
        )
        if finished.returncode != 0:
            pytest.fail(f"the conformance run failed:\n{finished.stdout[-2000:]}{finished.stderr[-1000:]}")
        document = json.loads((report_dir / run_id / "results.json").read_text())
        checks.append(len(document["tests"]))
        if part == "oci":
            oci_seconds.append(document["checks_duration"])

    os.sync()
    run()  # untimed: the first run in a row read the suite's files from disk again, 0.6-1.2 s slower
    checks.clear()
    oci_seconds.clear()
    benchmark.pedantic(run, setup=os.sync, rounds=plan.conformance_runs, iterations=1, warmup_rounds=0)
    if benchmark.stats is None:
        pytest.skip("pytest-benchmark is disabled (--benchmark-disable): nothing is timed")
    benchmark.extra_info["checks"] = checks
    for seconds in benchmark.stats.stats.data:
        figures.add("conformance_whole" if part == "whole" else "conformance_oci_alone", REFERENCE, seconds)
    for seconds in oci_seconds:
        figures.add("conformance_oci", REFERENCE, seconds)


# ------------------------------------------------------------------------------------------------ load


@pytest.mark.benchmark(group="load-generator")
def test_load_generator_vs_curl(benchmark, figures, plan: Plan) -> None:
    """One Locust worker process against curl, pushing the same chunked layers into the same sink, in
    alternating rounds (bench/load_generator.py, issue 14 item 3): the generator's MB/s beside curl's,
    round by round."""
    with tempfile.TemporaryDirectory(prefix="keelhaul-bench-loadgen-") as scratch:
        figures_path = Path(scratch) / "load-generator.json"
        arguments = [
            "--layer-size", str(plan.load_layer_size), "--chunk-size", str(plan.chunk_size),
            "--layers", "1", "--rounds", str(plan.rounds), "--json", str(figures_path),
        ]  # fmt: skip
        timed(benchmark, lambda: load_generator.main(arguments))
        rounds = json.loads(figures_path.read_text())["rounds"]
    benchmark.extra_info["rounds"] = rounds
    for one in rounds:
        figures.add("load_generator", "curl", one["curl"]["mb_per_s"])
        figures.add("load_generator", REFERENCE, one["generator"]["mb_per_s"])
