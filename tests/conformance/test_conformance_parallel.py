"""Checks in several processes (conformance/harness/lanes.py, parallel.py): results, exchanges and the
cleanup ledger reach lane 0's reports as in a run inside one process; repository names never collide
across lanes; an `alone` check excludes every other check; a lane that dies leaves ERRORs, never a
check quietly missing. No timing is asserted."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import pytest

from conformance.harness.parallel import Gatherer, check_lock, ship
from conformance.harness.repos import CleanupOutcome, RepoNamer
from conformance.harness.selection import RunOptions
from conformance.harness.state import HarnessState
from conformance.reports.model import TestResult
from tests.conformance.test_conformance_harness import CHECKS, setup

pytest_plugins = ["pytester"]


def test_lanes_hand_out_disjoint_names_of_one_shape():
    lanes = [RepoNamer("ns", "r1", lane, 3) for lane in range(3)]
    names = [namer.next() for namer in lanes for _ in range(4)]
    assert len(set(names)) == 12
    assert sorted(int(name.rsplit("-", 1)[1]) for name in names) == list(range(1, 13))
    assert RepoNamer("ns", "r1").next() == "ns/keelhaul-r1-1"


def _held_elsewhere(path: Path, mode: int) -> bool:
    """True when another open of the file cannot take `mode` now (flock locks are per open file)."""
    with path.open("rb") as other:
        try:
            fcntl.flock(other, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(other, fcntl.LOCK_UN)
        return False


def test_ordinary_checks_share_the_lock_and_an_alone_check_excludes_them(tmp_path):
    path = tmp_path / "checks.lock"
    path.touch()
    with check_lock(path, alone=False):
        assert not _held_elsewhere(path, fcntl.LOCK_SH)  # another ordinary check may run
        assert _held_elsewhere(path, fcntl.LOCK_EX)  # an alone check waits
    with check_lock(path, alone=True):
        assert _held_elsewhere(path, fcntl.LOCK_SH)  # every other check waits
    assert not _held_elsewhere(path, fcntl.LOCK_EX)  # released
    with check_lock(None, alone=True):  # one process: checks already run one at a time
        pass


def _state() -> HarnessState:
    from conformance.catalogue import load_catalogue

    return HarnessState(catalogue=load_catalogue(), options=RunOptions(), run_id="r1", report_root=None)


def test_a_shipped_result_and_cleanup_survive_the_trip_to_the_controller():
    worker, controller = _state(), _state()
    outcome = CleanupOutcome("ns/keelhaul-r1-2")
    outcome.record("manifest", "sha256:" + "a" * 64, True, "DELETE 202")
    outcome.record("blob", "sha256:" + "b" * 64, False, "DELETE 405", "garbage-collect it")
    worker.cleanup.append(outcome)
    result = TestResult(
        nodeid="t.py::test_x",
        name="test_x",
        requirements=["OCI-PUSH-6"],
        outcome="FAIL",
        message="OCI-PUSH-6: expected 416, got 202",
        exchanges=[{"method": "PATCH", "url": "http://r/v2/x", "status": 202}],
        judged="OCI-PUSH-6",
    )
    report = pytest.TestReport("t.py::test_x", ("t.py", 1, "test_x"), {}, "failed", None, "call")
    ship(worker, report, result)
    travelled = pytest.TestReport._from_json(json.loads(json.dumps(report._to_json())))  # as a lane sends it
    Gatherer(controller).pytest_runtest_logreport(travelled)
    assert controller.results["t.py::test_x"] == result
    [gathered] = controller.cleanup
    assert gathered.ledger() == outcome.ledger() and gathered.left == outcome.left
    ship(worker, report, result)  # the next report carries only what is new
    assert report.keelhaul_cleanup == []  # type: ignore[attr-defined]


PARALLEL_CHECKS = (
    CHECKS.replace(
        "def test_new_repo_names", '@pytest.mark.req("PUSH-1")\n@pytest.mark.alone\ndef test_new_repo_names'
    )
    + """    import os
    names = [new_repo() for _ in range(3)]
    with open(os.path.join(os.environ["NAMES_DIR"], f"{os.getpid()}-a"), "w") as out:
        out.write("\\n".join(names))

@pytest.mark.req("PUSH-1")
def test_more_names(new_repo):
    import os
    names = [new_repo() for _ in range(3)]
    with open(os.path.join(os.environ["NAMES_DIR"], f"{os.getpid()}-b"), "w") as out:
        out.write("\\n".join(names))
"""
)


def test_a_run_in_two_lanes_reports_like_one_process(pytester, monkeypatch):
    names_dir = pytester.path / "names"
    names_dir.mkdir()
    monkeypatch.setenv("NAMES_DIR", str(names_dir))
    args = setup(pytester, PARALLEL_CHECKS)
    result = pytester.runpytest_subprocess(*args, "--workers", "2")
    assert result.parseoutcomes() == {"passed": 5, "failed": 1, "skipped": 2, "n": 1}  # "1 n/a"
    result.stdout.fnmatch_lines(["*run wall time: * s (2 processes, from the process start)*"])
    document = json.loads((pytester.path / "reports" / "t1" / "results.json").read_text())
    assert document["options"]["workers"] == 2
    tests = [t["name"] for t in document["tests"]]
    assert tests == sorted(tests, key=CHECK_ORDER.index)  # collection order, whichever lane ran what
    tests_by_name = {t["name"]: t for t in document["tests"]}
    assert len(tests_by_name) == 9
    failed = tests_by_name["test_fails_with_exchange"]
    assert failed["outcome"] == "FAIL" and failed["judged"] == "OCI-PUSH-6"
    assert failed["exchanges"][0]["response_headers"] == {"range": "0-4"}
    assert tests_by_name["test_needs_missing_role"]["outcome"] == "SKIP"
    assert tests_by_name["test_needs_missing_feature"]["outcome"] == "N/A"
    names = [name for file in names_dir.iterdir() for name in file.read_text().split("\n")]
    assert len(names) == 6 and len(set(names)) == 6
    assert all(name.startswith("ns/keelhaul-t1-") for name in names)


CHECK_ORDER = [
    "test_passes", "test_needs_what_it_has", "test_needs_missing_feature", "test_needs_missing_role",
    "test_slow", "test_reads_only", "test_fails_with_exchange", "test_new_repo_names", "test_more_names",
]  # fmt: skip

DYING_LANE = """
import os
import time

import pytest


@pytest.mark.req("PUSH-1")
@pytest.mark.parametrize("n", range(20))
def test_dies_outside_lane_0(harness, n):
    if harness.lane > 0:
        os._exit(3)
    time.sleep(0.05)  # lane 0 leaves the other lane time to draw checks
"""


@pytest.mark.parametrize(
    ("death", "said"),
    [
        ("os._exit(3)", "lane 1 exited with status 3"),
        ('raise KeyboardInterrupt("the harness broke")', "status 1 (KeyboardInterrupt: the harness broke)"),
    ],
    ids=["killed", "harness-broke"],
)
def test_a_lane_that_dies_leaves_errors_not_gaps(pytester, death, said):
    args = setup(pytester, DYING_LANE.replace("os._exit(3)", death))
    result = pytester.runpytest_subprocess(*args, "--workers", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    document = json.loads((pytester.path / "reports" / "t1" / "results.json").read_text())
    outcomes = {t["nodeid"]: t for t in document["tests"]}
    assert len(outcomes) == 20  # every check has a result: run in lane 0, or an ERROR
    lost = [t for t in outcomes.values() if t["outcome"] == "ERROR"]
    assert lost and all(said in t["message"] for t in lost), [t["message"] for t in lost]
    assert {t["outcome"] for t in outcomes.values()} <= {"PASS", "ERROR"}


FAILING_CHECKS = """
import time

import pytest


@pytest.mark.req("PUSH-1")
@pytest.mark.parametrize("n", range(40))
def test_fails_in_lane_0(harness, n):
    time.sleep(0.02)
    assert harness.lane > 0, "PUSH-1: fails on purpose"  # other lanes never stop by themselves
"""


def test_stopping_at_the_first_failure_stops_every_lane(pytester):
    args = setup(pytester, FAILING_CHECKS)
    result = pytester.runpytest_subprocess(*args, "--workers", "2", "-x")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    document = json.loads((pytester.path / "reports" / "t1" / "results.json").read_text())
    assert 1 <= len(document["tests"]) <= 10  # the failure, and what the other lane held when it came


LANE_STOPPING_WITH_CONTENT = """
import time

import pytest
from conformance.harness.repos import CleanupOutcome


@pytest.fixture(scope="session")
def lane_content(harness):
    yield
    outcome = CleanupOutcome(f"ns/keelhaul-t1-lane-{harness.lane}")
    outcome.record("repository", outcome.repo, False, "kept on purpose", "delete it by hand")
    harness.cleanup.append(outcome)


@pytest.mark.req("PUSH-1")
@pytest.mark.parametrize("n", range(40))
def test_stops_its_lane_holding_session_content(harness, lane_content, n):
    if harness.lane == 0:
        time.sleep(0.05)  # lane 0 never fails: it stops for lane 1's failure (--maxfail counts every lane's)
        return
    assert False, "PUSH-1: fails on purpose"
"""


def test_stopping_early_keeps_every_lanes_cleanup_in_the_report(pytester):
    """Each lane's session content is torn down before the reports are written, stopped early or not."""
    args = setup(pytester, LANE_STOPPING_WITH_CONTENT)
    result = pytester.runpytest_subprocess(*args, "--workers", "2", "--maxfail", "1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    document = json.loads((pytester.path / "reports" / "t1" / "results.json").read_text())
    repositories = {entry["repository"] for entry in document["cleanup"]}
    assert repositories == {
        "ns/keelhaul-t1-lane-0",
        "ns/keelhaul-t1-lane-1",
    }  # lane 1's too, though it stopped


def test_pytest_xdist_is_refused_with_the_way_that_works(pytester):
    pytest.importorskip("xdist")  # no longer a dependency: only where it happens to be installed
    result = pytester.runpytest_subprocess(*setup(pytester), "-p", "xdist", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*pytest-xdist's -n is not how this suite runs in parallel: use --workers N*"]
    )


def test_workers_option_is_passed_on_and_refuses_nonsense(capsys):
    from conformance.cli import pytest_args
    from keelhaul.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["check", "--workers", "3"])
    argv = pytest_args(args)
    assert argv[argv.index("--workers") + 1] == "3"
    assert "--workers" not in pytest_args(parser.parse_args(["check"]))  # default: the harness decides
    for bad in ("x", "-1", "0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["check", "--workers", bad])
    assert "--workers: expected 1 or more" in capsys.readouterr().err


def test_lanes_by_default_only_against_the_embedded_server_and_never_forked_beside_threads(monkeypatch):
    from conformance.harness import concurrency
    from keelhaul.errors import UsageError

    monkeypatch.setattr(concurrency.threading, "active_count", lambda: 1)
    assert concurrency.lane_count(3, embedded=False) == 3  # as asked
    assert concurrency.lane_count(None, embedded=False) == 1  # a --target's owner decides how hard
    assert 1 <= concurrency.lane_count(None, embedded=True) <= concurrency.AUTO_LANES_MOST
    monkeypatch.setattr(concurrency.threading, "active_count", lambda: 3)
    assert concurrency.lane_count(None, embedded=True) == 1
    assert concurrency.lane_count(1, embedded=True) == 1
    with pytest.raises(UsageError, match="--workers 2: this process runs 3 threads"):
        concurrency.lane_count(2, embedded=True)


def test_the_check_queue_hands_out_each_check_once():
    from conformance.harness.lanes import CheckQueue

    queue = CheckQueue(5)
    try:
        assert [queue.take() for _ in range(6)] == [0, 1, 2, 3, 4, None]
    finally:
        queue.close()
