"""What checks running in several processes (lanes.py) need besides the forking: `alone` checks and
the trip of a check's result to lane 0.

Lane 0 owns the target and writes the reports. Every other lane ships each check's result and what its
cleanup did on the check's report, and lane 0 gathers them, so reports, exchanges and the cleanup
ledger read the same as in a run inside one process.

A check marked `@pytest.mark.alone` runs while no other check runs: every check holds a shared lock on
a file of the run while it runs, an `alone` check an exclusive one.
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from conformance.harness.repos import CleanupOutcome
from conformance.harness.state import STATE, HarnessState
from conformance.reports.model import TestResult

ALONE_MARK = "alone"
GATHERER = "keelhaul-gatherer"  # the Gatherer's plugin name
_LOCK_FILE = "checks.lock"


def make_lock_file(state: HarnessState) -> None:
    """Lane 0, before any lane forks: the file every lane's checks lock."""
    if state.lock_path is None:
        state.lock_path = Path(tempfile.mkdtemp(prefix="keelhaul-run-")) / _LOCK_FILE
        state.lock_path.touch()


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
    path = state.lock_path if state is not None else None  # a lock file only when lanes share the run
    alone = item.get_closest_marker(ALONE_MARK) is not None
    if alone and state is not None:
        for wait in state.background:
            wait()  # what a fixture left running in the background must not run beside it either
    with check_lock(path, alone):
        return (yield)


def ship(state: HarnessState, report: pytest.TestReport, result: TestResult) -> None:
    """A forked lane: put the check's result (so far) and the cleanup done since the last report on the
    report the lane sends to lane 0 (extra report attributes travel with it)."""
    report.keelhaul_result = asdict(result)  # type: ignore[attr-defined]
    fresh = state.cleanup[state.shipped_cleanup :]
    state.shipped_cleanup = len(state.cleanup)
    report.keelhaul_cleanup = [  # type: ignore[attr-defined]
        {"repo": outcome.repo, "items": outcome.ledger()} for outcome in fresh
    ]


class Gatherer:
    """Lane 0: the results and cleanup the other lanes ship join the run's own (registered at
    configure; a run in one process records in makereport and ships nothing)."""

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
