"""Running the application: event loop choice and the aiohttp runner settings shared by
`keelhaul serve` and EmbeddedServer."""

from __future__ import annotations

import asyncio

from aiohttp import web

# Passed to aiohttp's request handler: long request lines so our own length gates (not aiohttp's
# plain-text 400) answer oversized names with an OCI error; big read buffers for fast uploads.
HANDLER_ARGS = {"max_line_size": 65536, "max_field_size": 65536, "read_bufsize": 1024 * 1024}


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (faster request handling), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def make_runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, access_log=None, handle_signals=False, **HANDLER_ARGS)


def bound_port(runner: web.AppRunner) -> int:
    """The port actually bound (for `--listen host:0`)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("server has no TCP address")
