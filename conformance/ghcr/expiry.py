"""LIM-2, the upload expiry: open two sessions, feed one mid-way, wait out the declared expiry, judge.

Why a module of its own: the opening half can run in the background from the start of the ghcr checks
(`ExpiryProbe`, started by conftest.py), so that the wait for the expiry passes while other checks run.
In a default run that wait was the longest of all (0.63 s of a 5 s run against the embedded server).
The probe only opens and feeds the sessions and keeps every answer. The check itself judges, from those
answers and its own, exactly as when it opens the sessions itself. When the probe's mid-way chunk went
out too late to prove anything (the machine stalled it), the check runs the whole sequence itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from conformance.ghcr.support import expect_refused
from conformance.harness.parallel import check_lock
from conformance.oci.expect import expect_error, expect_status
from keelhaul.client import ExchangeRecorder, RegistryClient, digest_of
from keelhaul.client.uploads import location_of
from keelhaul.profile import TargetProfile

FAST_EXPIRY_SECONDS = 30  # a declared expiry above this is only tried by the slow variant (--run-slow)
EXPIRY_MARGIN = 1.0  # at most this many seconds past the declared expiry before the session must be gone
MIDWAY = 0.6  # the busy session's chunk goes out at this fraction of the expiry
MIDWAY_LATEST = 0.75  # a chunk sent later than this proves nothing: the session may rightly be gone


def expiry_margin(expiry: float) -> float:
    """The grace past a declared expiry: a quarter of it, at most EXPIRY_MARGIN. The waits are counted
    from the moment the registry answered (the latest its clock can have started), not from when the
    request was sent, so a short expiry (the embedded server's 0.5 s) needs no long margin."""
    return min(EXPIRY_MARGIN, expiry / 4)


@dataclass
class Opened:
    """Two sessions of `repo`: `idle` got one chunk, `busy` a second one at MIDWAY of the expiry."""

    repo: str
    idle: str
    idle_data: bytes
    busy: str
    busy_data: bytes
    started_by: float  # monotonic: neither session can have started after this
    last_activity: float  # monotonic: the busy session's last chunk was answered by then
    on_time: bool  # the mid-way chunk went out before MIDWAY_LATEST of the expiry


def _open(client: RegistryClient, repo: str, data: bytes) -> str:
    started = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect_status(started, 202, "LIM-2: an upload session opens")
    location = location_of(started)
    first = client.request(
        "PATCH",
        location,
        content=data,
        headers={"Content-Type": "application/octet-stream", "Content-Range": f"0-{len(data) - 1}"},
    )
    expect_status(first, 202, "LIM-2: the first chunk is accepted")
    return location_of(first) or location


def open_sessions(client: RegistryClient, repo: str, expiry: float, *, in_background: bool = False) -> Opened:
    """Open the idle and the busy session and send the busy one's chunk at MIDWAY of `expiry`. Raises
    the check's failure when an answer breaks the rule; in the background, a chunk sent too late is
    not judged (`on_time` False) but left for the check to redo."""
    idle_data, busy_data = b"keelhaul: idle session", b"keelhaul: busy session"
    opened = time.monotonic()  # neither session can have started before this
    idle = _open(client, repo, idle_data)
    busy = _open(client, repo, busy_data)
    started_by = time.monotonic()
    time.sleep(max(0.0, opened + expiry * MIDWAY - time.monotonic()))
    extra = b"!" * 8
    sent = time.monotonic()
    progressed = client.request(
        "PATCH",
        busy,
        content=extra,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{len(busy_data)}-{len(busy_data) + len(extra) - 1}",
        },
    )
    on_time = sent <= opened + expiry * MIDWAY_LATEST
    if on_time or not in_background:
        expect_status(progressed, 202, "LIM-2: a live session takes a chunk before its expiry")
    return Opened(
        repo,
        idle,
        idle_data,
        location_of(progressed) or busy,
        busy_data + extra,
        started_by,
        time.monotonic(),
        on_time,
    )


def _expect_expired(client: RegistryClient, repo: str, location: str, data: bytes, requirement: str) -> None:
    """Gone: status and further chunks answer 404 BLOB_UPLOAD_UNKNOWN and finishing stores nothing."""
    expect_error(client.request("GET", location), [404], ("BLOB_UPLOAD_UNKNOWN",), f"{requirement} (status)")
    more = b"keelhaul: after the expiry"
    late = client.request(
        "PATCH",
        location,
        content=more,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{len(data)}-{len(data) + len(more) - 1}",
        },
    )
    expect_error(late, [404], ("BLOB_UPLOAD_UNKNOWN",), f"{requirement} (a late chunk)")
    whole = data + more
    finish = client.request("PUT", f"{location}{'&' if '?' in location else '?'}digest={digest_of(whole)}")
    expect_error(finish, [404], ("BLOB_UPLOAD_UNKNOWN",), f"{requirement} (finishing)")
    expect_refused(client.head_blob(repo, digest_of(data)), f"{requirement}: its data is gone", (404,), None)


def judge(client: RegistryClient, opened: Opened, target: TargetProfile) -> None:
    """Wait until the declared expiry (plus margin) has passed for both sessions, then hold the
    registry to it: from the start (declared), both are gone; from the last activity, the busy one
    lives on until its own expiry."""
    expiry = target.limits.upload_expiry_seconds
    assert expiry is not None
    from_start = (target.limits.upload_expiry_from or "start") == "start"
    margin = expiry_margin(expiry)
    time.sleep(max(0.0, opened.started_by + expiry + margin - time.monotonic()))
    repo = opened.repo
    idle_gone = f"LIM-2: an idle session is gone {expiry} s after it started"
    _expect_expired(client, repo, opened.idle, opened.idle_data, idle_gone)
    if from_start:
        _expect_expired(
            client,
            repo,
            opened.busy,
            opened.busy_data,
            f"LIM-2: expiry counts from the start (declared): a session that progressed is gone "
            f"{expiry} s after it started",
        )
        return
    status = client.request("GET", opened.busy)
    expect_status(
        status,
        204,
        "LIM-2: expiry counts from the last activity (declared): a session that progressed is still open",
    )
    time.sleep(max(0.0, opened.last_activity + expiry + margin - time.monotonic()))
    _expect_expired(
        client,
        repo,
        opened.busy,
        opened.busy_data,
        f"LIM-2: a session is gone {expiry} s after its last activity",
    )


class ExpiryProbe:
    """`open_sessions` on a thread of its own, recording into its own recorder; `take` hands its
    answers and its outcome to the check that judges them. While it runs it holds what a check holds
    (a shared lock on `lock_path`, when checks run in several lanes), so an `alone` check in another
    lane waits for it as for any check."""

    def __init__(
        self,
        client: RegistryClient,
        recorder: ExchangeRecorder,
        repo: str,
        expiry: float,
        lock_path: Path | None = None,
    ) -> None:
        self.repo = repo
        self.lock_path = lock_path
        self.recorder = recorder
        self._opened: Opened | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(client, expiry), name="keelhaul-expiry-probe", daemon=True
        )
        self._thread.start()

    def _run(self, client: RegistryClient, expiry: float) -> None:
        try:
            with check_lock(self.lock_path, alone=False):
                self._opened = open_sessions(client, self.repo, expiry, in_background=True)
        except BaseException as error:  # the check's failure (or any error) is re-raised in the check
            self._error = error

    def join(self) -> None:
        self._thread.join()

    def take(self, check_recorder: ExchangeRecorder) -> Opened | None:
        """Wait for the probe; copy its exchanges into the check's record; re-raise its failure. None
        when its mid-way chunk went out too late to be judged (the check opens its own sessions)."""
        self.join()
        for exchange in self.recorder.exchanges:
            check_recorder.add(exchange)
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        return self._opened if self._opened.on_time else None
