"""Connection hygiene: deadlines and caps that keep slow or greedy clients from locking others out.

- Header deadline: a request's line and headers must arrive within `header_timeout` of the
  connection opening or of its first byte after an idle keep-alive wait; else 408 and close
  (slow-loris). The body has its own deadline in the upload and manifest readers.
- Idle deadline: a keep-alive connection with no request for `idle_timeout` is closed (aiohttp's
  keepalive_timeout, otherwise 3,630 s).
- Caps: at most `max_connections` open in total and `max_per_address` from one client address. A
  connection over a cap is answered 503 + Retry-After at once and closed, so the server never
  reaches its descriptor limit (where accept() fails and everyone waits).
- The soft RLIMIT_NOFILE is raised to the hard limit at start; the total cap defaults to what the
  limit leaves after a reserve for files and databases.
"""

from __future__ import annotations

import json
import logging
import resource
from collections import Counter
from dataclasses import dataclass

from reference_server.config import DEFAULT_HEADER_TIMEOUT_SECONDS, DEFAULT_IDLE_TIMEOUT_SECONDS

log = logging.getLogger("reference_server")

DEFAULT_MAX_CONNECTIONS = 4096  # upper bound when the descriptor limit allows more
SHED_RETRY_AFTER_SECONDS = 5


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            log.warning("could not raise the open-file limit from %d to %d", soft, target)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def descriptor_reserve(limit: int) -> int:
    """Descriptors kept free for blob files, databases and logs (an eighth, at least 64)."""
    return max(64, limit // 8)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_address: int = DEFAULT_MAX_CONNECTIONS // 4

    @classmethod
    def for_descriptor_limit(
        cls,
        limit: int,
        *,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        max_connections: int | None = None,
        max_per_address: int | None = None,
    ) -> ConnectionLimits:
        """Caps that fit under `limit` open descriptors unless set explicitly (then the
        smaller of the two); one address may take a quarter of the total by default."""
        fitting = max(1, limit - descriptor_reserve(limit))
        total = min(max_connections or DEFAULT_MAX_CONNECTIONS, fitting)
        per_address = min(max_per_address or max(1, total // 4), total)
        return cls(header_timeout, idle_timeout, total, per_address)


class ConnectionGate:
    """Counts open connections, in total and per client address (event-loop thread only)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.total = 0
        self.by_address: Counter[str] = Counter()
        self.shed = 0

    def admit(self, address: str) -> str | None:
        """None if the connection may stay (and is counted), else why it is refused."""
        if self.total >= self.limits.max_connections:
            reason = f"the registry has {self.total} open connections, its limit"
        elif self.by_address[address] >= self.limits.max_per_address:
            reason = f"your address has {self.by_address[address]} open connections, the limit per client"
        else:
            self.total += 1
            self.by_address[address] += 1
            return None
        if self.shed == 0 or self.shed % 1000 == 0:
            log.warning("shedding connections with 503: %s (shed so far: %d)", reason, self.shed + 1)
        self.shed += 1
        return reason

    def release(self, address: str) -> None:
        self.total -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


def shed_response(reason: str) -> bytes:
    """A complete HTTP/1.1 503 with Retry-After and an OCI error body, written before any request."""
    body = json.dumps(
        {"errors": [{"code": "UNAVAILABLE", "message": f"too many connections: {reason}; retry later"}]}
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Retry-After: {SHED_RETRY_AFTER_SECONDS}\r\n"
        "Docker-Distribution-API-Version: registry/2.0\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def timeout_response() -> bytes:
    """408 for a request whose headers did not arrive in time. Plain text: the spec's JSON error
    format would need a code from its table, and none fits a timeout."""
    body = b"request headers not received in time\n"
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: text/plain\r\n"
        "Connection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
