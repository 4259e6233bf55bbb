"""Blob bodies through sendfile(2) from a worker thread (reference_server.http.sendfile_response): every
byte arrives in order when the socket is full most of the time, a vanished client ends the send, and
the registry's GETs (whole, ranged, HEAD) still answer exactly."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from reference_server.http import sendfile_response
from reference_server.http.sendfile_response import send_all
from reference_server.storage import direct_reader, direct_writer

MIB = 1024 * 1024


def _content(size: int) -> bytes:
    block = hashlib.sha256(b"sendfile").digest() * 2048  # 64 KiB, not periodic at 4 KiB
    return (block * (size // len(block) + 1))[:size]


def test_a_slow_reader_gets_every_byte_in_order(tmp_path: Path) -> None:
    data = _content(3 * MIB + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    sender, receiver = socket.socketpair()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # full almost at once: EAGAIN path
    sender.setblocking(False)
    received = bytearray()

    def read() -> None:
        while chunk := receiver.recv(7_000):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    with open(path, "rb") as handle:
        sent = send_all(sender.fileno(), handle.fileno(), 100, len(data) - 100)
    sender.close()
    reader.join(10)
    receiver.close()
    assert sent == len(data) - 100
    assert bytes(received) == data[100:]


def test_a_client_that_went_away_ends_the_send(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(_content(4 * MIB))
    sender, receiver = socket.socketpair()
    sender.setblocking(False)
    receiver.close()
    with open(path, "rb") as handle, pytest.raises(ConnectionResetError):
        send_all(sender.fileno(), handle.fileno(), 0, 4 * MIB)
    sender.close()


def test_a_client_that_reads_nothing_is_dropped_after_the_idle_time(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(_content(8 * MIB))
    sender, receiver = socket.socketpair()
    sender.setblocking(False)
    try:
        with open(path, "rb") as handle, pytest.raises(ConnectionResetError, match="no data"):
            send_all(sender.fileno(), handle.fileno(), 0, 8 * MIB, idle_seconds=0.2)
    finally:
        sender.close()
        receiver.close()


def _receive_all(receiver: socket.socket, received: bytearray) -> threading.Thread:
    def read() -> None:
        while chunk := receiver.recv(256 * 1024):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    return reader


def _send_uncached(path: Path, offset: int, count: int) -> tuple[int, bytes]:
    """send_all of a range of `path` (its pages dropped from the cache first) over a socket pair;
    returns what send_all returned and what arrived."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        sender, receiver = socket.socketpair()
        sender.setblocking(False)
        received = bytearray()
        reader = _receive_all(receiver, received)
        try:
            sent = send_all(sender.fileno(), handle.fileno(), offset, count)
        finally:
            sender.close()
            reader.join(30)
            receiver.close()
    return sent, bytes(received)


@pytest.fixture
def read_past_the_cache(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The ranges send_all read with O_DIRECT (recorded, then read for real)."""
    ranges: list[tuple[int, int]] = []
    real = direct_reader.read_blocks

    def recording(direct_fd: int, offset: int, count: int):
        ranges.append((offset, count))
        return real(direct_fd, offset, count)

    monkeypatch.setattr(direct_reader, "read_blocks", recording)
    return ranges


def test_an_uncached_body_is_read_past_the_cache_and_arrives_exactly(
    tmp_path: Path, read_past_the_cache: list[tuple[int, int]]
) -> None:
    """Issue 14: on a VM whose new cache pages are cold, a body not in the cache is read with O_DIRECT
    rather than through sendfile; its bytes are the same, from an unaligned offset to the last one.
    Afterwards the range is brought into the cache in the background, for the next pull."""
    data = _content(13 * MIB + 5)
    path = tmp_path / "blob"
    path.write_bytes(data)
    sent, received = _send_uncached(path, 100, len(data) - 100)
    if not read_past_the_cache:
        pytest.skip("this filesystem refuses O_DIRECT or keeps its pages in memory")
    assert read_past_the_cache == [(100, len(data) - 100)]
    assert sent == len(data) - 100
    assert received == data[100:]
    assert direct_writer.touches_done(30)
    with open(path, "rb") as handle:
        assert direct_reader.cached(handle.fileno(), 0, len(data))


def test_a_cached_body_still_goes_through_sendfile(
    tmp_path: Path, read_past_the_cache: list[tuple[int, int]]
) -> None:
    data = _content(9 * MIB)
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as handle:
        assert handle.read() == data  # in the cache now
        sender, receiver = socket.socketpair()
        sender.setblocking(False)
        received = bytearray()
        reader = _receive_all(receiver, received)
        try:
            assert send_all(sender.fileno(), handle.fileno(), 0, len(data)) == len(data)
        finally:
            sender.close()
            reader.join(30)
            receiver.close()
    assert bytes(received) == data
    assert read_past_the_cache == []


def test_where_o_direct_is_refused_an_uncached_body_goes_through_sendfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused at the open (tmpfs) or at the first read: nothing was sent yet, sendfile sends it all."""
    data = _content(9 * MIB + 1)
    path = tmp_path / "blob"
    path.write_bytes(data)
    monkeypatch.setattr(direct_reader, "open_direct", lambda fd: None)
    assert _send_uncached(path, 0, len(data)) == (len(data), data)

    def refusing(direct_fd: int, offset: int, count: int):
        raise OSError(errno.EINVAL, "O_DIRECT reads refused")
        yield memoryview(b"")  # a generator, as the real one

    monkeypatch.setattr(direct_reader, "open_direct", lambda fd: os.open(path, os.O_RDONLY))
    monkeypatch.setattr(direct_reader, "read_blocks", refusing)
    assert _send_uncached(path, 7, len(data) - 7) == (len(data) - 7, data[7:])


def test_past_the_limit_of_bodies_read_past_the_cache_sendfile_sends_the_next(
    tmp_path: Path, read_past_the_cache: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most DIRECT_SENDS bodies hold read buffers at once: with every slot taken, an uncached body
    goes through sendfile, whole and exact; with a slot free again, past the cache."""
    data = _content(9 * MIB)
    path = tmp_path / "blob"
    path.write_bytes(data)
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(sendfile_response, "_DIRECT_SLOTS", slots)
    assert slots.acquire(blocking=False)
    assert _send_uncached(path, 0, len(data)) == (len(data), data)
    assert read_past_the_cache == []
    slots.release()
    assert _send_uncached(path, 0, len(data)) == (len(data), data)
    if not read_past_the_cache:
        pytest.skip("this filesystem refuses O_DIRECT or keeps its pages in memory")
    assert read_past_the_cache == [(0, len(data))]
    assert slots.acquire(blocking=False)  # given back after the body


def test_a_client_gone_during_an_uncached_body_ends_the_send_and_frees_its_buffers(
    tmp_path: Path, read_past_the_cache: list[tuple[int, int]]
) -> None:
    path = tmp_path / "blob"
    path.write_bytes(_content(16 * MIB))
    pool = direct_writer._POOL
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        sender, receiver = socket.socketpair()
        sender.setblocking(False)
        receiver.close()
        free_before = len(pool._free)
        with pytest.raises(ConnectionResetError):
            send_all(sender.fileno(), handle.fileno(), 0, 16 * MIB)
        sender.close()
    if not read_past_the_cache:
        pytest.skip("this filesystem refuses O_DIRECT or keeps its pages in memory")
    assert len(pool._free) == min(max(free_before, direct_reader.BUFFERS), pool.limit)


def test_blob_gets_whole_ranged_and_head_answer_exactly(http: httpx.Client, repo: str) -> None:
    data = _content(5 * MIB + 17)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = http.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data,
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert started.status_code == 201, started.text
    url = f"/v2/{repo}/blobs/{digest}"
    whole = http.get(url)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["Docker-Content-Digest"] == digest
    ranged = http.get(url, headers={"Range": "bytes=1000-2000000"})
    assert ranged.status_code == 206
    assert ranged.content == data[1000:2000001]
    assert ranged.headers["Content-Range"] == f"bytes 1000-2000000/{len(data)}"
    head = http.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(data)
