"""Answers to repeated identical reads, replayed from memory without going through aiohttp (issue 14).

Why: a tag that a fleet of runners pulls is asked for the same way again and again. aiohttp spends
about 90 µs of CPU on each such request here, nearly all of it in its own request and response
machinery; replaying the bytes it sent the first time costs a dictionary lookup and two
`PRAGMA data_version` reads.

What is replayed: a 200 answer to GET or HEAD of a manifest (by tag or by digest) on an HTTP/1.1
keep-alive connection, keyed by the request's exact bytes: the request line and every header, so the
credentials, `Accept` and `Host` are part of the key and a request that differs in any byte is
another request. The replay is the answer aiohttp sent, with the current `Date`.

For how long: an entry holds while (1) the registry's metadata version and the access policy's
decisions version are the ones read before the answer was computed (any write that could change a
manifest, a tag, a permission, a token or a package's visibility, in this process or another,
changes one of them; `MetadataStore.version`, `AccessPolicy.decisions_version`), and (2) the
caller's credentials have not expired (`AccessPolicy.valid_until`). Both are checked on every
replay. A policy that does not say both gets nothing replayed.

When a connection may be answered here: runtime.RegistryRequestHandler replays only while aiohttp
is idle on that connection (waiting for a request, nothing queued, nothing in its parser: every byte
it was ever given there formed complete requests without bodies), the bytes that arrived are exactly
one complete request head, and writing is not paused. Anything else goes to aiohttp as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web

MAX_REQUEST_BYTES = 8 * 1024  # longer request heads are not kept as keys
MAX_BODY_BYTES = 256 * 1024  # bigger manifests are answered by aiohttp every time
DEFAULT_BUDGET_BYTES = 32 * 1024 * 1024
ENTRY_OVERHEAD_BYTES = 200
_HEAD_END = b"\r\n\r\n"
_REPLAYABLE_METHODS = ("GET", "HEAD")


def is_lone_head(data: bytes) -> bool:
    """`data` is one complete request head (request line and headers) and nothing after it."""
    return data.endswith(_HEAD_END) and data.find(_HEAD_END) == len(data) - len(_HEAD_END)


def leaves_parser_empty(data: bytes) -> bool:
    """Whether an HTTP parser given `data` in a clean state is clean again afterwards: `data` is one
    complete head of a request without a body, and nothing that switches protocols. Conservative: a
    request with any Content-Length or Transfer-Encoding header counts as one with a body."""
    if not is_lone_head(data) or data.startswith(b"CONNECT "):
        return False
    lowered = data.lower()
    return not any(name in lowered for name in (b"\ncontent-length:", b"\ntransfer-encoding:", b"\nupgrade:"))


_date_second = -1
_date_line = b""


def date_line(second: int) -> bytes:
    """The `Date` header line for the given second (formatted once per second)."""
    global _date_second, _date_line
    if second != _date_second:
        _date_line = f"Date: {formatdate(second, usegmt=True)}\r\n".encode("ascii")
        _date_second = second
    return _date_line


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What dispatch learnt about a request whose answer may be kept: its bytes, the versions read
    before it was answered, and until when its caller's credentials hold."""

    request: bytes
    version: Hashable
    valid_until: float = -1.0  # set once the caller is known (AccessPolicy.valid_until)


@dataclass(slots=True)
class _Entry:
    head: bytes  # status line and headers without Date, each line ending in CRLF
    body: bytes  # empty for HEAD
    valid_until: float
    size: int
    second: int = -1  # the second `answer` was assembled for
    answer: bytes = b""


class ReplayCache:
    """Kept answers by request bytes, bounded by `budget_bytes` (0: keep nothing); oldest out first."""

    def __init__(
        self, version: Callable[[], Hashable | None], budget_bytes: int = DEFAULT_BUDGET_BYTES
    ) -> None:
        self._version = version
        self.budget_bytes = budget_bytes
        self._entries: dict[bytes, _Entry] = {}
        self._entries_version: Hashable | None = None  # the version every entry was computed at
        self._used = 0
        self.replayed = 0  # answers sent from here (for tests and the benchmark)

    def __len__(self) -> int:
        return len(self._entries)

    # -- the connection's side ----------------------------------------------------------------------

    def answer(self, request: bytes) -> bytes | None:
        """The bytes to send for `request` if a kept answer still holds, else None."""
        entry = self._entries.get(request)
        if entry is None:
            return None
        if self._version() != self._entries_version:
            self.clear()  # something changed: no entry can be trusted
            return None
        now = time.time()
        if now >= entry.valid_until:
            self._drop(request)
            return None
        second = int(now)
        if entry.second != second:
            entry.answer = entry.head + date_line(second) + b"\r\n" + entry.body
            entry.second = second
        self.replayed += 1
        return entry.answer

    # -- the application's side ---------------------------------------------------------------------

    def plan(self, request: web.Request, raw: bytes | None) -> ReplayPlan | None:
        """A plan to keep the answer to `request` (whose bytes on the wire were `raw`, when the
        connection knew them), or None when it may not be kept. Call before the caller is admitted
        and the answer computed, so that the versions read are not newer than what it shows."""
        if (
            self.budget_bytes <= 0
            or raw is None
            or len(raw) > MAX_REQUEST_BYTES
            or request.method not in _REPLAYABLE_METHODS
            or request.version != (1, 1)
            or not raw.startswith(f"{request.method} {request.raw_path} HTTP/1.1\r\n".encode("latin-1"))
        ):
            return None
        version = self._version()
        if version is None:
            return None
        return ReplayPlan(raw, version)

    def keep(self, plan: ReplayPlan, response: web.StreamResponse) -> None:
        """Keep `response`, already sent for the plan's request, if nothing changed meanwhile."""
        if not isinstance(response, web.Response) or response.status != 200 or not response.keep_alive:
            return
        body = response.body
        if not isinstance(body, bytes) or len(body) > MAX_BODY_BYTES:
            return
        if plan.request.startswith(b"HEAD "):
            body = b""
        if self._version() != plan.version:
            return  # a write landed while the answer was computed: it may already be stale
        if plan.version != self._entries_version:
            self.clear()
            self._entries_version = plan.version
        lines = [f"HTTP/1.1 {response.status} {response.reason}\r\n"]
        headers = response.headers.items()
        lines += [f"{name}: {value}\r\n" for name, value in headers if name.lower() != "date"]
        head = "".join(lines).encode("latin-1")
        size = len(plan.request) + 2 * (len(head) + len(body)) + ENTRY_OVERHEAD_BYTES
        if size > self.budget_bytes // 8:
            return
        self._drop(plan.request)
        while self._entries and self._used + size > self.budget_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[plan.request] = _Entry(head, body, plan.valid_until, size)
        self._used += size

    def clear(self) -> None:
        self._entries.clear()
        self._used = 0

    def _drop(self, request: bytes) -> None:
        entry = self._entries.pop(request, None)
        if entry is not None:
            self._used -= entry.size
