"""One memory budget for manifest bodies across all requests (issue 15, finding 4): stalled bodies
beyond it are refused at once with 503 + Retry-After, and what they held comes back."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from reference_server.embedded import EmbeddedServer
from reference_server.http.body_budget import MANIFEST_BUDGET_KEY
from reference_server.runtime import MANIFEST_READ_AHEAD_BYTES, _limit_manifest_buffer

from .helpers import push_image

MANIFEST_LIMIT = 256 * 1024
BUDGET = 4 * MANIFEST_LIMIT


def stall(url: str, size: int) -> socket.socket:
    """A manifest PUT that declares `size` bytes, sends all but one and waits."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        b"PUT /v2/stall/app/manifests/v1 HTTP/1.1\r\nHost: registry\r\n"
        b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
        + b"{" * (size - 1)
    )
    return sock


def answer(sock: socket.socket, wait: float = 0.5) -> bytes:
    sock.settimeout(wait)
    try:
        return sock.recv(65536)
    except TimeoutError:
        return b""


def test_stalled_bodies_beyond_the_budget_get_503_and_the_budget_comes_back(
    make_registry: Callable[..., EmbeddedServer],
) -> None:
    server = make_registry(max_manifest_bytes=MANIFEST_LIMIT, manifest_buffer_budget_bytes=BUDGET)
    assert server.url is not None and server.app is not None
    budget = server.app[MANIFEST_BUDGET_KEY]
    held = [stall(server.url, MANIFEST_LIMIT) for _ in range(4)]
    try:
        time.sleep(0.3)
        assert all(answer(sock, 0.05) == b"" for sock in held)  # within budget: still waiting
        assert budget.held == BUDGET
        extra = stall(server.url, MANIFEST_LIMIT)
        refused = answer(extra, 5)
        assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
        assert b"Retry-After: " in refused and b"UNAVAILABLE" in refused
        assert b"Connection: close" in refused  # the rest of its body is read and dropped, then closed
        assert budget.held == BUDGET
        extra.close()
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while budget.held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert budget.held == 0
    with httpx.Client(base_url=server.url, timeout=10) as http:
        push_image(http, "after/stall", "v1")  # manifests are accepted again


def test_manifest_bodies_read_ahead_little_before_the_handler_budgets_them() -> None:
    """aiohttp's StreamReader keeps its water marks in private attributes; fail loudly if they go."""
    from aiohttp.streams import StreamReader

    class Message:
        method = "PUT"
        path = "/v2/a/b/manifests/v1"

    class Protocol:
        _reading_paused = False

    import asyncio

    loop = asyncio.new_event_loop()
    try:
        payload = StreamReader(Protocol(), 1024 * 1024, loop=loop)  # type: ignore[arg-type]
        _limit_manifest_buffer(Message(), payload)
        assert payload.get_read_buffer_limits() == (MANIFEST_READ_AHEAD_BYTES // 2, MANIFEST_READ_AHEAD_BYTES)
    finally:
        loop.close()
