"""Result capture: each check's outcome, message and (on failure) HTTP exchanges, then the run's
reports at the end of the session (conformance.reports) and a short terminal summary."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator

import pytest

from conformance.harness.collection import requirement_ids
from conformance.harness.state import RECORDER, STATE, HarnessState
from conformance.harness.target import describe_target
from conformance.reports.model import RunResult, TestResult, judge_requirements
from conformance.reports.writers import write_reports
from keelhaul import __version__


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
    """The run as the reports see it: target, options, every check's result, a verdict per requirement."""
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


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
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
