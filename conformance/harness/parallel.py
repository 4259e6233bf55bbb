"""Checks spread over worker processes (pytest-xdist, `keelhaul check --workers N`).

The controller process owns the target: it starts the embedded server (or probes the profile) once,
hands every worker the resolved profile, the run id and its lane of repository numbers, and writes the
reports. A worker only runs checks: it ships each check's result and what its cleanup did back on the
test report, and the controller gathers them, so reports, exchanges and the cleanup ledger read the
same as in a run inside one process.

A check marked `@pytest.mark.alone` runs while no other check runs: every check holds a shared lock on
a file of the run while it runs, an `alone` check an exclusive one.
"""

from __future__ import annotations

import contextlib
import fcntl
import pickle
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from conformance.harness.repos import CleanupOutcome
from conformance.harness.state import STATE, HarnessState
from conformance.harness.target import Target
from conformance.reports.model import TestResult

WORKER_INPUT = "keelhaul"
ALONE_MARK = "alone"
_LOCK_FILE = "checks.lock"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def worker_count(config: pytest.Config) -> int:
    """Worker processes of this run (0: checks run in the pytest process itself)."""
    if is_worker(config):
        return int(config.workerinput.get("workercount", 1))  # type: ignore[attr-defined]
    return int(getattr(config.option, "numprocesses", None) or 0)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Controller (xdist): what a worker needs to run checks against the target the controller owns."""
    state: HarnessState | None = node.config.stash.get(STATE, None)
    if state is None or state.target is None:
        return
    node.workerinput[WORKER_INPUT] = {
        "profile": pickle.dumps(state.target.profile),
        "embedded": state.target.embedded,
        "data_dir": str(state.target.data_dir) if state.target.data_dir is not None else None,
        "run_id": state.run_id,
        "lock": str(_lock_path(state)),
    }


def join_controller(config: pytest.Config, state: HarnessState) -> None:
    """Worker: take the controller's target, run id and this worker's lane of repository numbers."""
    given = config.workerinput.get(WORKER_INPUT)  # type: ignore[attr-defined]
    if given is None:  # the controller has no target (e.g. a usage error there)
        return
    data_dir = given["data_dir"]
    state.target = Target(
        profile=pickle.loads(given["profile"]),  # our own controller's bytes, over its own pipe
        data_dir=Path(data_dir) if data_dir else None,
        served_elsewhere=given["embedded"],
    )
    state.run_id = given["run_id"]
    state.lane = int(config.workerinput["workerid"].removeprefix("gw"))  # type: ignore[attr-defined]
    state.lanes = worker_count(config)
    state.lock_path = Path(given["lock"])


def _lock_path(state: HarnessState) -> Path:
    if state.lock_path is None:
        state.lock_path = Path(tempfile.mkdtemp(prefix="keelhaul-run-")) / _LOCK_FILE
        state.lock_path.touch()
    return state.lock_path


@contextlib.contextmanager
def check_lock(path: Path | None, alone: bool) -> Iterator[None]:
    """Shared for an ordinary check, exclusive for an `alone` one; nothing when checks run in one
    process (they already run one at a time)."""
    if path is None:
        yield
        return
    with path.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    state: HarnessState | None = item.config.stash.get(STATE, None)
    path = state.lock_path if state is not None and is_worker(item.config) else None
    alone = item.get_closest_marker(ALONE_MARK) is not None
    if alone and state is not None:
        for wait in state.background:
            wait()  # what a fixture left running in the background must not run beside it either
    with check_lock(path, alone):
        return (yield)


def ship(state: HarnessState, report: pytest.TestReport, result: TestResult) -> None:
    """Worker: put the check's result (so far) and the cleanup done since the last report on the report
    pytest-xdist sends to the controller (extra report attributes travel with it)."""
    report.keelhaul_result = asdict(result)  # type: ignore[attr-defined]
    fresh = state.cleanup[state.shipped_cleanup :]
    state.shipped_cleanup = len(state.cleanup)
    report.keelhaul_cleanup = [  # type: ignore[attr-defined]
        {"repo": outcome.repo, "items": outcome.ledger()} for outcome in fresh
    ]


class Gatherer:
    """Controller: the results and cleanup workers ship join the run's own (registered at configure;
    a run in one process records in makereport and ships nothing)."""

    def __init__(self, state: HarnessState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        shipped = getattr(report, "keelhaul_result", None)
        if shipped is None:
            return
        self.state.results[report.nodeid] = TestResult(**shipped)
        for entry in getattr(report, "keelhaul_cleanup", ()):
            outcome = CleanupOutcome(entry["repo"])
            for item in entry["items"]:
                outcome.record(item["kind"], item["name"], item["removed"], item["answer"], item["remedy"])
            self.state.cleanup.append(outcome)

    def pytest_unconfigure(self) -> None:
        """Remove the run's lock file and its folder."""
        path = self.state.lock_path
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
                path.parent.rmdir()
