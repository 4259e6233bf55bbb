"""The pytest plugin behind `pytest conformance` and `keelhaul check` (loaded by conformance/conftest.py).

It adds the options, registers the markers, resolves the target, decides skips from the markers
(conformance.harness.selection), records every check's HTTP exchanges, and writes the
reports at the end of the session (conformance.reports).
"""

from __future__ import annotations

import dataclasses
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
    decide,
    role_usable,
    unknown_names,
)
from conformance.harness.target import Target, describe_target, load_target
from conformance.outcomes import (
    ERROR,
    NOT_APPLICABLE,
    PASS,
    ROBUSTNESS,
    SKIP,
    WARN,
    NotApplicable,
    judge_exception,
    parse_fail_on,
    run_fails,
)
from conformance.reports.evidence import evidence_text
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
    fail_on: tuple[str, ...] = ()
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
SKIP_CLASS = pytest.StashKey[str]()


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
        "--probe",
        action="store_true",
        default=False,
        help="ask the target which optional features it has (referrers, deletes, mounts, single POST) "
        "and use the answers instead of the profile's [features]",
    )
    group.addoption(
        "--fail-on",
        default=None,
        metavar="CLASSES",
        help="outcome classes that fail the run (default: FAIL,ROBUSTNESS,ERROR; also WARN, N/A, "
        "SKIP, or none)",
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
        fail_on = parse_fail_on(config.getoption("--fail-on"))
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
        fail_on=fail_on,
    )
    config.stash[STATE] = state
    _keep_hypothesis_out_of_cwd()
    if hasattr(config, "workerinput"):
        return  # xdist workers: the controller owns the target and the reports
    try:
        state.target = load_target(config.getoption("--target"))
        if config.getoption("--probe"):
            probe_target(state)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None


def probe_target(state: HarnessState) -> None:
    """--probe: the features the target shows replace the profile's (each one noted in the reports)."""
    from conformance.probe import apply, probe

    assert state.target is not None
    profile = state.target.profile
    client = make_client(profile, "writer", transport=state.transport)
    try:
        findings = probe(client, profile.namespace)
    except (httpx.HTTPError, UsageError) as error:
        raise UsageError(f"--probe: the target at {profile.url} could not be probed: {error}") from None
    values, notes = apply(profile.features, findings)
    state.target.profile = dataclasses.replace(
        profile, features=dataclasses.replace(profile.features, **values)
    )
    state.target.notes += notes


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
        needs = Needs.from_marks(item.iter_markers("needs"), item.iter_markers("lacks"))
        unknown = unknown_names(needs, state.target.profile)
        problems += [f"{item.nodeid}: needs unknown {name}" for name in unknown]
        if unknown or state.catalogue.unknown(ids):
            continue
        products = tuple(state.catalogue[i].product or "" for i in ids)
        decision = decide(
            needs,
            state.target.profile,
            state.options,
            is_read_only_check=item.get_closest_marker("read_only") is not None,
            is_slow=item.get_closest_marker("slow") is not None,
            products=products if all(products) else (),
        )
        if decision:
            item.stash[SKIP_CLASS] = decision[0]
            item.add_marker(pytest.mark.skip(reason=decision[1]))
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
            outcome=PASS,
            description=_description(item),
        )
    result.duration += report.duration
    if report.skipped and result.outcome == PASS:
        raised = call.excinfo.value if call.excinfo is not None else None
        result.outcome = item.stash.get(
            SKIP_CLASS, NOT_APPLICABLE if isinstance(raised, NotApplicable) else SKIP
        )
        result.message = _skip_message(report)
    elif report.failed and result.outcome in (PASS,):
        _judge(state, item, call, report, result)
    report.keelhaul_class = result.outcome  # type: ignore[attr-defined]
    return report


def _judge(
    state: HarnessState,
    item: pytest.Item,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
    result: TestResult,
) -> None:
    """Class the failure: a finding (judged by its requirement's level) shows its evidence instead of
    Python; anything else is the suite breaking (ERROR) and keeps its traceback."""
    recorder = item.stash.get(RECORDER, None)
    if recorder is not None:
        result.exchanges = [exchange.to_dict() for exchange in recorder.exchanges]
    message = _failure_message(call, report)
    error = call.excinfo.value if call.excinfo is not None else None
    judgement = judge_exception(error, message, result.requirements, state.catalogue) if error else None
    result.outcome = judgement.outcome if judgement else ERROR
    result.message = message
    if judgement is not None and judgement.requirement is not None:
        requirement = state.catalogue[judgement.requirement]
        result.judged, result.level = requirement.id, requirement.level
        result.sentence, result.cited = requirement.quote or requirement.why, requirement.cited
    if result.outcome == ERROR:
        result.traceback = str(report.longrepr)[:20000]
        result.details = result.traceback
        return
    result.details = evidence_text(result)
    report.longrepr = result.details


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """The console shows the class: W for WARN, R for ROBUSTNESS, N for N/A (F, E and s as usual)."""
    outcome = getattr(report, "keelhaul_class", None)
    if report.failed and outcome == WARN:
        return "warn", "W", "WARN"
    if report.failed and outcome == ROBUSTNESS:
        return "robustness", "R", "ROBUSTNESS"
    if report.skipped and outcome == NOT_APPLICABLE:
        return "n/a", "N", "N/A"
    return None


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
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and run.tests:
        failed = run_fails([t.outcome for t in run.tests], state.fail_on)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK


def build_run(state: HarnessState) -> RunResult:
    tests = list(state.results.values())
    finished = time.time()
    assert state.target is not None
    target = describe_target(state.target)
    cleanup = [entry for outcome in state.cleanup for entry in outcome.ledger()]
    target["left_behind"] = [
        f"{e['repository']}: {e['kind']} {e['name']}" for e in cleanup if not e["removed"]
    ]
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
        fail_on=list(state.fail_on),
        cleanup=cleanup,
    )


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.target is None or not state.results:
        return
    tests = list(state.results.values())
    counts: dict[str, int] = {}
    for verdict in judge_requirements(state.catalogue, tests):
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    checks: dict[str, int] = {}
    for test in tests:
        checks[test.outcome] = checks.get(test.outcome, 0) + 1
    terminalreporter.write_sep("-", "keelhaul")
    terminalreporter.write_line("checks: " + ", ".join(f"{n} {c}" for c, n in sorted(checks.items())))
    terminalreporter.write_line("requirements: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    for test in tests:
        if test.outcome in (WARN, ROBUSTNESS):  # FAIL and ERROR are shown by pytest above
            terminalreporter.write_line(f"{test.outcome} {test.nodeid}: {test.message[:300]}")
    left = [item for outcome in state.cleanup for item in outcome.ledger() if not item["removed"]]
    created = sum(len(outcome.ledger()) for outcome in state.cleanup)
    if created:
        terminalreporter.write_line(f"cleanup: {created - len(left)} of {created} created items removed")
    remedies: dict[str, int] = {}
    for item in left:
        key = f"{item['kind']}: {item.get('remedy') or item['answer']}"
        remedies[key] = remedies.get(key, 0) + 1
    for key, n in remedies.items():
        terminalreporter.write_line(f"  left behind: {n} x {key}")
    fail_on = ", ".join(state.fail_on) or "nothing"
    terminalreporter.write_line(f"the run fails on: {fail_on} (--fail-on)")
    if state.report_dir is not None:
        terminalreporter.write_line(f"reports: {state.report_dir}")


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
    """Cancel, delete and record what was created under `names` (nothing is sent for a repository the
    record shows no write to); the ledger the reports show lists each item and whether it went. The
    embedded server's whole data directory is discarded at the end of the run instead."""
    created = [
        c
        for c in (created_in(name, exchanges) for name in names)
        if c.manifests or c.tags or c.blobs or c.sessions
    ]
    if not created:
        return
    if harness.target is not None and harness.target.embedded:
        for item in created:
            outcome = CleanupOutcome(item.repo)
            outcome.record(
                "repository", item.repo, True, "embedded server's data directory removed at the end"
            )
            harness.cleanup.append(outcome)
        return
    role = cleanup_role(target)
    if not role_usable(target, role):
        for item in created:
            outcome = CleanupOutcome(item.repo)
            outcome.record(
                "repository", item.repo, False, f"no credentials to delete with ({role})", "delete it by hand"
            )
            harness.cleanup.append(outcome)
        return
    cleaner = make_client(target, role, transport=harness.transport)
    for item in created:
        harness.cleanup.append(clean_repository(cleaner, item, target.kind))
