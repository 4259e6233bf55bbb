"""Result capture: each check's outcome class (a failure judged by its requirement's level, see
conformance.outcomes), message and evidence, then the run's reports at the end of the session
(conformance.reports), a short terminal summary, and whether the run fails (--fail-on)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator, Iterable

import pytest

from conformance.harness.collection import requirement_ids
from conformance.harness.parallel import ship
from conformance.harness.state import RECORDER, SKIP_CLASS, STATE, HarnessState
from conformance.harness.target import describe_target
from conformance.outcomes import (
    ERROR,
    NOT_APPLICABLE,
    PASS,
    ROBUSTNESS,
    SKIP,
    WARN,
    NotApplicable,
    judge_exception,
    run_fails,
)
from conformance.reports.evidence import evidence_text
from conformance.reports.model import RunResult, TestResult, judge_requirements
from conformance.reports.writers import write_reports
from keelhaul import __version__

MEASURED_PREFIX = "measured:"  # record_property("measured:NAME", value): a figure the check measured


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    state = item.config.stash.get(STATE, None)
    if state is None:
        return report
    result = state.results.get(item.nodeid)
    if result is None:
        result = state.results[item.nodeid] = TestResult(
            nodeid=item.nodeid,
            name=item.name,
            requirements=requirement_ids(item),
            outcome=PASS,
            description=_description(item),
        )
    result.duration += report.duration
    scale = dict(item.user_properties).get("scale")  # set by a check that ran scaled down
    if scale:
        result.scale = str(scale)
    for name, value in item.user_properties:
        if isinstance(name, str) and name.startswith(MEASURED_PREFIX):
            result.measured[name.removeprefix(MEASURED_PREFIX)] = str(value)
    if report.skipped and result.outcome == PASS:
        raised = call.excinfo.value if call.excinfo is not None else None
        result.outcome = item.stash.get(
            SKIP_CLASS, NOT_APPLICABLE if isinstance(raised, NotApplicable) else SKIP
        )
        result.message = _skip_message(report)
    elif report.failed and result.outcome == PASS:
        _judge(state, item, call, report, result)
    report.keelhaul_class = result.outcome  # type: ignore[attr-defined]
    if state.lane > 0:  # a forked lane: lane 0 gathers and reports
        ship(state, report, result)
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


@pytest.hookimpl(trylast=True)  # after pytest tore down what an early stop (-x) left: its cleanup counts
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.target is None:
        return
    run = build_run(state)
    state.checks_duration = run.checks_duration  # the terminal says the figure the reports keep
    if state.report_root is not None and run.tests:
        state.report_dir = state.report_root / state.run_id
        write_reports(run, state.report_dir)
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and run.tests:
        failed = run_fails([t.outcome for t in run.tests], state.fail_on)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK


def build_run(state: HarnessState) -> RunResult:
    """The run as the reports see it: target, options, every check's result, a verdict per requirement.
    `duration` is the run's wall time (server start included); options' `workers` the processes
    checks ran in."""
    tests = list(state.results.values())
    finished = time.time()
    checks_duration = None if state.checks_started is None else finished - state.checks_started
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
            "workers": state.lanes,
        },
        tests=tests,
        requirements=judge_requirements(state.catalogue, tests),
        keelhaul_version=__version__,
        fail_on=list(state.fail_on),
        cleanup=cleanup,
        checks_duration=checks_duration,
    )


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.target is None or not state.results:
        return
    _write_summary(terminalreporter, state)
    where = f"{state.lanes} processes" if state.lanes > 1 else "one process"
    terminalreporter.write_line(
        f"run wall time: {time.time() - state.process_started:.2f} s ({where}, from the process start)"
    )
    if state.checks_duration is not None:
        lanes = f"in {state.lanes} lanes at once" if state.lanes > 1 else "in one lane"
        terminalreporter.write_line(
            f"checks: {state.checks_duration:.2f} s from the first one's start ({lanes})"
        )
    parts = check_time_by_part((test.nodeid, test.duration) for test in state.results.values())
    summed = " (each check's own time, summed over the lanes)" if state.lanes > 1 else ""
    terminalreporter.write_line(
        "time in checks: "
        + ", ".join(f"{part} {seconds:.2f} s ({count})" for part, (seconds, count) in parts.items())
        + summed
    )


PART_NAMES = {"oci": "OCI", "ghcr": "ghcr.io", "robustness": "robustness"}


def check_time_by_part(checks: Iterable[tuple[str, float | None]]) -> dict[str, tuple[float, int]]:
    """Seconds spent in each part of the suite's checks, from (node id, duration) pairs (setup, call
    and teardown, session content included where a check first asked for it), and how many checks:
    the OCI part of a run is what compares with the official OCI suite's run time. Parts are the
    suite's folders, named. The bench reads results.json through it too."""
    parts: dict[str, tuple[float, int]] = {name: (0.0, 0) for name in PART_NAMES.values()}
    for nodeid, duration in checks:
        folder = nodeid.split("/")[1] if nodeid.count("/") >= 2 else "other"
        name = PART_NAMES.get(folder, folder)
        seconds, count = parts.get(name, (0.0, 0))
        parts[name] = (seconds + (duration or 0.0), count + 1)
    return {name: figures for name, figures in parts.items() if figures[1]}


def _write_summary(terminalreporter: pytest.TerminalReporter, state: HarnessState) -> None:
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
