"""One budget for request bodies the server holds whole in memory (manifests), across all requests.

Why: a manifest is read completely before it can be hashed and parsed, up to 4 MiB each. Without a
global cap, clients that start many manifest PUTs and stall grow the process without bound (200
stalled 4 MiB bodies took RSS from 58 MB to 875 MB). A request whose body does not fit in what is
left is answered 503 + Retry-After at once (its declared Content-Length is reserved up front; a
chunked body reserves as it arrives) and its connection is not kept alive: aiohttp reads the rest
of that body and drops it (bounded read-ahead, see runtime.MANIFEST_READ_AHEAD_BYTES), then closes.
When the budget empties after a large peak, `on_drained` runs (the process glue sets it to hand
freed heap back to the kernel, which glibc keeps otherwise, see allocator.py), so memory falls
back after a burst.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from reference_server.registry.errors import ErrorCode, OCIError

RETRY_AFTER_SECONDS = 2
TRIM_AFTER_PEAK_BYTES = 8 * 1024 * 1024  # return memory once a peak this large has drained
TRIM_DELAY_SECONDS = 1.0  # debounce: one trim per quiet second, not one per request


class BodyBudget:
    """Bytes reserved by request bodies in memory. Event-loop thread only."""

    def __init__(self, limit: int, on_drained: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.on_drained = on_drained
        self.held = 0
        self._peak = 0
        self._trim: asyncio.TimerHandle | None = None

    @contextmanager
    def reservation(self) -> Iterator[Reservation]:
        """A reservation that grows with the body and is returned whatever happens."""
        reservation = Reservation(self)
        try:
            yield reservation
        finally:
            self._give_back(reservation.bytes)

    def _take(self, count: int) -> None:
        if self.held + count > self.limit:
            raise OCIError(
                ErrorCode.UNAVAILABLE,
                "too many manifest bodies in flight for the server's memory budget; retry later",
                status=503,
                detail={"budget": self.limit},
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                close=True,
            )
        self.held += count
        self._peak = max(self._peak, self.held)

    def _give_back(self, count: int) -> None:
        self.held -= count
        if self.held == 0 and self._peak >= TRIM_AFTER_PEAK_BYTES and self._trim is None and self.on_drained:
            self._trim = asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._release)

    def _release(self) -> None:
        self._trim = None
        if self.held == 0:
            self._peak = 0
            if self.on_drained is not None:
                self.on_drained()


MANIFEST_BUDGET_KEY: web.AppKey[BodyBudget] = web.AppKey("manifest_budget", BodyBudget)


class Reservation:
    """The part of the budget one request holds."""

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self.bytes = 0

    def cover(self, total: int) -> None:
        """Make the reservation at least `total` bytes, or raise the 503."""
        if total > self.bytes:
            self._budget._take(total - self.bytes)
            self.bytes = total
