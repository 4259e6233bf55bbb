"""Running the application: event loop choice and the aiohttp runner settings shared by
`keelhaul serve` and EmbeddedServer, and our connection protocol class.

`RegistryRequestHandler` (aiohttp's per-connection protocol, subclassed) does two things the app
cannot do from a handler or middleware:
- requests aiohttp rejects before any handler runs (bad request line, bad header, bad chunked
  encoding, bad Content-Length) get an OCI error body instead of aiohttp's plain-text 400;
- it stamps when a connection last received bytes (`received_ns`), so the metadata cache can skip
  its foreign-write check for requests that had fully arrived before the last check (see
  storage.metadata.REQUEST_RECEIVED_NS).
Plugging the class in relies on two aiohttp internals (AppRunner._make_server and the Server's
`_loop`/`_kwargs`); tests/reference_server/test_protocol.py fails loudly if they change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from reference_server.http.app import error_response
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


class RegistryRequestHandler(RequestHandler):
    """aiohttp's connection protocol with OCI error bodies for unparsable requests and a receive stamp."""

    __slots__ = ("received_ns",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received_ns = 0

    def data_received(self, data: bytes) -> None:
        self.received_ns = time.monotonic_ns()
        super().data_received(data)

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
    """aiohttp's low-level server, building RegistryRequestHandler connections."""

    def __call__(self) -> RequestHandler:
        return RegistryRequestHandler(self, loop=self._loop, **self._kwargs)


class RegistryRunner(web.AppRunner):
    """AppRunner whose server uses RegistryRequestHandler."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return RegistryServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )


def make_runner(app: web.Application) -> web.AppRunner:
    return RegistryRunner(
        app,
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
