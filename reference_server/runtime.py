"""Running the application: event loop choice and the aiohttp runner settings shared by
`keelhaul serve` and EmbeddedServer, and our connection protocol class.

`RegistryRequestHandler` (aiohttp's per-connection protocol, subclassed) does two things the app
cannot do from a handler or middleware:
- requests aiohttp rejects before any handler runs (bad request line, bad header, bad chunked
  encoding, bad Content-Length) get an OCI error body instead of aiohttp's plain-text 400;
- it stamps when a connection last received bytes (`received_ns`), so the metadata cache can skip
  its foreign-write check for requests that had fully arrived before the last check (see
  storage.metadata.REQUEST_RECEIVED_NS);
- it enforces connection hygiene (connections.py): connections over the caps are answered 503
  before any request and closed; request headers that do not arrive in time get 408 and a close;
- it replays kept answers to repeated identical manifest reads while aiohttp is idle on the
  connection, and keeps the answers dispatch planned for (http/replay.py).
Plugging the class in relies on aiohttp internals (AppRunner._make_server, the Server's
`_loop`/`_kwargs`, and for the replay the handler's idle state and keep-alive clock);
tests/reference_server/test_protocol.py and test_replay.py fail loudly if they change (the slots
make a renamed attribute an AttributeError on the first request).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from reference_server.http.app import REGISTRY_KEY, REPLAY_KEY, REPLAY_PLAN_KEY, error_response
from reference_server.http.connections import (
    ConnectionGate,
    ConnectionLimits,
    shed_response,
    timeout_response,
)
from reference_server.http.replay import ReplayCache, is_lone_head, leaves_parser_empty
from reference_server.registry.errors import ErrorCode, OCIError

log = logging.getLogger("reference_server")

# Passed to aiohttp's request handler: long request lines so our own length gates (not aiohttp's
# plain-text 400) answer oversized names with an OCI error; big read buffers for fast uploads.
MAX_LINE_SIZE = 65536  # request line and header lines aiohttp accepts
MAX_FIELD_SIZE = 65536
READ_BUFSIZE = 1024 * 1024


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (faster request handling), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


SHED_LINGER_SECONDS = 1.0  # a shed connection stays half-open this long so the client reads the 503


# Read-ahead for a manifest PUT's body (aiohttp's read_bufsize, 1 MiB here for fast uploads, lets a
# connection buffer twice that before it pauses reading): the handler reserves the body in the
# server-wide budget (body_budget.py) before reading, so read-ahead beyond this would be unbudgeted.
MANIFEST_READ_AHEAD_BYTES = 64 * 1024


def _limit_manifest_buffer(message: object, payload: object) -> None:
    """Shrink the read-ahead of a manifest PUT's body stream (a private aiohttp StreamReader knob;
    tests/reference_server/test_protocol.py notices if it goes away)."""
    if getattr(message, "method", None) != "PUT" or "/manifests/" not in getattr(message, "path", ""):
        return
    if hasattr(payload, "_high_water") and hasattr(payload, "_low_water"):
        payload._low_water = MANIFEST_READ_AHEAD_BYTES // 2
        payload._high_water = MANIFEST_READ_AHEAD_BYTES


class RegistryRequestHandler(RequestHandler):
    """aiohttp's connection protocol with OCI error bodies for unparsable requests, a receive
    stamp, the connection caps and the request-header deadline."""

    __slots__ = (
        "_address",
        "_answered",
        "_gate",
        "_given",
        "_header_deadline",
        "_last_kept_alive",
        "_replay",
        "_replay_clean",
        "_replay_request",
        "_shed",
        "received_ns",
    )

    def __init__(self, manager: RegistryServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(manager, *args, **kwargs)
        self.received_ns = 0
        self._gate = manager.gate
        self._address = ""
        self._shed = False
        self._header_deadline: asyncio.TimerHandle | None = None
        self._replay: ReplayCache | None = manager.replay
        # True while every byte aiohttp's parser got here formed complete requests without bodies.
        self._replay_clean = True
        self._replay_request: bytes | None = None  # the lone request head aiohttp got last while idle
        # While clean, each piece of data aiohttp got was one request: those given and answered.
        self._given = 0
        self._answered = 0
        self._last_kept_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        refusal = self._gate.admit(self._address)
        if refusal is not None:
            self._shed = True
            stream = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
            stream.write(shed_response(refusal))
            if stream.can_write_eof():
                stream.write_eof()  # the client sees the 503, then end of stream
            self._loop.call_later(SHED_LINGER_SECONDS, stream.close)
            return
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._shed:
            return
        self._gate.release(self._address)
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._shed:
            return None  # the transport closes itself
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        if self._shed:
            return  # discard whatever the refused client sends
        self.received_ns = time.monotonic_ns()
        if self._replay_clean:
            idle = self._idle_for_replay()
            if idle and self._replay is not None:
                answer = self._replay.answer(data)
                if answer is not None:
                    self._send_replay(answer)
                    return
            self._replay_request = data if idle and is_lone_head(data) else None
            self._replay_clean = leaves_parser_empty(data)
            self._given += 1
        queued = len(self._messages)
        super().data_received(data)
        for message, payload in list(self._messages)[queued:]:
            _limit_manifest_buffer(message, payload)
        if self._request_in_progress or self._messages:
            self._cancel_header_deadline()  # the headers are in
        else:
            self._arm_header_deadline()  # the first bytes of a request after an idle wait

    def take_replay_request(self) -> bytes | None:
        """The bytes of the request dispatch is handling, if they arrived alone on an idle, clean
        connection (else None); each arrival is given out once."""
        request, self._replay_request = self._replay_request, None
        return request

    def _idle_for_replay(self) -> bool:
        """aiohttp has answered every request it was given here (the last one keep-alive) and has
        nothing queued or in progress, the connection stays open, and its writes are not paused (a
        client that does not read gets no more answers queued than through aiohttp). Only meaningful
        while the connection is clean (each piece of data given was one request)."""
        return (
            self._answered == self._given
            and self._last_kept_alive
            and not self._messages
            and not self._request_in_progress
            and not self._paused
            and not self._force_close
            and not self._close
            and self._payload_parser is None
            and not self._upgraded
            and self.transport is not None
        )

    def _send_replay(self, answer: bytes) -> None:
        assert self.transport is not None
        self.transport.write(answer)
        self._cancel_header_deadline()
        self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout  # a request came

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """aiohttp's, then the answer is kept for replay when dispatch planned so and it was sent whole."""
        sent, reset = await super().finish_response(request, resp, start_time)
        self._answered += 1
        self._last_kept_alive = bool(sent.keep_alive) and not reset
        plan = request.get(REPLAY_PLAN_KEY)
        if plan is not None and not reset and sent is resp and self._replay is not None:
            self._replay.keep(plan, resp)
        return sent, reset

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            delay = self._gate.limits.header_timeout
            self._header_deadline = self._loop.call_later(delay, self._headers_overdue)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_overdue(self) -> None:
        self._header_deadline = None
        if self._request_in_progress or self._messages or self.transport is None:
            return
        self.transport.write(timeout_response())
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp calls this for requests it could not parse (before any handler) and for
        exceptions that escaped the app; answer with an OCI error body and close the connection."""
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error body")
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            status = exc.code  # bad framing noticed while the handler read the body
        if 400 <= status < 500:
            reason = (getattr(exc, "message", None) or message or "").strip().splitlines()
            first_line = reason[0].rstrip(":") if reason else "unparsable request"
            log.warning("malformed HTTP request from %s: %s", request.remote, first_line[:200])
            code = ErrorCode.SIZE_INVALID if status == 413 else ErrorCode.UNSUPPORTED
            error = OCIError(code, f"malformed HTTP request: {first_line[:200]}", status=status)
        else:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
            error = OCIError(ErrorCode.UNSUPPORTED, "internal server error", status=status)
        response = error_response(error)
        response.force_close()
        return response


class RegistryServer(web.Server):
    """aiohttp's low-level server, building RegistryRequestHandler connections that share one gate."""

    gate: ConnectionGate
    replay: ReplayCache | None = None

    def __call__(self) -> RequestHandler:
        return RegistryRequestHandler(self, loop=self._loop, **self._kwargs)


class RegistryRunner(web.AppRunner):
    """AppRunner whose server uses RegistryRequestHandler, with the given connection limits."""

    def __init__(self, app: web.Application, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=limits.idle_timeout, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        server = RegistryServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )
        server.gate = ConnectionGate(self.limits)
        server.replay = self.app.get(REPLAY_KEY)
        return server


def connection_limits(app: web.Application) -> ConnectionLimits:
    """The app's configured deadlines and caps, fitted under the current descriptor limit."""
    config = app[REGISTRY_KEY].config
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ConnectionLimits.for_descriptor_limit(
        soft if soft != resource.RLIM_INFINITY else 1 << 20,
        header_timeout=config.header_timeout_seconds,
        idle_timeout=config.idle_timeout_seconds,
        max_connections=config.max_connections,
        max_per_address=config.max_connections_per_address,
    )


def make_runner(app: web.Application) -> web.AppRunner:
    return RegistryRunner(
        app,
        connection_limits(app),
        access_log=None,
        handle_signals=False,
        max_line_size=MAX_LINE_SIZE,
        max_field_size=MAX_FIELD_SIZE,
        read_bufsize=READ_BUFSIZE,
    )


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (for `--listen host:0`)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("server has no TCP address")
