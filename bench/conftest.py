"""The benchmark suite's set-up: sizes from the command line, test files, the three servers (keelhaul,
distribution 2.8, nginx on the same file) started once, and the side-by-side table at the end.

    pytest -p no:cacheprovider -p no:locust bench [--bench-size 1GiB] [--bench-rss-size 5GiB] ...
    tox -e bench

Everything runs on the project's disk (reports/bench/), never a RAM-backed /tmp, and is removed at
the end; pytest-benchmark's own JSON and reports/bench/side-by-side-<UTC>.json stay.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import bench_data
import bench_servers
import curl_http
import pytest
import side_by_side

from keelhaul.errors import UsageError
from load.sizes import format_size, parse_size

REPO = Path(__file__).resolve().parents[1]
REPORT_DIR = REPO / "reports" / "bench"
GIB = 1024**3
DISK_MARGIN = GIB
FIRST_PULL_SEED = 100  # the shared blob is seed 1; round i's first-pull blob is FIRST_PULL_SEED + i

FIGURES = side_by_side.Figures()


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one run (`--bench-*` options)."""

    size: int
    rss_size: int
    chunk_size: int
    rounds: int
    wrk_seconds: int
    wrk_connections: int
    wrk_threads: int
    conformance_runs: int
    load_layer_size: int


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keelhaul benchmarks")
    group.addoption("--bench-size", default="1GiB", help="blob pushed and pulled (default 1GiB)")
    group.addoption("--bench-rss-size", default="5GiB", help="upload during which RSS is watched (5GiB)")
    group.addoption("--bench-chunk-size", default="16MiB", help="PATCH size of the chunked push (16MiB)")
    group.addoption("--bench-rounds", type=int, default=3, help="rounds per server and transfer (3)")
    group.addoption("--bench-wrk-seconds", type=int, default=10, help="manifest GET duration (10)")
    group.addoption("--bench-conformance-runs", type=int, default=3, help="conformance runs (3)")
    group.addoption("--bench-load-size", default="1GiB", help="layer the load generator pushes (1GiB)")
    group.addoption("--bench-report-dir", default=str(REPORT_DIR), help="where side-by-side-<UTC>.json goes")
    group.addoption(
        "--bench-workdir",
        default=str(REPORT_DIR),
        help="where test files and the servers' storage go (default reports/bench: the project's disk)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "servers(*names): the servers a round-by-round benchmark measures (default: both registries)",
    )


def _plan(config: pytest.Config) -> Plan:
    def size(option: str) -> int:
        try:
            value = parse_size(config.getoption(option), what="--" + option.replace("_", "-"))
        except UsageError as error:
            raise pytest.UsageError(str(error)) from None
        if value <= 0:
            raise pytest.UsageError(f"--{option.replace('_', '-')} must be positive")
        return value

    counts = {
        name: config.getoption(name)
        for name in ("bench_rounds", "bench_wrk_seconds", "bench_conformance_runs")
    }
    for name, value in counts.items():
        if value < 1:
            raise pytest.UsageError(f"--{name.replace('_', '-')} must be at least 1")
    blob_size = size("bench_size")
    return Plan(
        size=blob_size,
        rss_size=size("bench_rss_size"),
        chunk_size=min(size("bench_chunk_size"), blob_size),
        rounds=counts["bench_rounds"],
        wrk_seconds=counts["bench_wrk_seconds"],
        wrk_connections=32,
        wrk_threads=2,
        conformance_runs=counts["bench_conformance_runs"],
        load_layer_size=size("bench_load_size"),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`round_and_server`: every round measures each server once, alternating who goes first, so a
    change in the machine's load hits them alike; `servers` come from the test's own list."""
    if "round_and_server" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("servers")
    servers = list(marker.args) if marker else [side_by_side.DISTRIBUTION, side_by_side.REFERENCE]
    rounds = metafunc.config.getoption("bench_rounds")
    order = []
    for index in range(rounds):
        turn = servers if index % 2 == 0 else list(reversed(servers))
        order += [(index, server) for server in turn]
    metafunc.parametrize("round_and_server", order, ids=[f"r{i}-{server}" for i, server in order])


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config) -> Plan:
    return _plan(pytestconfig)


@pytest.fixture(scope="session")
def figures() -> side_by_side.Figures:
    return FIGURES


@pytest.fixture(scope="session")
def workdir(pytestconfig: pytest.Config, plan: Plan) -> Iterator[Path]:
    """A temp folder on the project's disk with room for the test files and both servers' copies."""
    try:
        curl_http.require_tools()
    except RuntimeError as error:
        pytest.exit(f"benchmarks: {error}", returncode=4)
    base = Path(pytestconfig.getoption("bench_workdir"))
    base.mkdir(parents=True, exist_ok=True)
    # test files: the blob, its chunks, one first-pull blob at a time; each registry: the blob, one
    # first-pull blob per round, the RSS upload (kept), an upload in flight
    needed = 3 * plan.size + 2 * ((2 + plan.rounds) * plan.size + plan.rss_size) + DISK_MARGIN
    free = shutil.disk_usage(base).free
    if free < needed:
        pytest.exit(f"benchmarks: {base} has {free / GIB:.1f} GiB free, needs {needed / GIB:.1f} GiB")
    with tempfile.TemporaryDirectory(prefix="keelhaul-bench-", dir=base) as temp:
        yield Path(temp)


@pytest.fixture(scope="session")
def blob(workdir: Path, plan: Plan) -> bench_data.BlobFile:
    """The blob every push and pull moves, in its own folder (nginx serves that folder)."""
    (workdir / "static").mkdir()
    return bench_data.write_blob_file(workdir / "static" / "blob.bin", plan.size, seed=1)


class FirstPullBlobs:
    """One blob of its own per first-pull round, in nginx's folder, written when the round needs it
    (the one before is deleted then: one extra blob on disk at a time).

    Why not the shared blob: distribution keeps the file it already holds when a digest is pushed
    again (the blob's inode and mtime stay as they were; seen with docker-registry 2.8 here), so its
    "first pull" of a digest pushed in an earlier round served that earlier file, long in the page
    cache, and not the bytes of the push just made."""

    def __init__(self, directory: Path, size: int) -> None:
        self._directory = directory
        self._size = size
        self._current: tuple[int, bench_data.BlobFile] | None = None

    def for_round(self, index: int) -> bench_data.BlobFile:
        if self._current is not None and self._current[0] == index:
            return self._current[1]
        if self._current is not None:
            self._current[1].path.unlink(missing_ok=True)
        path = self._directory / f"pull-first-{index}.bin"
        blob = bench_data.write_blob_file(path, self._size, seed=FIRST_PULL_SEED + index)
        self._current = (index, blob)
        return blob


@pytest.fixture(scope="session")
def first_pull_blobs(blob: bench_data.BlobFile, plan: Plan) -> FirstPullBlobs:
    return FirstPullBlobs(blob.path.parent, plan.size)


@pytest.fixture(scope="session")
def chunks(workdir: Path, blob: bench_data.BlobFile, plan: Plan) -> list[Path]:
    return bench_data.split_into_chunks(blob, plan.chunk_size, workdir / "chunks")


@pytest.fixture(scope="session")
def image(workdir: Path) -> bench_data.ImageFixture:
    return bench_data.write_image_fixture(workdir / "image")


@pytest.fixture(scope="session")
def servers(workdir: Path, blob: bench_data.BlobFile) -> Iterator[dict[str, bench_servers.RunningServer]]:
    """keelhaul, distribution and nginx, each in its own process; one that cannot start is missing
    from the dict (its benchmarks skip with the reason) so the others are still measured."""
    starters = {
        side_by_side.DISTRIBUTION: lambda port: bench_servers.start_distribution(
            workdir / "distribution", port
        ),
        side_by_side.REFERENCE: lambda port: bench_servers.start_reference(workdir / "keelhaul", port),
        side_by_side.STATIC: lambda port: bench_servers.start_static(
            workdir / "nginx", port, blob.path.parent
        ),
    }
    running: dict[str, bench_servers.RunningServer] = {}
    failures: dict[str, str] = {}
    try:
        for name, start in starters.items():
            try:
                running[name] = start(bench_servers.free_port(None, 0))
            except (RuntimeError, OSError) as error:
                failures[name] = str(error)
                FIGURES.note("push_monolithic", f"{name} did not start: {error}")
        running_view = _Servers(running, failures)
        yield running_view
    finally:
        for server in running.values():
            server.stop()


class _Servers(dict[str, bench_servers.RunningServer]):
    """The running servers; asking for one that did not start skips the benchmark with the reason."""

    def __init__(self, running: dict[str, bench_servers.RunningServer], failures: dict[str, str]) -> None:
        super().__init__(running)
        self.failures = failures

    def __missing__(self, name: str) -> bench_servers.RunningServer:
        pytest.skip(f"{name} is not running: {self.failures.get(name, 'not started')}")


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """After pytest-benchmark's own tables: the side-by-side ratio table, saved as JSON too."""
    if not FIGURES.rounds:
        return
    plan = _plan(config)
    FIGURES.labels["push_chunked"] = f"push {format_size(plan.chunk_size)} chunks"
    FIGURES.note("push_chunked", "time in requests (curl's time_total), not the curl start per chunk")
    FIGURES.labels["peak_rss"] = f"peak RSS, {format_size(plan.rss_size)} upload"
    terminalreporter.section("keelhaul vs distribution 2.8, side by side")
    terminalreporter.write_line(
        f"blob {format_size(plan.size)}, {plan.rounds} rounds alternating; "
        f"manifest GET: wrk -c{plan.wrk_connections} -t{plan.wrk_threads} -d{plan.wrk_seconds}s"
    )
    terminalreporter.write_line(side_by_side.format_table(FIGURES))
    report = side_by_side.write_report(FIGURES, Path(config.getoption("bench_report_dir")), asdict(plan))
    terminalreporter.write_line(f"figures: {report}")
