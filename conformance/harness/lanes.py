"""Checks in several processes forked from this one after collection (`--workers N`, and the default
run against the embedded server on a machine with two cores or more).

Each check is independent (its own repositories, its own fixtures), so the run can spread them over
processes. Forked after collection, a lane starts with everything this process already has (imports,
the target, the collected checks): nothing is imported or collected twice. Lanes take checks one at a
time from a shared queue (a pipe holding each check's index), so a lane that drew slow checks simply
takes fewer; every lane keeps the next check it drew before finishing the current one, so pytest tears
down only what that next check does not share.

The parent is lane 0: it runs checks too, and between them shows what the other lanes report, through
pytest's own hooks, as if it had run them (the terminal, the results the reports are built from, the
cleanup ledger: parallel.ship puts a check's result and cleanup on its report). A lane that dies is
reported: every check it had started without finishing is an ERROR with the lane's exit status.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import pytest

from conformance.harness.collection import requirement_ids
from conformance.harness.parallel import GATHERER
from conformance.harness.state import STATE, HarnessState
from conformance.outcomes import ERROR
from conformance.reports.model import TestResult

_INDEX = struct.Struct("<I")
_LENGTH = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # room for a lane's reports while lane 0 is busy with a check of its own


class CheckQueue:
    """The index of every check to run, in collection order, in a pipe every lane reads from: a
    4-byte read from a pipe is never split between two readers, so each check goes to one lane."""

    def __init__(self, count: int) -> None:
        self._read, write = os.pipe()
        with contextlib.suppress(OSError):  # Linux: room for every index before anyone reads
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, max(4096, _INDEX.size * count))
        try:
            for index in range(count):
                os.write(write, _INDEX.pack(index))
        finally:
            os.close(write)

    def take(self) -> int | None:
        """The next check's index, or None when none is left."""
        data = os.read(self._read, _INDEX.size)
        return _INDEX.unpack(data)[0] if len(data) == _INDEX.size else None

    def empty(self) -> None:
        """Take every check still queued, so that no lane draws another (the run stops early)."""
        while self.take() is not None:
            pass

    def close(self) -> None:
        os.close(self._read)


def _drawn(queue: CheckQueue, items: list[pytest.Item]) -> Iterator[tuple[pytest.Item, pytest.Item | None]]:
    """Each check this lane draws, with the one it drew next (None after the last)."""
    index = queue.take()
    while index is not None:
        following = queue.take()
        yield items[index], None if following is None else items[following]
        index = following


def _run_lane(session: pytest.Session, queue: CheckQueue, between: Callable[[], None] | None = None) -> None:
    """Run the checks this lane draws; `between` runs after each (lane 0 shows the others' reports)."""
    for item, nextitem in _drawn(queue, session.items):
        item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        if between is not None:
            between()
        if session.shouldfail or session.shouldstop:
            break


# ------------------------------------------------------------------------------------------------ child


class _Sender:
    """In a forked lane: what pytest would show about each check goes to lane 0 instead."""

    def __init__(self, config: pytest.Config, fd: int) -> None:
        self.config = config
        self.fd = fd

    def send(self, message: tuple[object, ...]) -> None:
        data = pickle.dumps(message)
        view = memoryview(_LENGTH.pack(len(data)) + data)
        while view:
            view = view[os.write(self.fd, view) :]

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send(("start", nodeid, location))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        self.send(("report", data))

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.send(("finish", nodeid, location))


def _lane_child(session: pytest.Session, state: HarnessState, lane: int, queue: CheckQueue, fd: int) -> None:
    """A forked lane's whole life: run what it draws, send what pytest reports, exit. Never returns."""
    code = 0
    sender: _Sender | None = None
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # lane 0 handles an interrupt and stops the lanes
        config = session.config
        state.lane = lane  # from here its results travel on its reports to lane 0 (results.py)
        if state.target is not None:
            state.target.serve_lane(lane)
        state.shipped_cleanup = len(state.cleanup)
        state.forget_transport()  # the parent's connections stay the parent's
        _own_capture(config)
        for name in ("terminalreporter", GATHERER):  # lane 0 shows and gathers what this lane sends
            plugin = config.pluginmanager.get_plugin(name)
            if plugin is not None:
                config.pluginmanager.unregister(plugin)
        sender = _Sender(config, fd)
        config.pluginmanager.register(sender, "keelhaul-lane-sender")
        _run_lane(session, queue)  # stopping early (-x), pytest tears everything down after that check
        sender.send(("done",))
    except BaseException as error:  # the harness itself broke here: lane 0 reports it with the checks
        code = 1
        if sender is not None:
            with contextlib.suppress(Exception):
                sender.send(("broken", f"{type(error).__name__}: {error}"))
    finally:
        os._exit(code)


def _own_capture(config: pytest.Config) -> None:
    """The lane's own capture files: the ones pytest opened before the fork are shared with lane 0,
    and two processes reading and truncating one file would mix their checks' output."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None or not capture.is_globally_capturing():
        return
    capture.stop_global_capturing()
    capture.start_global_capturing()


# ------------------------------------------------------------------------------------------------ parent


@dataclass
class _Lane:
    lane: int
    pid: int
    fd: int
    buffer: bytearray = field(default_factory=bytearray)
    done: bool = False
    open: bool = True
    broken: str = ""  # what stopped the lane, when the harness broke in it


class _Receiver:
    """Lane 0: reads what the forked lanes send and replays it through pytest's hooks."""

    def __init__(self, config: pytest.Config, lanes: list[_Lane]) -> None:
        self.config = config
        self.lanes = lanes
        for lane in lanes:
            os.set_blocking(lane.fd, False)

    def poll(self, timeout: float = 0.0) -> None:
        readable = [lane.fd for lane in self.lanes if lane.open]
        if not readable:
            return
        ready, _, _ = select.select(readable, [], [], timeout)
        for lane in self.lanes:
            if lane.fd in ready:
                self._read(lane)

    def drain(self) -> None:
        while any(lane.open for lane in self.lanes):
            self.poll(timeout=1.0)

    def _read(self, lane: _Lane) -> None:
        while True:
            try:
                chunk = os.read(lane.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                lane.open = False
                os.close(lane.fd)
                break
            lane.buffer += chunk
        while len(lane.buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(lane.buffer)
            end = _LENGTH.size + length
            if len(lane.buffer) < end:
                break
            message = pickle.loads(bytes(lane.buffer[_LENGTH.size : end]))  # our own fork's bytes
            del lane.buffer[:end]
            self._replay(lane, message)

    def _replay(self, lane: _Lane, message: tuple[object, ...]) -> None:
        hook = self.config.hook
        kind = message[0]
        if kind == "start":
            hook.pytest_runtest_logstart(nodeid=message[1], location=message[2])
        elif kind == "report":
            report = hook.pytest_report_from_serializable(config=self.config, data=message[1])
            hook.pytest_runtest_logreport(report=report)
        elif kind == "finish":
            hook.pytest_runtest_logfinish(nodeid=message[1], location=message[2])
        elif kind == "done":
            lane.done = True
        elif kind == "broken":
            lane.broken = str(message[1])


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"


def _report_lost(session: pytest.Session, state: HarnessState, died: list[str]) -> None:
    """Lanes exited before they finished: each check no lane reported is an ERROR saying so (a check
    the lane had started, or one it had drawn and not started)."""
    message = f"not run to its end: {'; '.join(died)}"
    hook = session.config.hook
    for item in session.items:
        if item.nodeid in state.results:
            continue
        result = TestResult(
            nodeid=item.nodeid,
            name=item.name,
            requirements=requirement_ids(item),
            outcome=ERROR,
            message=message,
            details=message,
        )
        report = pytest.TestReport(item.nodeid, item.location, {}, "failed", message, "call")
        report.keelhaul_result = asdict(result)  # type: ignore[attr-defined]
        report.keelhaul_cleanup = []  # type: ignore[attr-defined]
        hook.pytest_runtest_logreport(report=report)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    state: HarnessState | None = session.config.stash.get(STATE, None)
    if state is not None:
        state.checks_started = time.time()
    if state is None or state.lanes <= 1 or not session.items or session.config.option.collectonly:
        return None  # pytest's own loop
    if session.testsfailed and not session.config.option.continue_on_collection_errors:
        return None  # pytest's own loop stops the run on the collection errors
    queue = CheckQueue(len(session.items))
    lanes: list[_Lane] = []
    try:
        for number in range(1, state.lanes):
            read, write = os.pipe()
            with contextlib.suppress(OSError):
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            pid = os.fork()
            if pid == 0:
                os.close(read)
                for lane in lanes:
                    os.close(lane.fd)
                _lane_child(session, state, number, queue, write)
            os.close(write)
            lanes.append(_Lane(number, pid, read))
        receiver = _Receiver(session.config, lanes)
        _run_lane(session, queue, between=receiver.poll)
        queue.empty()  # stopped early (-x, --maxfail; lane 0 counts every lane's failures): no more checks
        receiver.drain()
        died = []
        for lane in lanes:
            _, status = os.waitpid(lane.pid, 0)
            lane.pid = 0
            if not lane.done:
                why = f" ({lane.broken})" if lane.broken else ""
                died.append(f"the process of lane {lane.lane} exited with {_exit_text(status)}{why}")
        if died:
            _report_lost(session, state, died)
    finally:
        queue.close()
        for lane in lanes:
            if lane.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(lane.pid, signal.SIGTERM)
                os.waitpid(lane.pid, 0)
            if lane.open:
                os.close(lane.fd)
    order = {item.nodeid: number for number, item in enumerate(session.items)}
    state.results = dict(sorted(state.results.items(), key=lambda entry: order.get(entry[0], len(order))))
    return True
