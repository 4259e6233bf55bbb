"""Blob bodies through the kernel's sendfile(2), under uvloop too.

Why: aiohttp's FileResponse asks the event loop for `sendfile`; uvloop has none, so aiohttp falls back
to reading the file in 1 MiB pieces into Python and writing them to the socket: a copy in and a copy
out per byte. Measured for issue 14: about 1 s of server CPU per GiB pulled, against 0.08 s for nginx
serving the same file with sendfile. This response keeps everything FileResponse decides (Range, 206,
416, conditional requests, HEAD, headers) and only replaces how the bytes of the body are sent: from
a worker thread, with sendfile on a duplicate of the connection's socket, so a cold blob that must be
read from disk never blocks the event loop.

Safe because nothing else writes to the connection meanwhile: aiohttp handles one request per
connection at a time and writes the end of this response only after the body. The headers are out
of the transport's buffer before the first sendfile, so the bytes stay in order. The duplicate
descriptor keeps the socket open for the worker even if the client goes away and the event loop
closes its own descriptor; then sendfile fails (EPIPE, ECONNRESET) and the response ends as a lost
connection. A client that reads nothing for IDLE_SECONDS is dropped the same way.

A body whose pages are not in the page cache (a blob pushed past it, or evicted since) is read with
O_DIRECT into reused buffers and written to the socket instead (storage/direct_reader.py says why:
on a VM that hands freed memory back to its host, filling the cache costs more than the disk read).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import functools
import os
import select
import threading
from collections.abc import Callable
from typing import IO, Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from reference_server.storage import direct_reader, direct_writer

IDLE_SECONDS = 60.0  # like the upload side: a peer that takes nothing for this long is gone
SENDFILE_THREADS = 16  # concurrent blob bodies in flight; more wait for a free thread
_HEADER_FLUSH_POLL_SECONDS = 0.001
DIRECT_MIN_BYTES = 8 * 1024 * 1024  # smaller bodies: one sendfile, whatever the cache holds
# Bodies read past the cache at once, each holding direct_reader.BUFFERS x 4 MiB of buffers (48 MiB
# in all); more go through sendfile meanwhile, so many cold pulls cannot grow the server's memory.
DIRECT_SENDS = 4
_DIRECT_SLOTS = threading.BoundedSemaphore(DIRECT_SENDS)
_PEER_GONE = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF)

_POOL = concurrent.futures.ThreadPoolExecutor(
    max_workers=SENDFILE_THREADS, thread_name_prefix="keelhaul-sendfile"
)


def send_all(
    socket_fd: int, file_fd: int, offset: int, count: int, idle_seconds: float = IDLE_SECONDS
) -> int:
    """Send `count` bytes of `file_fd` from `offset` to the non-blocking socket `socket_fd`: through
    sendfile when the pages are cached, else read past the cache (`send_uncached`). Returns the bytes
    sent. ConnectionResetError when the peer goes away or takes nothing for `idle_seconds`."""
    uncached = count >= DIRECT_MIN_BYTES and not direct_reader.cached(file_fd, offset, count)
    if uncached and _DIRECT_SLOTS.acquire(blocking=False):
        try:
            sent = send_uncached(socket_fd, file_fd, offset, count, idle_seconds)
        finally:
            _DIRECT_SLOTS.release()
        if sent is not None:
            direct_writer.cache_later(file_fd, offset, sent)  # for its next pull
            return sent
    return send_with_sendfile(socket_fd, file_fd, offset, count, idle_seconds)


def send_uncached(
    socket_fd: int, file_fd: int, offset: int, count: int, idle_seconds: float = IDLE_SECONDS
) -> int | None:
    """`send_all` through O_DIRECT reads into pooled buffers; None (nothing sent) where the filesystem
    refuses O_DIRECT, so that the caller uses sendfile instead."""
    direct_fd = direct_reader.open_direct(file_fd)
    if direct_fd is None:
        return None
    sent_total = 0
    try:
        blocks = direct_reader.read_blocks(direct_fd, offset, count)
        try:
            with direct_writer.busy():  # the background touch would take the CPU and disk it needs
                for view in blocks:
                    write_all(socket_fd, view, idle_seconds)
                    sent_total += len(view)
        except OSError as error:
            if sent_total or error.errno != errno.EINVAL:
                raise
            return None  # refused at the first read: nothing went out yet
        finally:
            blocks.close()
    finally:
        os.close(direct_fd)
    return sent_total


def write_all(socket_fd: int, view: memoryview, idle_seconds: float = IDLE_SECONDS) -> None:
    """Write all of `view` to the non-blocking socket `socket_fd`, waiting for room as `send_all`."""
    poller = _writable(socket_fd)
    while view:
        written = _write_step(poller, idle_seconds, functools.partial(os.write, socket_fd, view))
        if written is not None:
            view = view[written:]


def send_with_sendfile(
    socket_fd: int, file_fd: int, offset: int, count: int, idle_seconds: float = IDLE_SECONDS
) -> int:
    """`send_all` through sendfile(2)."""
    poller = _writable(socket_fd)
    sent_total = 0
    while count > 0:
        sent = _write_step(
            poller, idle_seconds, functools.partial(os.sendfile, socket_fd, file_fd, offset, count)
        )
        if sent is None:
            continue
        if sent == 0:
            break  # the file is shorter than announced (truncated under us): nothing more to send
        offset += sent
        count -= sent
        sent_total += sent
    return sent_total


def _writable(socket_fd: int) -> select.poll:
    poller = select.poll()
    poller.register(socket_fd, select.POLLOUT)
    return poller


def _write_step(poller: select.poll, idle_seconds: float, write: Callable[[], int]) -> int | None:
    """One `write()` to a non-blocking socket: the bytes it took, or None once there is room again
    after a full socket buffer. ConnectionResetError when the peer went away or took nothing for
    `idle_seconds`."""
    try:
        return write()
    except BlockingIOError:
        if not poller.poll(idle_seconds * 1000):
            raise ConnectionResetError(f"the client took no data for {idle_seconds:g} s") from None
        return None
    except OSError as error:
        if error.errno in _PEER_GONE:
            raise ConnectionResetError(str(error)) from None
        raise


class SendfileResponse(web.FileResponse):
    """web.FileResponse whose body goes out through sendfile(2) from a worker thread."""

    async def _sendfile(
        self, request: web.BaseRequest, fobj: IO[Any], offset: int, count: int
    ) -> AbstractStreamWriter:
        transport = request.transport
        socket = transport.get_extra_info("socket") if transport is not None else None
        if socket is None or self.compression:
            return await super()._sendfile(request, fobj, offset, count)
        writer = await web.StreamResponse.prepare(self, request)
        assert writer is not None
        assert transport is not None
        while transport.get_write_buffer_size():  # the headers must be on the wire before the body
            if transport.is_closing():
                raise ConnectionResetError("connection lost")
            await asyncio.sleep(_HEADER_FLUSH_POLL_SECONDS)
        socket_fd = os.dup(socket.fileno())
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(_POOL, send_all, socket_fd, fobj.fileno(), offset, count)
        finally:
            os.close(socket_fd)
        await web.StreamResponse.write_eof(self)
        return writer
