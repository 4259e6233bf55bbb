"""Reading blob files past the page cache (reference_server.storage.direct_reader): which ranges are
cached, and the exact bytes of any range read with O_DIRECT, buffers back in the pool afterwards."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from reference_server.storage import direct_reader, direct_writer

MIB = 1024 * 1024


def _content(size: int) -> bytes:
    block = hashlib.sha256(b"direct-reader").digest() * 2048  # 64 KiB, not periodic at 4 KiB
    return (block * (size // len(block) + 1))[:size]


def uncached_file(path: Path, data: bytes) -> Path:
    """`data` in a file whose pages are dropped from the page cache (written, synced, DONTNEED)."""
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return path


@pytest.fixture
def direct_fd(tmp_path: Path):
    """Opens a file for O_DIRECT reads, skipping where the filesystem refuses them."""
    opened: list[int] = []

    def open_it(path: Path) -> tuple[int, int]:
        fd = os.open(path, os.O_RDONLY)
        opened.append(fd)
        direct = direct_reader.open_direct(fd)
        if direct is None:
            pytest.skip("this filesystem refuses O_DIRECT")
        opened.append(direct)
        return fd, direct

    yield open_it
    for fd in opened:
        os.close(fd)


def test_cached_tells_a_dropped_file_from_one_just_read(tmp_path: Path) -> None:
    path = uncached_file(tmp_path / "blob", _content(9 * MIB))
    fd = os.open(path, os.O_RDONLY)
    try:
        if direct_reader.cached(fd, 0, 9 * MIB) and os.pread(fd, 1, 0):
            # DONTNEED did nothing here (a filesystem that keeps its pages): nothing to tell apart
            pytest.skip("this filesystem keeps the pages in memory")
        assert not direct_reader.cached(fd, 0, 9 * MIB)
        assert os.pread(fd, 9 * MIB, 0)  # now read through the cache
        assert direct_reader.cached(fd, 0, 9 * MIB)
        assert direct_reader.cached(fd, 5, 0)  # an empty range holds nothing uncached
    finally:
        os.close(fd)


def test_an_uncached_end_makes_the_range_uncached(tmp_path: Path) -> None:
    """The last sampled page counts too. (2 MiB dropped, aligned: the page cache may hold a file in
    folios of up to that size, and drops only whole ones.)"""
    data = _content(10 * MIB)
    path = tmp_path / "blob"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 8 * MIB, 2 * MIB, os.POSIX_FADV_DONTNEED)
        if direct_reader.cached(fd, 8 * MIB, 2 * MIB):
            pytest.skip("this filesystem keeps the pages in memory")
        assert not direct_reader.cached(fd, 0, 10 * MIB)
        assert direct_reader.cached(fd, 0, 8 * MIB)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("offset", "count"),
    [
        (0, 9 * MIB + 5),  # the whole file: blocks, then a short last one
        (100, 4 * MIB),  # unaligned start, across a buffer's end
        (4 * MIB - 1, 2),  # two bytes on either side of a buffer boundary
        (8 * MIB, MIB + 5),  # the tail only
    ],
)
def test_read_blocks_gives_exactly_the_range(tmp_path: Path, direct_fd, offset: int, count: int) -> None:
    data = _content(9 * MIB + 5)
    _, direct = direct_fd(uncached_file(tmp_path / "blob", data))
    read = b"".join(bytes(view) for view in direct_reader.read_blocks(direct, offset, count))
    assert read == data[offset : offset + count]


def test_a_file_shorter_than_asked_ends_the_blocks_at_its_end(tmp_path: Path, direct_fd) -> None:
    data = _content(5 * MIB + 3)
    _, direct = direct_fd(uncached_file(tmp_path / "blob", data))
    read = b"".join(bytes(view) for view in direct_reader.read_blocks(direct, 4096, 64 * MIB))
    assert read == data[4096:]


def test_a_reader_that_stops_early_gives_its_buffers_back(tmp_path: Path, direct_fd) -> None:
    """The next blocks are being read while the caller holds one: stopping must wait for those reads
    before the buffers go back to the pool, and must give every one back."""
    _, direct = direct_fd(uncached_file(tmp_path / "blob", _content(16 * MIB)))
    pool = direct_writer._POOL
    before = len(pool._free)
    blocks = direct_reader.read_blocks(direct, 0, 16 * MIB)
    first = next(blocks)
    assert len(first) == direct_writer.STAGE_BYTES
    assert len(pool._free) == max(before - direct_reader.BUFFERS, 0)
    blocks.close()
    assert len(pool._free) == min(max(before, direct_reader.BUFFERS), pool.limit)
