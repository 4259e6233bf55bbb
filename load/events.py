"""Every HTTP exchange of the shared client becomes one Locust request event, named by OCI endpoint.

Scenarios call `keelhaul.client` and never time anything themselves: the client hands each finished
exchange to its recorder, and this recorder turns it into `events.request` (so Locust's stats, CSV,
HTML report and web UI show it) and into bytes in the run's ledger (for MB/s). Bytes sent plus bytes
received go into `response_length`, because Locust has no request-size statistic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from keelhaul.client.grammar import DIGEST_RE
from keelhaul.client.recorder import Exchange, ExchangeRecorder
from load.failures import OCIFailure, TransportFailure
from load.ledger import Ledger

_REPO_ROUTE = re.compile(
    r"^/v2/(?P<repo>.+?)/(?P<kind>blobs/uploads|blobs|manifests|tags/list|referrers)(?:/(?P<rest>[^/]*))?$"
)
_UPLOAD_NAMES = {"POST": "start", "PATCH": "chunk", "PUT": "commit", "GET": "status", "DELETE": "cancel"}


def endpoint_name(
    method: str, url: str, request_headers: dict[str, str] | None = None, note: str | None = None
) -> str:
    """A stable name for the OCI endpoint an exchange hit ("blob upload chunk", "manifest get by tag")."""
    if note and "token" in note:
        return "token"
    parts = urlsplit(url)
    path = parts.path
    if path.rstrip("/") == "/v2":
        return "base /v2/"
    if path.startswith("/v2/_catalog"):
        return "catalog"
    match = _REPO_ROUTE.match(path)
    if not match:
        return "token" if "token" in path else "other"
    kind = match.group("kind")
    method = method.upper()
    if kind == "blobs/uploads":
        if method == "POST":
            query = parse_qs(parts.query)
            if "mount" in query:
                return "blob mount"
            if "digest" in query:
                return "blob upload single POST"
        if method == "PUT" and request_headers and int(request_headers.get("content-length", "0") or 0) > 0:
            return "blob upload commit with data"
        return f"blob upload {_UPLOAD_NAMES.get(method, method.lower())}"
    if kind == "blobs":
        if method == "GET" and request_headers and "range" in request_headers:
            return "blob get range"
        return f"blob {method.lower()}"
    if kind == "manifests":
        reference = match.group("rest") or ""
        by = "digest" if DIGEST_RE.fullmatch(reference) else "tag"
        return f"manifest {method.lower()} by {by}"
    if kind == "tags/list":
        return "tags list"
    return "referrers"


def is_auth_challenge(exchange: Exchange) -> bool:
    """A 401 that carries a challenge: the client answers it by fetching a token and retrying."""
    return exchange.status == 401 and "www-authenticate" in exchange.response_headers


class LocustRecorder(ExchangeRecorder):
    """An ExchangeRecorder that keeps nothing and reports each exchange to Locust and the ledger."""

    def __init__(self, environment, ledger: Ledger, scenario: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(limit=1)
        self.environment = environment
        self.ledger = ledger
        self.scenario = scenario
        self._expected: frozenset[int] = frozenset()
        self._held: _Deferred | None = None

    @contextmanager
    def expecting(self, *statuses: int) -> Iterator[None]:
        """Within the block, these error statuses are answers the scenario asked for, not failures."""
        previous = self._expected
        self._expected = previous | frozenset(statuses)
        try:
            yield
        finally:
            self._expected = previous

    @property
    def last_exchange(self) -> Exchange | None:
        """The most recent exchange (the closing PUT right after an upload, for time to commit)."""
        kept = self.exchanges
        return kept[-1] if kept else None

    @contextmanager
    def deferred(self) -> Iterator[_Deferred]:
        """Hold the block's exchanges until the scenario has read a streamed body, then report the last
        one with the bytes received and the time to the end of the body (not just to the headers)."""
        pending = _Deferred()
        self._held = pending
        try:
            yield pending
        finally:
            self._held = None
            for index, exchange in enumerate(pending.exchanges):
                if index == len(pending.exchanges) - 1 and pending.received is not None:
                    exchange.response_body_size = pending.received
                    exchange.elapsed_ms = pending.elapsed_ms
                self._report(exchange)

    def add(self, exchange: Exchange) -> None:
        super().add(exchange)  # keeps only the last exchange, for a scenario's error messages
        if self._held is not None:
            self._held.exchanges.append(exchange)
        else:
            self._report(exchange)

    def _report(self, exchange: Exchange) -> None:
        name = endpoint_name(exchange.method, exchange.url, exchange.request_headers, exchange.note)
        moved = (exchange.request_body_size or 0) + (exchange.response_body_size or 0)
        exception: Exception | None = None
        if exchange.status is None:
            exception = TransportFailure(_error_kind(exchange.error))
        elif is_auth_challenge(exchange):
            name = f"{name} (auth challenge)"
        elif exchange.status >= 400 and exchange.status not in self._expected:
            exception = OCIFailure.from_body(exchange.status, exchange.response_text)
        self.ledger.add_bytes(self.scenario, moved)
        self.environment.events.request.fire(
            request_type=exchange.method,
            name=name,
            response_time=exchange.elapsed_ms or 0.0,
            response_length=moved,
            exception=exception,
            context={"scenario": self.scenario},
            response=None,
            url=exchange.url,
        )


class _Deferred:
    """Exchanges held by `LocustRecorder.deferred` and what the streamed body turned out to be."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.received: int | None = None
        self.elapsed_ms: float | None = None

    def complete(self, received: int, elapsed_ms: float) -> None:
        self.received = received
        self.elapsed_ms = elapsed_ms


def _error_kind(error: str | None) -> str:
    """ "ReadTimeout: timed out" -> "ReadTimeout"; keeps failure rows grouped."""
    if not error:
        return "transport error"
    return error.split(":", 1)[0].strip() or "transport error"


def fire_summary_event(  # type: ignore[no-untyped-def]
    environment,
    *,
    request_type: str,
    name: str,
    response_time_ms: float,
    length: int,
    exception: Exception | None = None,
    scenario: str = "",
) -> None:
    """A composite entry (one whole upload, one idle probe) that no single exchange represents."""
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=response_time_ms,
        response_length=length,
        exception=exception,
        context={"scenario": scenario},
        response=None,
        url=None,
    )
