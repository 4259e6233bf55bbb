"""The pytest plugin behind `pytest conformance` and `keelhaul check` (loaded by conformance/conftest.py).

It adds the options, registers the markers, resolves the target, decides skips from the markers
(conformance.harness.selection), records every check's HTTP exchanges, and writes the
reports at the end of the session (conformance.reports).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.catalogue import Catalogue, load_catalogue
from conformance.harness.repos import CleanupOutcome, RepoNamer, clean_repository, created_in
from conformance.harness.selection import (
    MARKERS,
    Needs,
    RunOptions,
    role_usable,
    skip_reason,
    unknown_names,
)
from conformance.harness.target import Target, describe_target, load_target
from conformance.reports.model import RunResult, TestResult, judge_requirements
from conformance.reports.writers import write_reports
from keelhaul import __version__
from keelhaul.client import ExchangeRecorder, RegistryClient
from keelhaul.errors import UsageError

RECORDER_LIMIT = 400  # exchanges kept per check; a failure shows the last ones


@dataclass
class HarnessState:
    """Everything the harness keeps for one session (in config.stash, never in module globals)."""

    catalogue: Catalogue
    options: RunOptions
    run_id: str
    report_root: Path | None
    target: Target | None = None
    started: float = field(default_factory=time.time)
    results: dict[str, TestResult] = field(default_factory=dict)
    cleanup: list[CleanupOutcome] = field(default_factory=list)
    report_dir: Path | None = None
    selection: str | None = None
    _transport: httpx.HTTPTransport | None = None

    @property
    def transport(self) -> httpx.HTTPTransport:
        """The connection pool every client of the run shares (see make_client)."""
        if self._transport is None:
            verify = self.target.profile.tls_verify if self.target is not None else True
            self._transport = httpx.HTTPTransport(verify=verify)
        return self._transport


STATE = pytest.StashKey[HarnessState]()
RECORDER = pytest.StashKey[ExchangeRecorder]()


def new_run_id() -> str:
    """Lowercase and name-grammar safe, so it can sit inside repository names."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dt%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keelhaul", "keelhaul conformance")
    group.addoption(
        "--target",
        default=None,
        metavar="PROFILE",
        help="target profile (TOML/YAML); default: start the embedded reference server",
    )
    group.addoption(
        "--read-only",
        action="store_true",
        default=False,
        help="only pull and list the content the profile's [read_only] section names",
    )
    group.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run slow checks (real 10 GB / 600 s limits)",
    )
    group.addoption(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="reports go to DIR/<run-id>/ (default: reports); 'none' writes nothing",
    )
    group.addoption(
        "--run-id",
        default=None,
        metavar="ID",
        help="run identifier (default: UTC timestamp + random); names the report folder "
        "and the repositories the run creates",
    )


def _harness(config: pytest.Config) -> HarnessState:
    return config.stash[STATE]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    run_id = config.getoption("--run-id") or new_run_id()
    if not _valid_run_id(run_id):
        raise pytest.UsageError(f"--run-id {run_id!r}: use lowercase letters, digits, '.', '_' or '-'")
    report_dir = config.getoption("--report-dir")
    try:
        catalogue = load_catalogue()
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    state = HarnessState(
        catalogue=catalogue,
        options=RunOptions(
            read_only=config.getoption("--read-only"), run_slow=config.getoption("--run-slow")
        ),
        run_id=run_id,
        report_root=None if str(report_dir).lower() == "none" else Path(report_dir),
        selection=config.getoption("keyword", None) or None,
    )
    config.stash[STATE] = state
    _keep_hypothesis_out_of_cwd()
    if hasattr(config, "workerinput"):
        return  # xdist workers: the controller owns the target and the reports
    try:
        state.target = load_target(config.getoption("--target"))
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None


def _keep_hypothesis_out_of_cwd() -> None:
    """hypothesis keeps a cache in ./.hypothesis (rebuilding it costs ~30 s here); a conformance run must
    leave nothing in the user's directory, so the cache lives in $XDG_CACHE_HOME/keelhaul/hypothesis
    unless the user chose a place."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    set_hypothesis_home_dir(Path(base) / "keelhaul" / "hypothesis")


def _valid_run_id(run_id: str) -> bool:
    from keelhaul.client.grammar import is_valid_name

    return is_valid_name(f"keelhaul-{run_id}-1")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state._transport is not None:
        state._transport.close()
    if state is not None and state.target is not None:
        state.target.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or state.target is None:
        return []
    profile = state.target.profile
    lines = [f"keelhaul target: {profile.name} ({profile.kind}) at {profile.url}; run {state.run_id}"]
    lines += [f"keelhaul note: {note}" for note in state.target.notes]
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _harness(config)
    problems = []
    for item in items:
        ids = _requirement_ids(item)
        if not ids:
            problems.append(f'{item.nodeid}: names no requirement (add @pytest.mark.req("ID"))')
        for unknown in state.catalogue.unknown(ids):
            problems.append(f"{item.nodeid}: requirement {unknown} is not in requirements.toml")
        for requirement_id in ids:
            item.user_properties.append(("requirement", requirement_id))
        if state.target is None:
            continue
        needs = Needs.from_marks(item.iter_markers("needs"))
        unknown = unknown_names(needs, state.target.profile)
        problems += [f"{item.nodeid}: needs unknown {name}" for name in unknown]
        if unknown:
            continue
        reason = skip_reason(
            needs,
            state.target.profile,
            state.options,
            is_read_only_check=item.get_closest_marker("read_only") is not None,
            is_slow=item.get_closest_marker("slow") is not None,
        )
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    if problems:
        raise pytest.UsageError("bad check metadata:\n  " + "\n  ".join(problems))
    if state.target is not None and any(_talks_to_registry(item) for item in items):
        preflight(state)


def _requirement_ids(item: pytest.Item) -> list[str]:
    return [i for mark in item.iter_markers("req") for i in mark.args]


NETWORK_FIXTURES = frozenset({"client_for", "session_repo"})  # every registry client comes from these


def _talks_to_registry(item: pytest.Item) -> bool:
    uses = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("skip") is None and bool(NETWORK_FIXTURES & uses)


def preflight(state: HarnessState) -> None:
    """One GET /v2/ before any check: an unreachable target is one line, not a traceback per check."""
    assert state.target is not None
    url = state.target.profile.url
    probe = httpx.Client(transport=state.transport, timeout=10)  # not closed: that would close the pool
    try:
        probe.get(f"{url}/v2/")
    except httpx.TransportError as error:
        reason = f"{type(error).__name__}: {error}"
        raise pytest.UsageError(f"cannot reach the target at {url}: {reason}") from None


# ---- result capture --------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    state = item.config.stash.get(STATE, None)
    if state is None:
        return report
    result = state.results.get(item.nodeid)
    if result is None:
        result = state.results[item.nodeid] = TestResult(
            nodeid=item.nodeid,
            name=item.name,
            requirements=_requirement_ids(item),
            outcome="passed",
            description=_description(item),
        )
    result.duration += report.duration
    recorder = item.stash.get(RECORDER, None)
    if report.skipped and result.outcome == "passed":
        result.outcome = "skipped"
        result.message = _skip_message(report)
    elif report.failed:
        failed_in_call = report.when == "call"
        if result.outcome not in ("failed", "error"):
            result.outcome = "failed" if failed_in_call else "error"
            result.message = _failure_message(call, report)
            result.details = str(report.longrepr)[:20000]
        if recorder is not None and not result.exchanges:
            result.exchanges = [exchange.to_dict() for exchange in recorder.exchanges]
        if recorder is not None and recorder.exchanges:
            report.sections.append(("HTTP exchanges", "\n".join(e.summary() for e in recorder.exchanges)))
    return report


def _description(item: pytest.Item) -> str:
    """The check's promise: the first paragraph of its docstring, on one line."""
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _skip_message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _failure_message(call: pytest.CallInfo[None], report: pytest.TestReport) -> str:
    if call.excinfo is not None:
        text = call.excinfo.exconly().removeprefix("AssertionError: ").removeprefix("Failed: ")
        return text.strip().splitlines()[0] if text.strip() else call.excinfo.typename
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else "failed"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.target is None or hasattr(session.config, "workerinput"):
        return
    run = build_run(state)
    if state.report_root is not None and run.tests:
        state.report_dir = state.report_root / state.run_id
        write_reports(run, state.report_dir)


def build_run(state: HarnessState) -> RunResult:
    tests = list(state.results.values())
    finished = time.time()
    assert state.target is not None
    target = describe_target(state.target)
    target["left_behind"] = [f"{c.repo}: {item}" for c in state.cleanup for item in c.left]
    return RunResult(
        run_id=state.run_id,
        target=target,
        started=_iso(state.started),
        finished=_iso(finished),
        duration=finished - state.started,
        options={
            "read_only": state.options.read_only,
            "run_slow": state.options.run_slow,
            "selection": state.selection,
        },
        tests=tests,
        requirements=judge_requirements(state.catalogue, tests),
        keelhaul_version=__version__,
    )


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.report_dir is None:
        return
    counts: dict[str, int] = {}
    for verdict in judge_requirements(state.catalogue, list(state.results.values())):
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    terminalreporter.write_sep("-", "keelhaul")
    terminalreporter.write_line(f"requirements: {summary}")
    terminalreporter.write_line(f"reports: {state.report_dir}")
    for cleanup in state.cleanup:
        for item in cleanup.left:
            terminalreporter.write_line(f"left behind in {cleanup.repo}: {item}")


# ---- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def harness(request: pytest.FixtureRequest) -> HarnessState:
    return _harness(request.config)


@pytest.fixture(scope="session")
def target(harness: HarnessState) -> Any:
    """The TargetProfile of the registry under test."""
    assert harness.target is not None
    return harness.target.profile


@pytest.fixture(autouse=True)
def exchange_recorder(request: pytest.FixtureRequest) -> ExchangeRecorder:
    """Every client a check makes records here; a failure's report shows these exchanges."""
    recorder = ExchangeRecorder(limit=RECORDER_LIMIT)
    request.node.stash[RECORDER] = recorder
    return recorder


def make_client(
    profile: Any,
    role: str,
    recorder: ExchangeRecorder | None = None,
    transport: httpx.HTTPTransport | None = None,
) -> RegistryClient:
    """The client for `role`; on a target without auth a role without credentials acts anonymously.
    A role that cannot act skips the check with the profile's reason. Clients of one run share one
    transport (connection pool): creating an httpx client builds an SSL context, ~0.1 s each here,
    which would cost seconds over a run. Never close such a client; the harness closes the transport."""
    if not profile.has_role(role):
        if not role_usable(profile, role):
            pytest.skip(f"role {role!r} unavailable: {profile.role_unavailable_reason(role)}")
        role = "anonymous"
    return RegistryClient(
        profile.url,
        credentials=profile.credentials(role),
        recorder=recorder,
        verify=profile.tls_verify,
        transport=transport,
    )


@pytest.fixture
def client_for(
    harness: HarnessState, target: Any, exchange_recorder: ExchangeRecorder
) -> Callable[[str], RegistryClient]:
    """`client_for(role)`: a client acting as that role (anonymous: no credentials), recording into the
    check's exchanges. Checks that depend on the identity declare `needs(role=...)` so a profile
    without that role skips them; here a role without credentials acts anonymously."""

    def factory(role: str = "writer") -> RegistryClient:
        return make_client(target, role, exchange_recorder, harness.transport)

    return factory


@pytest.fixture
def client(client_for: Callable[[str], RegistryClient]) -> RegistryClient:
    """The writer's client: what most OCI checks use."""
    return client_for("writer")


@pytest.fixture
def deleting_client(client_for: Callable[[str], RegistryClient], target: Any) -> RegistryClient:
    """A client allowed to delete what the writer pushed (see cleanup_role)."""
    return client_for(cleanup_role(target))


def cleanup_role(profile: Any) -> str:
    """Who deletes what the suite created: the admin (on ghcr.io only a package admin holding
    delete:packages may delete), else the deleter, else the writer (targets without auth)."""
    for role in ("admin", "deleter"):
        if profile.has_role(role):
            return role
    return "writer"


@pytest.fixture(scope="session")
def repo_namer(harness: HarnessState, target: Any) -> RepoNamer:
    return RepoNamer(target.namespace, harness.run_id)


@pytest.fixture
def new_repo(
    harness: HarnessState, target: Any, repo_namer: RepoNamer, exchange_recorder: ExchangeRecorder
) -> Iterator[Callable[..., str]]:
    """`new_repo()`: a fresh `<namespace>/keelhaul-<run-id>-<n>` name (`new_repo("release")` nests
    one more component under it); what the check stores there is deleted after it (read from its
    recorded exchanges)."""
    names: list[str] = []

    def factory(nested: str | None = None) -> str:
        name = repo_namer.next() + (f"/{nested}" if nested else "")
        names.append(name)
        return name

    yield factory
    clean_up(harness, target, names, exchange_recorder.exchanges)


@pytest.fixture(scope="session")
def session_repo(
    harness: HarnessState, target: Any, repo_namer: RepoNamer
) -> Iterator[Callable[[], tuple[str, RegistryClient]]]:
    """For session-scoped content shared by read-only checks: `session_repo()` gives a fresh name and
    a writer client that records into a session recorder; everything is removed at session end."""
    recorder = ExchangeRecorder(limit=None)
    names: list[str] = []

    def factory() -> tuple[str, RegistryClient]:
        name = repo_namer.next()
        names.append(name)
        return name, make_client(target, "writer", recorder, harness.transport)

    yield factory
    clean_up(harness, target, names, recorder.exchanges)


def clean_up(harness: HarnessState, target: Any, names: list[str], exchanges: list[Any]) -> None:
    """Delete what was created under `names` (nothing is sent for a repository the record shows no
    write to); what cannot be deleted is kept in the ledger the reports show. The embedded server's
    whole data directory is discarded at the end of the run, so nothing is deleted one by one there."""
    if harness.target is not None and harness.target.embedded:
        return
    created = [c for c in (created_in(name, exchanges) for name in names) if c.manifests or c.tags or c.blobs]
    if not created:
        return
    role = cleanup_role(target)
    if not role_usable(target, role):
        harness.cleanup += [
            CleanupOutcome(c.repo, left=[f"no credentials to delete with ({role})"]) for c in created
        ]
        return
    cleaner = make_client(target, role, transport=harness.transport)
    for item in created:
        harness.cleanup.append(clean_repository(cleaner, item))
