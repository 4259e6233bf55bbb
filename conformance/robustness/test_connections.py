"""Slow and idle connections: a registry must not let half-sent or idle connections pile up forever
(issue 15: 1,100 never-ending requests shut every legitimate client out)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from conformance.harness.state import HarnessState
from conformance.robustness.wire import (
    Endpoint,
    closed_or_answered,
    read_response,
    request_bytes,
    trickle,
    unfinished_head,
)
from keelhaul.profile import TargetProfile

NORMAL_REQUEST_SECONDS = 10.0  # a GET /v2/ beside the slow connections must be answered within this
POLL_SECONDS = 0.25


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


@pytest.mark.robustness
@pytest.mark.alone
@pytest.mark.req("ROB-CONN-1")
def test_slow_headers_are_cut_off_and_others_still_served(
    target: TargetProfile, harness: HarnessState, record_property: Callable[[str, object], None]
) -> None:
    """ROB-CONN-1: N requests whose headers never end are cut off within the budget; a normal request on
    another connection is served meanwhile."""
    endpoint = Endpoint.from_url(target.url)
    budget = harness.options.robustness_budget
    slow_count = harness.options.robustness_connections - 1  # one slot stays for the normal request
    slow: list[socket.socket] = []
    try:
        started = time.monotonic()
        for _ in range(slow_count):
            sock = endpoint.connect()
            sock.sendall(unfinished_head(endpoint))
            slow.append(sock)
        normal = endpoint.connect(timeout=NORMAL_REQUEST_SECONDS)
        try:
            normal.sendall(request_bytes(endpoint))
            status, headers, _ = read_response(normal, time.monotonic() + NORMAL_REQUEST_SECONDS)
        except OSError as error:  # TimeoutError and ConnectionError included
            pytest.fail(
                f"ROB-CONN-1: with {slow_count} requests whose headers never end open, a normal "
                f"GET /v2/ on another connection got no answer within {NORMAL_REQUEST_SECONDS:.0f} s "
                f"({type(error).__name__}: {error})"
            )
        finally:
            normal.close()
        # the normal request comes from the same address as the slow ones: a registry that caps
        # connections per address may shed it cleanly (503 with Retry-After), which is not a finding
        shed = status == 503 and "retry-after" in headers
        if status >= 500 and not shed:
            pytest.fail(
                f"ROB-CONN-1: with {slow_count} requests whose headers never end open, a normal "
                f"GET /v2/ got {status} instead of being served"
            )
        cut_off = _wait_for_cut_off(slow, started + budget)
        record_property(
            "measured:slow_header_cut_off_seconds", f"{cut_off:.2f}" if cut_off is not None else "not cut off"
        )
        still_open = sum(1 for sock in slow if sock.fileno() != -1)
        if still_open:
            pytest.fail(
                f"ROB-CONN-1: {still_open} of {slow_count} requests whose headers never end (one more "
                f"header byte sent every second) were still open after the {budget:.0f} s budget: "
                "expected the connection closed or a 408"
            )
    finally:
        _close_all(slow)


def _wait_for_cut_off(slow: list[socket.socket], deadline: float) -> float | None:
    """Trickle a header byte into each open connection every second until the server has cut every one
    off (closed it or answered, e.g. 408) or the deadline passes; the cut-off sockets are closed here.
    Returns the seconds until the last cut-off, None when some stayed open."""
    started = time.monotonic()
    next_byte = started + 1.0
    while time.monotonic() < deadline:
        for sock in slow:
            if sock.fileno() != -1 and closed_or_answered(sock) is not None:
                sock.close()
        if all(sock.fileno() == -1 for sock in slow):
            return time.monotonic() - started
        if time.monotonic() >= next_byte:
            for sock in slow:
                if sock.fileno() != -1 and not trickle(sock):
                    sock.close()
            next_byte += 1.0
        time.sleep(POLL_SECONDS)
    return None


@pytest.mark.robustness
@pytest.mark.req("ROB-CONN-2")
def test_idle_keep_alive_connection_is_closed(
    target: TargetProfile, harness: HarnessState, record_property: Callable[[str, object], None]
) -> None:
    """ROB-CONN-2: a keep-alive connection left idle after one answered request is closed by the server
    within the budget (the measured time is recorded)."""
    endpoint = Endpoint.from_url(target.url)
    budget = harness.options.robustness_budget
    sock = endpoint.connect()
    try:
        sock.sendall(request_bytes(endpoint))
        try:
            read_response(sock, time.monotonic() + NORMAL_REQUEST_SECONDS)
        except OSError as error:
            pytest.fail(
                f"ROB-CONN-2: a keep-alive GET /v2/ got no whole answer ({type(error).__name__}: {error})"
            )
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < budget:
            if closed_or_answered(sock) is not None:
                record_property("measured:idle_close_seconds", f"{time.monotonic() - idle_since:.2f}")
                return
            time.sleep(POLL_SECONDS)
        record_property("measured:idle_close_seconds", f"still open after {budget:.0f}")
        pytest.fail(
            f"ROB-CONN-2: an idle keep-alive connection (after one answered GET /v2/) was still open "
            f"after the {budget:.0f} s budget: expected the server to close it"
        )
    finally:
        sock.close()
