"""Connection hygiene (issue 15, finding 2): header and idle deadlines, caps per address and in
total that shed with 503 + Retry-After, and legitimate clients served throughout a slow-loris."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from reference_server.embedded import EmbeddedServer
from reference_server.http.connections import ConnectionLimits

HEADER_TIMEOUT = 3.0  # roomy: opening 200 sockets on a busy machine must not outlast it
IDLE_TIMEOUT = 2.0
PER_ADDRESS = 40
TOTAL = 120


@pytest.fixture
def server(make_registry: Callable[..., EmbeddedServer]) -> EmbeddedServer:
    return make_registry(
        header_timeout_seconds=HEADER_TIMEOUT,
        idle_timeout_seconds=IDLE_TIMEOUT,
        max_connections=TOTAL,
        max_connections_per_address=PER_ADDRESS,
    )


def _address(server: EmbeddedServer) -> tuple[str, int]:
    assert server.url is not None
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def connect(server: EmbeddedServer, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(_address(server), timeout=10, source_address=(source, 0))
    return sock


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes (or `limit` seconds pass), and how long that took."""
    started = time.monotonic()
    sock.settimeout(0.2)
    data = b""
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


def test_idle_keep_alive_connection_is_closed(server: EmbeddedServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        rest, waited = read_until_closed(sock, IDLE_TIMEOUT * 4)
        assert rest == b"" and waited < IDLE_TIMEOUT * 3, (rest[:100], waited)


def test_connection_that_never_sends_a_request_is_closed(server: EmbeddedServer) -> None:
    with connect(server) as sock:
        data, waited = read_until_closed(sock, HEADER_TIMEOUT * 5)
    assert data.startswith(b"HTTP/1.1 408"), data[:100]
    assert waited < HEADER_TIMEOUT * 3


def test_headers_trickled_slower_than_the_deadline_get_408(server: EmbeddedServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n")
        started = time.monotonic()
        closed = b""
        while time.monotonic() - started < HEADER_TIMEOUT * 4:
            try:
                sock.sendall(b"X-Slow: still-coming\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            closed, _ = read_until_closed(sock, 0.3)
            if closed:
                break
        assert closed.startswith(b"HTTP/1.1 408"), closed[:100]
        assert time.monotonic() - started < HEADER_TIMEOUT * 3


def _open_slow(server: EmbeddedServer, source: str, count: int) -> tuple[list[socket.socket], list[bytes]]:
    """`count` connections from `source` that start a request and never finish its headers; those
    refused at once are returned as their answers (opened together, well inside the deadline)."""
    sockets = []
    for _ in range(count):
        sock = connect(server, source)
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n")
        sockets.append(sock)
    time.sleep(0.3)
    open_ones: list[socket.socket] = []
    refused: list[bytes] = []
    for sock in sockets:
        sock.setblocking(False)
        try:
            answer = sock.recv(65536)
        except BlockingIOError:
            open_ones.append(sock)
            continue
        refused.append(answer)
        sock.close()
    return open_ones, refused


def test_slow_loris_from_one_address_leaves_others_served(server: EmbeddedServer) -> None:
    attackers, refused = _open_slow(server, "127.0.0.2", 200)
    try:
        assert len(attackers) == PER_ADDRESS
        assert len(refused) == 200 - PER_ADDRESS
        assert all(answer.startswith(b"HTTP/1.1 503") for answer in refused), refused[0][:200]
        assert all(b"Retry-After: " in answer for answer in refused)
        latencies: list[float] = []
        statuses: list[int] = []
        with httpx.Client(base_url=server.url or "", timeout=5) as http:
            deadline = time.monotonic() + HEADER_TIMEOUT + 1
            while time.monotonic() < deadline:  # throughout the attack
                started = time.monotonic()
                statuses.append(http.get("/v2/").status_code)
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)
        assert set(statuses) == {200}
        assert max(latencies) < 1.0, max(latencies)
        # The slow connections were cut off by the header deadline.
        for sock in attackers:
            data, _ = read_until_closed(sock, HEADER_TIMEOUT * 2)
            assert data.startswith(b"HTTP/1.1 408"), data[:100]
    finally:
        for sock in attackers:
            sock.close()


def test_total_cap_sheds_with_503_then_recovers(make_registry: Callable[..., EmbeddedServer]) -> None:
    # A longer header deadline than the other tests: filling the cap must not outlast it, even on
    # a busy machine.
    header_timeout = 8.0
    server = make_registry(
        header_timeout_seconds=header_timeout,
        max_connections=TOTAL,
        max_connections_per_address=PER_ADDRESS,
    )
    attackers: list[socket.socket] = []
    try:
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
            opened, refused = _open_slow(server, source, PER_ADDRESS)
            attackers += opened
            assert not refused
        _, refused = _open_slow(server, "127.0.0.5", 1)
        assert refused and refused[0].startswith(b"HTTP/1.1 503"), refused
        with httpx.Client(base_url=server.url or "", timeout=5) as http:
            full = http.get("/v2/")
            assert full.status_code == 503
            assert int(full.headers["Retry-After"]) > 0
            assert full.json()["errors"][0]["code"] == "UNAVAILABLE"
        # The slow ones are cut off by the header deadline; capacity returns.
        deadline = time.monotonic() + header_timeout * 2
        status = 503
        while status == 503 and time.monotonic() < deadline:
            time.sleep(0.5)
            with httpx.Client(base_url=server.url or "", timeout=5) as http:
                status = http.get("/v2/").status_code
        assert status == 200
    finally:
        for sock in attackers:
            sock.close()


def test_caps_fit_under_the_descriptor_limit() -> None:
    limits = ConnectionLimits.for_descriptor_limit(1024)
    assert limits.max_connections <= 1024 - 64
    assert limits.max_per_address < limits.max_connections
    assert ConnectionLimits.for_descriptor_limit(1024, max_connections=10_000).max_connections < 1024
    assert ConnectionLimits.for_descriptor_limit(1 << 20).max_connections == 4096
