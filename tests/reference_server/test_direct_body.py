"""Large upload bodies received straight into the writer's aligned buffers (http/direct_body.py,
registry/uploads.py `_receive_blocks`): exact bytes at any offset, the connection closed after, and
the same rollback, stall and early-end answers as aiohttp's stream."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import mmap
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from reference_server.embedded import EmbeddedServer
from reference_server.http.app import REGISTRY_KEY
from reference_server.http.direct_body import DIRECT_BODY_MIN_BYTES
from reference_server.registry import uploads
from reference_server.registry.uploads import UploadStalled, receive_body
from reference_server.storage import direct_writer
from reference_server.storage.direct_writer import UploadWriter

from .helpers import assert_oci_error, sha256

MIB = 1024 * 1024
OCTET = {"Content-Type": "application/octet-stream"}


def _data(total: int, seed: int) -> bytes:
    return bytes((i * 13 + seed) % 251 for i in range(251)) * (total // 251) + bytes(total % 251)


def _patch(http: httpx.Client, location: str, data: bytes, start: int) -> httpx.Response:
    headers = {**OCTET, "Content-Range": f"{start}-{start + len(data) - 1}"}
    return http.patch(location, content=data, headers=headers)


def test_large_chunks_at_unaligned_offsets_are_stored_exactly(http: httpx.Client, repo: str) -> None:
    """A small chunk (aiohttp's stream) leaves the offset mid-block; the large ones after it start
    there, end mid-block, and are answered with `Connection: close`."""
    small = _data(1000, 1)
    large = [_data(DIRECT_BODY_MIN_BYTES + 4097, 2), _data(9 * MIB + 5, 3)]
    location = http.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    answer = _patch(http, location, small, 0)
    assert answer.status_code == 202
    assert answer.headers.get("Connection", "").lower() != "close"
    offset = len(small)
    for chunk in large:
        answer = _patch(http, location, chunk, offset)
        assert answer.status_code == 202, answer.text
        assert answer.headers["Connection"].lower() == "close"
        offset += len(chunk)
        assert answer.headers["Range"] == f"0-{offset - 1}"
    last = _data(5 * MIB + 3, 4)
    data = small + b"".join(large) + last
    final = http.put(
        f"{location}?digest={sha256(data)}",
        content=last,
        headers={**OCTET, "Content-Range": f"{offset}-{offset + len(last) - 1}"},
    )
    assert final.status_code == 201, final.text
    assert final.headers["Connection"].lower() == "close"
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_a_large_single_request_upload_checks_its_digest(http: httpx.Client, repo: str) -> None:
    data = _data(6 * MIB + 1, 5)
    wrong = "sha256:" + "0" * 64
    answer = http.post(f"/v2/{repo}/blobs/uploads/?digest={wrong}", content=data, headers=OCTET)
    assert_oci_error(answer, 400, "DIGEST_INVALID")
    assert http.head(f"/v2/{repo}/blobs/{wrong}").status_code == 404
    answer = http.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", content=data, headers=OCTET)
    assert answer.status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def _raw_patch_head(registry_url: str, location: str, start: int, length: int) -> tuple[socket.socket, bytes]:
    parts = urlsplit(registry_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Range: {start}-{start + length - 1}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    return sock, head


def _read_answer(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        piece = sock.recv(65536)
        if not piece:
            break
        received += piece
    return received


def test_a_body_ended_early_appends_nothing(http: httpx.Client, registry_url: str, repo: str) -> None:
    """The client sends part of a large body, then shuts its sending side: the server ends the
    connection (as aiohttp's own protocol does at end of stream) and keeps the session as it was."""
    location = http.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    assert _patch(http, location, b"kept", 0).status_code == 202
    sock, head = _raw_patch_head(registry_url, location, 4, 10 * MIB)
    with sock:
        sock.sendall(head + _data(7 * MIB, 6))
        sock.shutdown(socket.SHUT_WR)
        answer = _read_answer(sock)
    assert answer == b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and http.get(location).headers["Range"] != "0-3":
        time.sleep(0.05)
    assert http.get(location).headers["Range"] == "0-3"
    rest = _data(DIRECT_BODY_MIN_BYTES, 7)
    assert _patch(http, location, rest, 4).status_code == 202
    data = b"kept" + rest
    assert http.put(f"{location}?digest={sha256(data)}").status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_a_stalled_large_body_is_dropped_and_the_session_kept(
    make_registry: Callable[..., EmbeddedServer],
) -> None:
    server = make_registry()
    assert server.url is not None
    server.app[REGISTRY_KEY].uploads.idle_seconds = 0.3
    with httpx.Client(base_url=server.url, timeout=30) as http:
        location = http.post("/v2/stall/large/blobs/uploads/").headers["Location"]
        assert _patch(http, location, b"kept", 0).status_code == 202
        sock, head = _raw_patch_head(server.url, location, 4, 8 * MIB)
        with sock:
            sock.sendall(head + _data(5 * MIB, 8))
            started = time.monotonic()
            answer = _read_answer(sock)
            waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert waited < 10
        assert http.get(location).headers["Range"] == "0-3"


# -- the receiver itself, with a scripted body -------------------------------------------------------


class ScriptedBody:
    """A BlockStream that places `data` in pieces of `step` bytes, one piece per event-loop turn, and
    then either ends or, with `hang=True`, never sends another byte."""

    def __init__(self, data: bytes, step: int, *, hang: bool = False) -> None:
        self.data, self.step, self.hang = data, step, hang
        self.at = 0
        self.last_arrival = 0.0
        self.stopped = 0
        self._task: asyncio.Task[None] | None = None

    def start_read(self, view: memoryview) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        self.last_arrival = loop.time()
        result: asyncio.Future[int] = loop.create_future()
        self._task = loop.create_task(self._feed(view, result))
        return result

    async def _feed(self, view: memoryview, result: asyncio.Future[int]) -> None:
        placed = 0
        while placed < len(view) and self.at < len(self.data):
            await asyncio.sleep(0)
            piece = self.data[self.at : self.at + min(self.step, len(view) - placed)]
            view[placed : placed + len(piece)] = piece
            placed += len(piece)
            self.at += len(piece)
            self.last_arrival = asyncio.get_running_loop().time()
        if self.hang and placed < len(view):
            await asyncio.Event().wait()
        result.set_result(placed)

    def stop_read(self) -> None:
        self.stopped += 1
        assert self._task is not None
        self._task.cancel()


def _receive(tmp_path: Path, start: bytes, body: ScriptedBody, idle_seconds: float = 30.0) -> tuple[int, str]:
    path = tmp_path / "upload"
    path.write_bytes(start)
    hasher = hashlib.sha256(start)
    fd = os.open(path, os.O_WRONLY)
    try:
        with UploadWriter(fd, path, len(start)) as writer:
            received = asyncio.run(_receive_with_executor(body, writer, hasher, idle_seconds))
    finally:
        os.close(fd)
    return received, hasher.hexdigest()


async def _receive_with_executor(
    body: ScriptedBody, writer: UploadWriter, hasher: hashlib._Hash, idle_seconds: float
) -> int:
    with concurrent.futures.ThreadPoolExecutor(4) as executor:
        return await receive_body(body, writer, hasher, executor, 1 << 40, None, idle_seconds)


@pytest.mark.parametrize("start_length", [0, 1000, 4096])
def test_blocks_land_in_order_at_any_start(tmp_path: Path, start_length: int) -> None:
    start = _data(start_length, 9)
    data = _data(3 * direct_writer.STAGE_BYTES + 12_345, 10)
    received, digest = _receive(tmp_path, start, ScriptedBody(data, step=1_234_567))
    assert received == len(data)
    assert (tmp_path / "upload").read_bytes() == start + data
    assert digest == hashlib.sha256(start + data).hexdigest()


def test_a_body_that_stops_sending_is_stalled_and_its_reading_stopped(tmp_path: Path) -> None:
    body = ScriptedBody(_data(2 * MIB, 11), step=MIB, hang=True)
    with pytest.raises(UploadStalled):
        _receive(tmp_path, b"", body, idle_seconds=0.2)
    assert body.stopped == 1  # the buffer was taken back before it could be reused


def test_every_buffer_goes_back_to_the_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lent: list[mmap.mmap] = []
    returned: list[mmap.mmap] = []
    monkeypatch.setattr(uploads, "take_stage", lambda: lent.append(direct_writer.take_stage()) or lent[-1])
    monkeypatch.setattr(uploads, "give_stage", lambda buffer: returned.append(buffer))
    _receive(tmp_path, b"", ScriptedBody(_data(5 * direct_writer.STAGE_BYTES, 12), step=3 * MIB))
    assert 0 < len(lent) <= uploads.BLOCK_BUFFERS
    assert sorted(map(id, returned)) == sorted(map(id, lent))
