"""UploadWriter: upload data through O_DIRECT with aligned staging, buffered head/tail, and the
fallback to buffered writes when the filesystem refuses O_DIRECT (PERF_FINDINGS.md proposal A)."""

from __future__ import annotations

import argparse
import errno
import fcntl
import itertools
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from reference_server import serve_cli
from reference_server.config import ServerConfig
from reference_server.storage import direct_reader, direct_writer
from reference_server.storage.direct_writer import ALIGN, UploadWriter

from .helpers import sha256

MIB = 1024 * 1024
OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture(autouse=True)
def memory_judged_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block is read back where the first touch has found the memory warm: the read-back is
    what most tests here are about (the cold case has tests of its own). An earlier test's touches
    are done first: they would judge the memory again meanwhile."""
    assert direct_writer.read_backs_done(30) and direct_writer.touches_done(30)
    monkeypatch.setattr(direct_writer._first_touch, "memory_cold", False)


def _data(total: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 256 for i in range(256)) * (total // 256) + bytes(total % 256)


def _split(data: bytes) -> list[bytes]:
    """`data` cut into odd-sized pieces, like socket reads."""
    pieces, at, size = [], 0, 65_537
    while at < len(data):
        pieces.append(data[at : at + size])
        at += size
        size = size * 3 % 1_048_573 + 4099
    return pieces


def _direct_supported(directory: Path) -> bool:
    probe = directory / "probe-o-direct"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_DIRECT))
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def _write_batches(path: Path, start: bytes, batches: list[bytes]) -> bool:
    """Write `batches` after `start` through an UploadWriter, without reading the file afterwards (a
    read would fill the page cache itself); returns whether O_DIRECT ran."""
    path.write_bytes(start)
    fd = os.open(path, os.O_WRONLY)
    used_direct = False
    try:
        with UploadWriter(fd, path, len(start)) as writer:
            for batch in batches:
                writer.write(_split(batch))
                used_direct = used_direct or writer.direct
            writer.finish()
    finally:
        os.close(fd)
    return used_direct


def _write(path: Path, start: bytes, batches: list[bytes]) -> tuple[bytes, bool]:
    """`_write_batches`, then the file's content and whether O_DIRECT ran."""
    used_direct = _write_batches(path, start, batches)
    return path.read_bytes(), used_direct


def test_large_chunk_starting_mid_block_is_written_exactly(tmp_path: Path) -> None:
    head = _data(1000, 3)  # a previous chunk that ended mid-block
    batches = [_data(4 * MIB + 17, 1), _data(9 * MIB + 4095, 2), _data(123, 5)]
    content, used_direct = _write(tmp_path / "upload", head, batches)
    assert content == head + b"".join(batches)
    assert used_direct == _direct_supported(tmp_path)


def test_file_trails_the_accepted_bytes_by_less_than_a_block(tmp_path: Path) -> None:
    """What a crash mid-chunk leaves: (almost) everything received so far, as with buffered writes."""
    path = tmp_path / "upload"
    path.write_bytes(b"")
    fd = os.open(path, os.O_WRONLY)
    try:
        with UploadWriter(fd, path, 0) as writer:
            data = _data(3 * MIB + 123, 4)
            writer.write(_split(data))
            assert len(data) - ALIGN < os.stat(path).st_size <= len(data)
            assert path.read_bytes() == data[: os.stat(path).st_size]
    finally:
        os.close(fd)


def _write_unread(path: Path, start: bytes, batches: list[bytes]) -> int:
    """`_write_batches` where O_DIRECT must run; returns the file's length."""
    assert _write_batches(path, start, batches)
    return len(start) + sum(len(batch) for batch in batches)


def _uncached_ranges(path: Path, length: int, step: int = 64 * 1024) -> list[int]:
    """Offsets (every `step` bytes) whose page is not in the page cache: a read with RWF_NOWAIT
    answers EAGAIN instead of waiting for the disk."""
    fd = os.open(path, os.O_RDONLY)
    buffer = bytearray(1)
    missing = []
    try:
        for offset in range(0, length, step):
            try:
                os.preadv(fd, [buffer], offset, os.RWF_NOWAIT)
            except BlockingIOError:
                missing.append(offset)
            except OSError as error:
                if error.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                    pytest.skip("this filesystem does not answer RWF_NOWAIT reads")
                raise
    finally:
        os.close(fd)
    return missing


def test_a_committed_upload_is_in_the_page_cache(tmp_path: Path) -> None:
    """A just-pushed blob's first pull must come from memory (issue 14): once `read_backs_done`
    returns, as a commit waits for it, every page written past the cache is back in it."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    path = tmp_path / "upload"
    length = _write_unread(path, _data(1000, 12), [_data(9 * MIB + 4095, 13), _data(5 * MIB, 14)])
    assert direct_writer.read_backs_done()
    assert _uncached_ranges(path, length) == []


def test_without_the_read_back_the_pages_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: blocks written through O_DIRECT are not cached by themselves."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    monkeypatch.setattr(UploadWriter, "_queue_read_back", lambda self, offset, length: None)
    path = tmp_path / "upload"
    length = _write_unread(path, _data(1000, 15), [_data(6 * MIB, 16)])
    assert direct_writer.read_backs_done()
    assert _uncached_ranges(path, length)


@pytest.mark.parametrize("memory_cold", [True, None])
def test_where_new_cache_pages_are_cold_only_the_first_block_is_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_cold: bool | None
) -> None:
    """Cold memory (or not judged yet): reading the whole upload back would cost the push a second
    pass over the disk for pages still cold at the first pull, which reads past the cache instead.
    The first PROBE_BYTES are read back all the same: their touch judges the memory."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    monkeypatch.setattr(direct_writer._first_touch, "memory_cold", memory_cold)
    path = tmp_path / "upload"
    length = _write_unread(path, b"", [_data(4 * MIB, 17), _data(28 * MIB, 18)])
    assert direct_writer.read_backs_done()
    fd = os.open(path, os.O_RDONLY)
    try:  # cachestat, not reads: a read near cached pages starts a readahead of its own
        assert direct_reader.cached(fd, 0, direct_writer.PROBE_BYTES)
        # The kernel reads ahead of the probe's read-back by itself (read_ahead_kb, 8 MiB on this
        # VM's disk), so only the far end is sure to be left out.
        assert not direct_reader.cached(fd, length - 8 * MIB, 8 * MIB)
    finally:
        os.close(fd)


def test_the_first_touch_judges_the_memory_by_its_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slower than COLD_SECONDS_PER_MIB: cold; at memory speed: warm; a touch too short to judge
    (under JUDGED_BYTES) changes nothing."""
    fd = _touch_file(tmp_path, 2 * MIB)
    try:
        touch = direct_writer._FirstTouch()
        assert touch.memory_cold is None
        monkeypatch.setattr(direct_writer, "time", _Clock(step=0.01))  # 10 ms per MiB read
        touch(fd, 0, 2 * MIB)
        assert touch.memory_cold is True
        monkeypatch.setattr(direct_writer, "time", _Clock(step=0.0))
        touch(fd, 0, MIB // 2)
        assert touch.memory_cold is True
        touch(fd, 0, 2 * MIB)
        assert touch.memory_cold is False
    finally:
        os.close(fd)


def test_where_sendfile_refuses_every_block_is_asked_back_by_hints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem without splice reads: WILLNEED hints cover every byte that went through O_DIRECT,
    in steps the kernel does not cut short."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    asked: list[tuple[int, int]] = []
    real_fadvise = os.posix_fadvise

    def refusing_sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        raise OSError(errno.EINVAL, "no splice read here")

    def recording_fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_WILLNEED:
            asked.append((offset, length))
        real_fadvise(fd, offset, length, advice)

    monkeypatch.setattr(direct_writer.os, "sendfile", refusing_sendfile)
    monkeypatch.setattr(direct_writer.os, "posix_fadvise", recording_fadvise)
    batches = [_data(9 * MIB + 4095, 13), _data(5 * MIB, 14)]
    length = _write_unread(tmp_path / "upload", _data(1000, 12), batches)
    assert direct_writer.read_backs_done()
    assert asked, "nothing was read back"
    assert all(0 < step <= direct_writer.READ_BACK_STEP for _, step in asked)
    start = ALIGN  # the head's block went through the normal descriptor (cached already)
    for offset, step in sorted(asked):
        assert offset <= start, f"bytes {start}-{offset} were never read back"
        start = max(start, offset + step)
    assert start >= length - length % ALIGN


def test_a_commit_waits_for_the_read_back_only_so_long() -> None:
    """A read-back that cannot keep up (a slow disk) holds a commit READ_BACK_WAIT_SECONDS at most."""
    release = threading.Event()
    busy = direct_writer._READ_BACK.submit(release.wait, 30)
    try:
        started = time.monotonic()
        assert direct_writer.read_backs_done(timeout=0.05) is False
        assert time.monotonic() - started < 5
    finally:
        release.set()
    busy.result(30)
    assert direct_writer.read_backs_done() is True


def test_small_bodies_stay_buffered(tmp_path: Path) -> None:
    data = _data(200_000, 6)
    content, used_direct = _write(tmp_path / "upload", b"xyz", [data])
    assert content == b"xyz" + data
    assert not used_direct


def test_refused_open_falls_back_to_buffered_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "O_DIRECT refused (like tmpfs)")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_writer.os, "open", refusing_open)
    batches = [_data(5 * MIB + 1, 7), _data(2 * MIB, 8)]
    content, used_direct = _write(tmp_path / "upload", b"ab", batches)
    assert content == b"ab" + b"".join(batches)
    assert not used_direct


def test_refused_direct_write_falls_back_without_losing_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some filesystems accept the O_DIRECT open and refuse the write (EINVAL)."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT at open already")
    real_pwrite = os.pwrite

    def refusing_pwrite(fd: int, data: object, offset: int) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.EINVAL, "alignment refused")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(direct_writer.os, "pwrite", refusing_pwrite)
    head = _data(777, 9)
    batches = [_data(6 * MIB + 5, 10), _data(3 * MIB, 11)]
    content, _ = _write(tmp_path / "upload", head, batches)
    assert content == head + b"".join(batches)


def test_tmpfs_uploads_work(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm")
    directory = shm / f"keelhaul-test-{os.getpid()}-{tmp_path.name}"
    directory.mkdir()
    try:
        batches = [_data(5 * MIB + 3, 12)]
        content, _ = _write(directory / "upload", b"q", batches)
        assert content == b"q" + batches[0]
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_big_patch_cut_short_appends_nothing(http: httpx.Client, registry_url: str, repo: str) -> None:
    """A multi-MiB chunk (O_DIRECT path) that the client abandons rolls back to the previous offset."""
    first = _data(1000, 13)
    location = http.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    assert http.patch(location, content=first, headers={**OCTET, "Content-Range": "0-999"}).status_code == 202
    parts = urlsplit(registry_url)
    declared = 12 * MIB
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Range: 1000-{1000 + declared - 1}\r\nContent-Length: {declared}\r\n\r\n".encode()
        )
        sock.sendall(_data(9 * MIB, 14))
        time.sleep(0.5)
    deadline = time.time() + 10
    while time.time() < deadline and http.get(location).headers["Range"] != "0-999":
        time.sleep(0.05)
    assert http.get(location).headers["Range"] == "0-999"
    rest = _data(5 * MIB + 11, 15)
    response = http.patch(
        location, content=rest, headers={**OCTET, "Content-Range": f"1000-{1000 + len(rest) - 1}"}
    )
    assert response.status_code == 202
    data = first + rest
    assert http.put(f"{location}?digest={sha256(data)}").status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_direct_io_can_be_switched_off(tmp_path: Path) -> None:
    """`keelhaul serve --no-direct-io`: every byte through the page cache."""
    path = tmp_path / "upload"
    path.write_bytes(b"")
    fd = os.open(path, os.O_WRONLY)
    data = _data(5 * MIB, 16)
    try:
        with UploadWriter(fd, path, 0, direct=False) as writer:
            writer.write(_split(data))
            assert not writer.direct
            writer.finish()
    finally:
        os.close(fd)
    assert path.read_bytes() == data
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False, direct_io=False)
    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    assert serve_cli.config_from_args(parser.parse_args(["serve", *config.to_cli_args()])) == config


class _Clock:
    """Stands in for `time` inside direct_writer: perf_counter advances by `step` per call."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.wall = 1000.0

    def perf_counter(self) -> float:
        self.now += self.step
        return self.now

    def monotonic(self) -> float:
        return self.wall


def _touch_file(tmp_path: Path, size: int) -> int:
    path = tmp_path / "cached"
    path.write_bytes(_data(size, 31))
    return os.open(path, os.O_RDONLY)


def test_the_first_touch_reads_every_byte_of_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages the device filled are read once by the CPU during the push (issue 14: their first touch
    was what made some first pulls slow): the whole range, in steps of the touch buffer."""
    read: list[tuple[int, int]] = []
    real_preadv = os.preadv

    def recording_preadv(fd: int, buffers: list[memoryview], offset: int) -> int:
        got = real_preadv(fd, buffers, offset)
        read.append((offset, got))
        return got

    monkeypatch.setattr(direct_writer.os, "preadv", recording_preadv)
    fd = _touch_file(tmp_path, 3 * MIB + 100)
    try:
        direct_writer._FirstTouch()(fd, 4096, 3 * MIB + 100)
    finally:
        os.close(fd)
    assert read[0][0] == 4096
    for (offset, got), (following, _) in itertools.pairwise(read):
        assert offset + got == following
    assert read[-1][0] + read[-1][1] == 3 * MIB + 100


def test_the_first_touch_pauses_where_it_is_cheap_and_not_where_it_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real_preadv = os.preadv

    def counting_preadv(fd: int, buffers: list[memoryview], offset: int) -> int:
        calls.append(offset)
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(direct_writer.os, "preadv", counting_preadv)
    fd = _touch_file(tmp_path, 2 * MIB)
    try:
        slow = _Clock(step=1.0)  # a second per call: far slower than memory
        monkeypatch.setattr(direct_writer, "time", slow)
        touch = direct_writer._FirstTouch()
        touch.FAST_RUN_BYTES = 4 * MIB
        for _ in range(4):
            touch(fd, 0, 2 * MIB)
        assert len(calls) == 8  # never paused

        fast = _Clock(step=0.0)
        monkeypatch.setattr(direct_writer, "time", fast)
        calls.clear()
        touch(fd, 0, 2 * MIB)
        touch(fd, 0, 2 * MIB)  # 4 MiB at memory speed in a row: paused from here
        touch(fd, 0, 2 * MIB)
        assert len(calls) == 4
        assert touch.paused
        fast.wall += touch.PAUSE_SECONDS + 1
        assert not touch.paused
        touch(fd, 0, 2 * MIB)
        assert len(calls) == 6  # the pause ends: judged again
    finally:
        os.close(fd)


def test_the_read_back_backlog_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More written than the read-back keeps up with: past READ_BACK_BACKLOG_BYTES blocks are not
    queued (their first pull reads the disk), so a commit's wait stays bounded; once the thread
    catches up, blocks are read back again."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    monkeypatch.setattr(direct_writer, "READ_BACK_BACKLOG_BYTES", 6 * MIB)
    queued: list[tuple[int, int]] = []
    real_read_back_file = direct_writer._read_back_file

    def recording(path: Path, offset: int, length: int) -> None:
        queued.append((offset, length))
        real_read_back_file(path, offset, length)

    monkeypatch.setattr(direct_writer, "_read_back_file", recording)
    release = threading.Event()
    busy = direct_writer._READ_BACK.submit(release.wait, 30)
    try:
        batches = [_data(4 * MIB, 41), _data(4 * MIB, 42), _data(4 * MIB, 43)]
        _write_unread(tmp_path / "upload", b"", batches)
        assert direct_writer._BACKLOG.bytes <= 6 * MIB
    finally:
        release.set()
    busy.result(30)
    assert direct_writer.read_backs_done()
    assert direct_writer._BACKLOG.bytes == 0
    assert 0 < sum(length for _, length in queued) <= 6 * MIB
    _write_unread(tmp_path / "later", b"", [_data(4 * MIB, 44)])
    assert direct_writer.read_backs_done()
    assert queued[-1] == (0, 4 * MIB)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The ranges `_FirstTouch` is asked to read, in order (recorded, not read)."""
    calls: list[tuple[int, int]] = []

    class Recording:
        paused = False
        memory_cold = False

        def __call__(self, fd: int, start: int, end: int) -> None:
            calls.append((start, end))

    monkeypatch.setattr(direct_writer, "_first_touch", Recording())
    return calls


def _receiving(tmp_path: Path) -> UploadWriter:
    """An upload being received (its writer open): the touch waits while it is."""
    path = tmp_path / "receiving"
    path.write_bytes(b"")
    return UploadWriter(os.open(path, os.O_WRONLY), path, 0)


def test_the_touch_waits_while_an_upload_is_being_received(
    tmp_path: Path, touched: list[tuple[int, int]]
) -> None:
    """Touching during a push took the CPU its receiving and hashing needed (issue 14: a cold round
    took 2.8 s instead of 1.5): blocks read back are touched once no upload is being received."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    receiving = _receiving(tmp_path)
    try:
        length = _write_unread(tmp_path / "upload", b"", [_data(4 * MIB, 51), _data(4 * MIB, 52)])
        assert direct_writer.read_backs_done()  # what a commit waits for: not the touch
        assert _uncached_ranges(tmp_path / "upload", length) == []
        assert not direct_writer.touches_done(0.2)
        assert touched == []
    finally:
        receiving.close()
        os.close(receiving.fd)
    assert direct_writer.touches_done(30)
    assert touched == [(0, 4 * MIB), (4 * MIB, 8 * MIB)]


def test_under_uploads_that_never_stop_blocks_go_untouched_and_release_their_descriptors(
    tmp_path: Path, touched: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block waits TOUCH_WAIT_SECONDS for the uploads to stop, then is dropped; at most
    TOUCH_BACKLOG_BYTES wait, each holding a descriptor, which is closed either way."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    monkeypatch.setattr(direct_writer, "TOUCH_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(direct_writer, "TOUCH_BACKLOG_BYTES", 8 * MIB)
    direct_writer._sink()  # the read-back's /dev/null, opened once for good: not a block's descriptor
    before = _open_fds()
    receiving = _receiving(tmp_path)
    try:
        batches = [_data(4 * MIB, 53 + index) for index in range(4)]
        _write_unread(tmp_path / "upload", b"", batches)
        assert direct_writer.read_backs_done()
        assert direct_writer._TOUCH_BACKLOG.bytes == 8 * MIB  # two blocks wait; two were not queued
        assert direct_writer.touches_done(30)  # past their deadline: dropped
        assert touched == []
        assert direct_writer._TOUCH_BACKLOG.bytes == 0
    finally:
        receiving.close()
        os.close(receiving.fd)
    assert _open_fds() == before


def test_a_block_that_cannot_get_a_descriptor_goes_untouched_and_counts_no_more(
    tmp_path: Path, touched: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors (EMFILE on the dup): the block is not touched, and its share of the touch
    backlog is given back at once."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")

    def no_descriptor(fd: int) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(direct_writer.os, "dup", no_descriptor)
    length = _write_unread(tmp_path / "upload", b"", [_data(4 * MIB, 61)])
    assert direct_writer.read_backs_done()
    assert _uncached_ranges(tmp_path / "upload", length) == []  # read back all the same
    assert direct_writer.touches_done(30)
    assert touched == [] and direct_writer._TOUCH_BACKLOG.bytes == 0


def test_while_the_touch_is_paused_blocks_are_not_queued_for_it(
    tmp_path: Path, touched: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused touch would do nothing with a block: none is queued, so no descriptor is held."""
    if not _direct_supported(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    monkeypatch.setattr(type(direct_writer._first_touch), "paused", True)
    dups: list[int] = []
    real_dup = os.dup
    monkeypatch.setattr(direct_writer.os, "dup", lambda fd: dups.append(fd) or real_dup(fd))
    _write_unread(tmp_path / "upload", b"", [_data(4 * MIB, 71)])
    assert direct_writer.read_backs_done() and direct_writer.touches_done(30)
    assert touched == [] and dups == [] and direct_writer._TOUCH_BACKLOG.bytes == 0


def test_a_blob_pulled_past_the_cache_is_cached_once_no_transfer_runs(tmp_path: Path) -> None:
    """`cache_later` (after a pull read past the cache) waits while a transfer runs, an upload or
    another such pull (`busy`), then reads the range into the cache, every byte of it."""
    path = tmp_path / "pulled"
    length = 8 * MIB + 5
    path.write_bytes(_data(length, 61))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        if direct_reader.cached(fd, 0, length):
            pytest.skip("this filesystem keeps the pages in memory (or the kernel has no cachestat)")
        with direct_writer.busy():
            direct_writer.cache_later(fd, 0, length)
            assert not direct_writer.touches_done(0.2)
            assert not direct_reader.cached(fd, 0, length)
        assert direct_writer.touches_done(30)
        assert direct_reader.cached(fd, 0, length)
        assert direct_writer._CACHE_LATER_BACKLOG.bytes == 0
    finally:
        os.close(fd)
