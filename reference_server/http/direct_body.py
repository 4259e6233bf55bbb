"""A large blob body received straight into the upload's aligned buffers.

Why: aiohttp hands a body over as bytes objects that the event loop copied out of its read buffer,
and the upload writer then copies them once more into a page-aligned buffer for O_DIRECT: two copies
of every byte in user space, on the core that also receives. For a body of known length (Content-Length,
no chunked encoding) on a plain TCP connection, the connection is switched to a buffered protocol
for the body's duration: the kernel copies the socket's bytes into the buffer that the writer and the
hasher then read (registry/uploads.py, `_receive_blocks`).

The price: aiohttp's HTTP parser never sees these bytes and still waits for them, so the connection
cannot carry another request. Every answer to such a request says `Connection: close` and the client
opens a new connection for its next one. Only bodies of DIRECT_BODY_MIN_BYTES or more go this way,
where one TCP connect costs nothing next to the copies saved; smaller and chunked bodies stay with
aiohttp's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import cast

from aiohttp import hdrs, web

from reference_server.registry.uploads import ByteStream

DIRECT_BODY_MIN_BYTES = 4 * 1024 * 1024
_USED_KEY = web.RequestKey("keelhaul.direct_body", bool)


class DirectBody:
    """One request's body, `length` bytes, read into views lent by the receiver (a BlockStream).

    Bytes aiohttp had already buffered (they came with the headers) are copied out first; after that
    the transport talks to a `_Sink` until the body is complete, then to aiohttp's protocol again."""

    def __init__(self, request: web.BaseRequest, length: int) -> None:
        transport = request.transport
        assert transport is not None
        self._transport = transport
        self._protocol = cast(asyncio.Protocol, request.protocol)
        self._payload = request.content
        self._loop = asyncio.get_running_loop()
        self._remaining = length  # bytes of the body not yet placed in a view
        self._view: memoryview | None = None
        self._placed = 0
        self._reading: asyncio.Future[int] | None = None
        self._error: BaseException | None = None
        self._sink: _Sink | None = None
        self.last_arrival = self._loop.time()

    # -- BlockStream -----------------------------------------------------------------------------

    def start_read(self, view: memoryview) -> asyncio.Future[int]:
        reading: asyncio.Future[int] = self._loop.create_future()
        if self._error is not None:
            reading.set_exception(self._error)
            return reading
        self._view = view[: self._remaining]
        self._placed = 0
        self._reading = reading
        if self._sink is None:
            self._take_buffered()
        if self._view is None:
            return reading  # done from what aiohttp had buffered
        if self._sink is None:
            self._sink = _Sink(self)
            self._transport.set_protocol(self._sink)
        self._transport.resume_reading()
        return reading

    def stop_read(self) -> None:
        self._view = None
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()
        self._reading = None
        self._give_back()

    # -- what the sink reports -------------------------------------------------------------------

    def _target(self) -> memoryview:
        assert self._view is not None, "reading was not paused between views"
        return self._view[self._placed :]

    def _filled(self, count: int) -> None:
        self.last_arrival = self._loop.time()
        self._placed += count
        self._remaining -= count
        assert self._view is not None
        if self._placed == len(self._view):
            self._complete()

    def _failed(self, error: BaseException) -> None:
        self._error = error
        reading, self._reading, self._view = self._reading, None, None
        if reading is not None and not reading.done():
            reading.set_exception(error)

    # -- internals -------------------------------------------------------------------------------

    def _take_buffered(self) -> None:
        """Copy what aiohttp's stream already holds (at most the view's length) into the view."""
        assert self._view is not None
        while self._placed < len(self._view):
            data = self._payload.read_nowait(len(self._view) - self._placed)
            if not data:
                break
            self._view[self._placed : self._placed + len(data)] = data
            self._placed += len(data)
            self._remaining -= len(data)
        if self._placed == len(self._view):
            self._complete()

    def _complete(self) -> None:
        reading, placed = self._reading, self._placed
        self._view, self._reading = None, None
        if self._sink is not None:
            self._transport.pause_reading()  # until the next view, or for good
            if not self._remaining:
                self._give_back()
                self._payload.feed_eof()  # aiohttp's own view of the request: complete
        if reading is not None and not reading.done():
            reading.set_result(placed)

    def _give_back(self) -> None:
        """The connection back to aiohttp's protocol (the answer is written through it)."""
        if self._sink is not None and not self._transport.is_closing():
            self._transport.set_protocol(self._protocol)
            if self._remaining:
                self._transport.resume_reading()  # an unread rest: aiohttp lingers over it, then closes
        self._sink = None


class _Sink(asyncio.BufferedProtocol):
    """The connection's protocol while a DirectBody is read: bytes go into the lent view; the end of
    the connection fails the body and is then aiohttp's to handle as usual."""

    def __init__(self, body: DirectBody) -> None:
        self._body = body

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._body._target()

    def buffer_updated(self, nbytes: int) -> None:
        self._body._filled(nbytes)

    def eof_received(self) -> bool | None:
        self._body._failed(ConnectionResetError("the client ended the body early"))
        return self._body._protocol.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._body._failed(ConnectionResetError("the connection was lost during the body"))
        self._body._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._body._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._body._protocol.resume_writing()


@contextlib.contextmanager
def upload_body(request: web.Request) -> Iterator[DirectBody | ByteStream]:
    """The request's body as the upload receiver should read it: a DirectBody when it is large, of
    known length and on a plain TCP connection, else aiohttp's stream. On leaving, the connection is
    aiohttp's again whatever happened (a rest of the body that was not read, aiohttp lingers over)."""
    length = request.content_length
    transport = request.transport
    if (
        length is None
        or length < DIRECT_BODY_MIN_BYTES
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        or transport is None
        or transport.get_extra_info("ssl_object") is not None
    ):
        yield request.content
        return
    request[_USED_KEY] = True
    body = DirectBody(request, length)
    try:
        yield body
    finally:
        body.stop_read()


async def close_after_direct_body(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: a connection whose body bypassed aiohttp's parser carries nothing more."""
    if request.get(_USED_KEY):
        response.force_close()  # aiohttp closes after this answer
        response.headers[hdrs.CONNECTION] = "close"  # the keep-alive headers were set before this hook


def install(app: web.Application) -> None:
    app.on_response_prepare.append(close_after_direct_body)
