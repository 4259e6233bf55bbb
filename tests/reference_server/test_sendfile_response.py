"""Blob bodies through sendfile(2) from a worker thread (reference_server.http.sendfile_response): every
byte arrives in order when the socket is full most of the time, a vanished client ends the send, and
the registry's GETs (whole, ranged, HEAD) still answer exactly."""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import httpx
import pytest

from reference_server.http.sendfile_response import send_all

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
