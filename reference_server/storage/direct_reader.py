"""Reading a blob file past the page cache (O_DIRECT) when its pages are not cached.

Why: on a VM whose host takes freed guest memory back (free page reporting, as on this kind of
machine), a page the kernel newly allocates for the page cache costs 2-3 ms of CPU per MiB at its
first touch by a CPU, and whoever touches it first pays: the registry, or a client on the same machine
copying it out of the socket. Measured for issue 14 (1 GiB, loopback curl): sendfile of an uncached
blob, or of one read back into the cache just before, took 2.8-3.5 s; reading it with O_DIRECT into
reused buffers and writing those to the socket took 1.1-1.3 s, at the disk's speed, with almost no
CPU. Pages already cached were touched by whoever brought them in, so they go through sendfile as
before (0.6 s for the same GiB).

`cached` tells the two cases apart with cachestat(2), which counts a range's cached pages without
reading them. `read_blocks` yields the range as views into pooled, page-aligned buffers, reading the
next blocks on worker threads while the caller sends the current one.
"""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import mmap
import os
from collections.abc import Generator

from reference_server.storage.direct_writer import ALIGN, STAGE_BYTES, give_stage, take_stage

# Buffers per body: the caller sends from one while the others are being read. 4 MiB x 2 (one read
# ahead) took 1.48-1.86 s per GiB to a loopback curl, x 3 1.25-1.50 s, x 4 1.23-1.51 s (this VM).
BUFFERS = 3
READ_THREADS = 32  # reads in flight over all bodies sent this way (BUFFERS - 1 each)
_READERS = concurrent.futures.ThreadPoolExecutor(
    max_workers=READ_THREADS, thread_name_prefix="keelhaul-direct-read"
)
_CACHESTAT = 451  # the same number on every architecture (Linux 6.5)
_PAGE = os.sysconf("SC_PAGE_SIZE")


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("nr_cache", "nr_dirty", "nr_writeback", "nr_evicted", "nr_recently_evicted")
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def cached(fd: int, offset: int, length: int) -> bool:
    """True when every page of `length` bytes at `offset` is in the page cache, as cachestat(2) counts
    them: no read, so nothing is brought in by asking (a read with RWF_NOWAIT does start a readahead
    where it misses). Where the kernel lacks cachestat (before 6.5) or the call fails: True, and the
    body goes through sendfile as before."""
    if length <= 0:
        return True
    first = offset - offset % _PAGE
    span = offset + length - first
    stat = _Stat()
    if _libc.syscall(_CACHESTAT, fd, ctypes.byref(_Range(first, span)), ctypes.byref(stat), 0) != 0:
        return True
    return bool(stat.nr_cache >= (span + _PAGE - 1) // _PAGE)


def open_direct(fd: int) -> int | None:
    """A second descriptor on `fd`'s file that reads past the page cache; None where the filesystem
    refuses O_DIRECT (tmpfs, some overlayfs) or /proc is missing."""
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError:
        return None


def read_blocks(direct_fd: int, offset: int, count: int) -> Generator[memoryview, None, None]:
    """The `count` bytes at `offset` of `direct_fd` (opened by `open_direct`), in order, as views that
    stay valid until the next one is asked for. Stops early when the file is shorter. While the caller
    uses one view, the next blocks are being read (BUFFERS - 1 reads in flight). OSError(EINVAL)
    before the first view when the filesystem refuses O_DIRECT reads after all."""
    end = offset + count
    at = offset - offset % ALIGN  # O_DIRECT reads whole blocks from a block boundary
    free = [take_stage() for _ in range(BUFFERS)]
    owned = list(free)
    reads: collections.deque[tuple[concurrent.futures.Future[int], mmap.mmap, int]] = collections.deque()
    asked = at

    def ask_more() -> None:
        nonlocal asked
        while free and asked < end:
            buffer = free.pop()
            reads.append((_READERS.submit(os.preadv, direct_fd, [buffer], asked), buffer, asked))
            asked += STAGE_BYTES

    try:
        ask_more()
        while reads:
            pending, buffer, block_at = reads[0]
            got = pending.result()
            reads.popleft()
            low, high = max(offset, block_at) - block_at, min(end, block_at + got) - block_at
            if high > low:
                yield memoryview(buffer)[low:high]
            if got < STAGE_BYTES:
                break  # the end of the file
            free.append(buffer)
            ask_more()
    finally:
        # reads still under way fill buffers that must not go back to the pool before they are done
        concurrent.futures.wait([pending for pending, _, _ in reads])
        for buffer in owned:
            give_stage(buffer)
