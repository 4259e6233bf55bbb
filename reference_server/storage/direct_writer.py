"""Writing upload data past the page cache (O_DIRECT), with a buffered fallback.

Why: on this kind of VM the kernel's copy of write() data into fresh page-cache pages costs more
CPU than hashing and receiving together (PERF_FINDINGS.md §1; measured again for issue 14: 2.4-2.7 s
of kernel time per GiB while the guest's memory is still untouched, 0.17 s once it was used before);
O_DIRECT skips that copy. The price would be a just-pushed blob that is not cached, so that its first
pull reads the disk. So every block written through O_DIRECT is read back into the page cache right
away, while the upload is still arriving: sendfile(2) of just that range to /dev/null, on a thread of
its own, in write order. The kernel reads the pages with its own readahead and hands them to a sink
that discards them: sendfile copies nothing into user space, and it returns once the pages are read,
not merely asked for. A blob's commit waits for that (`read_backs_done`, bounded by
READ_BACK_WAIT_SECONDS and by READ_BACK_BACKLOG_BYTES); a chunk's answer does not.

Measured for issue 14 (1 GiB, this 2-core VM): 0.03 s of CPU per GiB against 0.18-0.21 s for the
POSIX_FADV_WILLNEED hints used before, which allocate every page in the calling thread and return
before the data is there (a pull right after the commit could still wait on the disk; at the answer the
pages were all resident, but not yet read). Where sendfile refuses (a filesystem without splice
reads) the hints remain, one readahead window per call.

Pages the device filled can be slow on the CPU's first touch: on a VM whose host takes freed guest
memory back, some first pulls ran at 0.4-1.6 GB/s where later pulls of the same pages ran at 2.5-3.4
(the extra system time was the copy out of those pages). So each block read back is also read once
into a buffer of its own (`_FirstTouch`), on a thread of its own, and only while no upload is being
received: touching during a push took the CPU that receiving and hashing needed (in a cold round, 2 s
of CPU per GiB, and the push took 2.8 s instead of 1.5). So the touch runs after the commit, alongside
a first pull that comes at once, or in the quiet after it. Each queued block holds a descriptor (a
commit renames the file), at most TOUCH_BACKLOG_BYTES of them; blocks past that are not touched. Where
touching turns out cheap (256 MiB in a row at memory speed) it pauses for 30 s: on a host that keeps
guest memory mapped it would only cost CPU.

Where the touch is slow the read-back does not pay at all (`read_back_wanted`): it costs the push a
second pass over the disk (a 1 GiB push took 1.65-2.6 s with it, 0.97-1.34 s without, this VM, 2 x 3
alternating pushes), and the pages it brings in are still cold for the first pull. Only the first
PROBE_BYTES of each upload are read back then: their touch keeps judging the memory
(`_FirstTouch.memory_cold`), and a first pull finds the rest uncached and reads it with O_DIRECT
(storage/direct_reader.py). `cache_later` brings such a blob into the cache afterwards, once no transfer
runs (`busy`), for its later pulls.

How: bytes are copied into an aligned staging buffer (anonymous mmap, page aligned, pooled so that
every request does not pay fresh page faults) and written with pwrite on a second descriptor opened
with O_DIRECT whenever a whole number of blocks is ready. A receiver that fills pooled buffers itself
(`take_stage`, http/direct_body.py) hands them to `write_buffer`, which writes them without that
copy. The unaligned head of a chunk that starts mid-block and the final partial block go through the
normal descriptor. Small bodies never touch
O_DIRECT. When the filesystem refuses O_DIRECT (tmpfs, some overlayfs: EINVAL on open or on the
first write) everything goes through the normal descriptor, as buffered writes.

Durability is the caller's business and unchanged: after each `write` the file trails the accepted
bytes by less than one block (what a crash leaves, as with buffered writes), after `finish` it holds
them all; fsync + rename + directory fsync happen at commit; rollback is an ftruncate on the normal
descriptor after `close`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import mmap
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ALIGN = 4096  # covers 512-byte and 4 KiB logical blocks; mmap buffers are page aligned
STAGE_BYTES = 4 * 1024 * 1024
DIRECT_MIN_BYTES = 1024 * 1024  # a batch smaller than this is written buffered (tiny uploads stay cheap)
POOL_LIMIT = 4  # staging buffers kept for reuse (more concurrent uploads allocate and drop their own)
_IOV_BATCH = 512  # below IOV_MAX (1024 on Linux)
# Where sendfile refuses, one WILLNEED per this many bytes: the kernel reads at most max(read_ahead_kb,
# max_sectors_kb) per call, 1 MiB or more on the usual block devices (128 KiB read_ahead_kb, >= 1280 KiB
# sectors).
READ_BACK_STEP = 1024 * 1024


class _StagePool:
    """Reused page-aligned staging buffers; thread-safe (writers run in worker threads)."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, self.size)

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < self.limit:
                self._free.append(buffer)
                return
        with contextlib.suppress(BufferError):  # a view still alive: the mapping goes with the last one
            buffer.close()


_POOL = _StagePool(STAGE_BYTES, POOL_LIMIT)


def take_stage() -> mmap.mmap:
    """A page-aligned buffer of STAGE_BYTES from the shared pool, for a receiver that fills it itself
    (see `UploadWriter.write_buffer`); hand it back with `give_stage` once every write from it is done."""
    return _POOL.take()


def give_stage(buffer: mmap.mmap) -> None:
    _POOL.give(buffer)


# One thread, so blocks are read back in the order they were written and a commit's wait covers every
# block written before it (`read_backs_done`).
_READ_BACK = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="keelhaul-readback")
# How long a commit waits for the read-back: it makes the first pull fast, never the push stall. On this
# VM the read-back keeps pace with the writes (1 GiB: done within the push); a disk that reads far slower
# than it writes would otherwise hold every commit behind it.
READ_BACK_WAIT_SECONDS = 5.0
# At most this much written data waits for its read-back; blocks beyond it are not read back (their
# first pull reads the disk). Under more concurrent pushes than the disk can read back behind, the
# backlog, and with it every commit's wait, stays bounded (0.2-0.4 s of reading here).
READ_BACK_BACKLOG_BYTES = 512 * 1024 * 1024


# The start of every upload written through O_DIRECT is read back and touched whatever the memory is
# like: that touch is what tells (`_FirstTouch.memory_cold`, `read_back_wanted`).
PROBE_BYTES = STAGE_BYTES

# At most this much read-back data waits for its touch (one descriptor per block; blocks past it are
# not touched, and their first pull pays the first touch).
TOUCH_BACKLOG_BYTES = 512 * 1024 * 1024


class _Backlog:
    """Bytes handed to a worker thread and not yet done; thread-safe. `limit` gives the bound (read
    when taking: the module setting, which a test may lower)."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self.bytes = 0
        self._limit = limit
        self._lock = threading.Lock()

    def take(self, length: int) -> bool:
        """Count `length` more bytes in, unless that would pass the limit."""
        with self._lock:
            if self.bytes + length > self._limit():
                return False
            self.bytes += length
            return True

    def done(self, length: int) -> None:
        with self._lock:
            self.bytes -= length


# Blobs pulled past the cache wait for `cache_later` up to this much in all; a step at a time, so that
# an upload that starts stops it within one step.
CACHE_LATER_BYTES = 4 * 1024 * 1024 * 1024
CACHE_LATER_STEP = 4 * 1024 * 1024

_BACKLOG = _Backlog(lambda: READ_BACK_BACKLOG_BYTES)
_TOUCH_BACKLOG = _Backlog(lambda: TOUCH_BACKLOG_BYTES)
_CACHE_LATER_BACKLOG = _Backlog(lambda: CACHE_LATER_BYTES)
# A block waits this long (from its read-back) for the uploads to stop; under load that never stops,
# it is not touched (its first pull pays the first touch).
TOUCH_WAIT_SECONDS = 60.0


class _Busy:
    """How many transfers the touch waits for: uploads being received (UploadWriters open) and bodies
    being read past the cache (`busy`)."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def begin(self) -> None:
        with self._changed:
            self.count += 1

    def end(self) -> None:
        with self._changed:
            self.count -= 1
            if self.count == 0:
                self._changed.notify_all()

    def wait_for_none(self, timeout: float) -> bool:
        """True once no transfer is under way; False if some still are after `timeout`."""
        with self._changed:
            return self._changed.wait_for(lambda: self.count == 0, max(timeout, 0.0))


_BUSY = _Busy()


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """Hold the touch (and `cache_later`) back while a transfer of one's own runs."""
    _BUSY.begin()
    try:
        yield
    finally:
        _BUSY.end()


class _Toucher:
    """The touch's own thread: a daemon, since a touch may wait for uploads that never end (a server
    stopping mid-upload must still exit), taking blocks in the order they were read back."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="keelhaul-touch", daemon=True)
                self._thread.start()
        self._queue.put(work)

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            with contextlib.suppress(Exception):  # best effort: one failed touch must not stop the rest
                work()


_TOUCH = _Toucher()
_SPLICE_REFUSED = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE)
_sink_fd: int | None = None


def _sink() -> int:
    """/dev/null, opened once: sendfile's destination (its splice discards what it is given)."""
    global _sink_fd
    if _sink_fd is None:
        _sink_fd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    return _sink_fd


class _FirstTouch:
    """Reads just-cached pages once with the CPU while that is slow (see the module docstring); judged
    from its own reads, so a host where it is cheap stops paying for it. Used by the read-back thread
    only."""

    STEP = 1024 * 1024
    FAST_SECONDS_PER_MIB = 0.00015  # a copy out of ready page cache: 0.05-0.12 ms/MiB here
    COLD_SECONDS_PER_MIB = 0.0005  # pages the host took back: 2-3 ms/MiB on this VM
    JUDGED_BYTES = 1024 * 1024  # a shorter touch is too short to judge the memory by
    FAST_RUN_BYTES = 256 * 1024 * 1024  # this much touched at that speed in a row: a pause
    PAUSE_SECONDS = 30.0

    def __init__(self) -> None:
        self._buffer = bytearray(self.STEP)
        self._fast_run = 0
        self._paused_until = 0.0
        # What the latest judged touch said of the memory new cache pages get: None before any.
        self.memory_cold: bool | None = None

    @property
    def paused(self) -> bool:
        """True during a pause: blocks are not touched (nor queued for it)."""
        return time.monotonic() < self._paused_until

    def __call__(self, fd: int, offset: int, end: int) -> None:
        if self.paused:
            return
        view = memoryview(self._buffer)
        started, start = time.perf_counter(), offset
        while offset < end:
            got = os.preadv(fd, [view[: min(self.STEP, end - offset)]], offset)
            if got <= 0:
                break
            offset += got
        touched = offset - start
        if touched <= 0:
            return
        seconds_per_mib = (time.perf_counter() - started) / (touched / (1024 * 1024))
        if touched >= self.JUDGED_BYTES:
            if seconds_per_mib > self.COLD_SECONDS_PER_MIB:
                self.memory_cold = True
            elif seconds_per_mib <= self.FAST_SECONDS_PER_MIB:
                self.memory_cold = False
        if seconds_per_mib > self.FAST_SECONDS_PER_MIB:
            self._fast_run = 0
            return
        self._fast_run += touched
        if self._fast_run >= self.FAST_RUN_BYTES:
            self._fast_run = 0
            self._paused_until = time.monotonic() + self.PAUSE_SECONDS


_first_touch = _FirstTouch()


def read_back_wanted(offset: int) -> bool:
    """Whether a block written at `offset` is read back into the page cache: always within the file's
    first PROBE_BYTES (their touch judges the memory), past them only where the first touch has shown
    the memory warm. Where new cache pages are cold, the read-back would cost the push a second pass
    over the disk (with it, the O_DIRECT writes of a 1 GiB push took 1.4-2.8 s, without it 0.9-1.3 s)
    and buy the first pull nothing: the pages would still be cold, and a pull of uncached pages reads
    past the cache (http/sendfile_response.py) at the disk's speed."""
    return offset < PROBE_BYTES or _first_touch.memory_cold is False


def read_back(fd: int, offset: int, length: int) -> None:
    """Read `length` bytes at `offset` of `fd` (open for reading) into the page cache and return once
    they are there. Best effort: where sendfile refuses, WILLNEED hints (asynchronous) instead; other
    errors (the file gone, the disk failing) leave the blob uncached, which only slows a pull."""
    end = offset + length
    try:
        while offset < end:
            sent = os.sendfile(_sink(), fd, offset, end - offset)
            if sent <= 0:
                return  # the file is shorter than it was: nothing more to read
            offset += sent
    except OSError as error:
        if error.errno not in _SPLICE_REFUSED:
            return
        try:
            for step_at in range(offset, end, READ_BACK_STEP):
                os.posix_fadvise(fd, step_at, min(READ_BACK_STEP, end - step_at), os.POSIX_FADV_WILLNEED)
        except OSError:
            pass


def _read_back_file(path: Path, offset: int, length: int) -> None:
    """`read_back` on a descriptor of its own, opened only now: a backlog of blocks holds no descriptors
    (a busy server must not run out of them), and a file already gone is simply not read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            read_back(fd, offset, length)
            _queue_touch(fd, offset, length)
        finally:
            os.close(fd)
    except OSError:
        pass  # the file is gone: nothing to read back
    finally:
        _BACKLOG.done(length)


def _queue_touch(fd: int, offset: int, length: int) -> None:
    """Hand the block to the touch thread; skipped while the touch is paused (it would do nothing: no
    descriptor is held for it)."""
    if not _first_touch.paused:
        _on_toucher(_TOUCH_BACKLOG, fd, offset, length, _touch_when_quiet)


def _touch_when_quiet(fd: int, offset: int, end: int, deadline: float) -> None:
    """`_FirstTouch` of a block read back, once no transfer runs (skipped if some still do at
    `deadline`)."""
    if _BUSY.wait_for_none(deadline - time.monotonic()):
        _first_touch(fd, offset, end)


def cache_later(fd: int, offset: int, length: int) -> None:
    """Bring `length` bytes at `offset` of `fd` into the page cache and touch them once, on the touch
    thread, in steps taken only while no transfer runs (`busy`): a blob just pulled past the cache is
    likely pulled again, and its later pulls then go through sendfile at the speed of memory. At most
    CACHE_LATER_BYTES wait at a time; past that, nothing is queued."""
    _on_toucher(_CACHE_LATER_BACKLOG, fd, offset, length, _cache_when_quiet)


def _cache_when_quiet(fd: int, offset: int, end: int, deadline: float) -> None:
    while offset < end and _BUSY.wait_for_none(deadline - time.monotonic()):
        step = min(CACHE_LATER_STEP, end - offset)
        read_back(fd, offset, step)
        _first_touch(fd, offset, offset + step)
        offset += step


def _on_toucher(
    backlog: _Backlog, fd: int, offset: int, length: int, work: Callable[[int, int, int, float], None]
) -> None:
    """Run `work(own_fd, offset, offset + length, deadline)` on the touch thread, on a descriptor of its
    own (a commit may rename the file meanwhile, a delete unlink it), counted in `backlog`, with
    TOUCH_WAIT_SECONDS to wait for the transfers to stop. Nothing is queued when the backlog is full
    or no descriptor can be had; the descriptor is closed and the share given back either way."""
    if length <= 0 or not backlog.take(length):
        return
    try:
        own_fd = os.dup(fd)
    except OSError:
        backlog.done(length)  # out of descriptors: this range goes untouched
        return
    deadline = time.monotonic() + TOUCH_WAIT_SECONDS

    def run() -> None:
        try:
            work(own_fd, offset, offset + length, deadline)
        except OSError:
            pass  # the disk failing: the next pull will find out, not the touch
        finally:
            os.close(own_fd)
            backlog.done(length)

    _TOUCH.submit(run)


def touches_done(timeout: float) -> bool:
    """Block until every block queued for its touch so far is done with (or `timeout` passed)."""
    done = threading.Event()
    _TOUCH.submit(done.set)
    return done.wait(timeout)


def read_backs_done(timeout: float = READ_BACK_WAIT_SECONDS) -> bool:
    """Block until every block written so far is read back (the thread takes them in order, so a no-op
    behind them marks the point), or `timeout` passed; True when done. A blob's commit waits here, so
    that its first pull finds it cached; a chunk of an unfinished upload does not have to."""
    try:
        _READ_BACK.submit(lambda: None).result(timeout)
    except concurrent.futures.TimeoutError:
        return False
    return True


def pwrite_all(fd: int, pieces: Sequence[bytes | memoryview], offset: int) -> int:
    """Write `pieces` in order at `offset` (pwritev, resuming after partial writes); returns the
    offset after the last byte."""
    for start in range(0, len(pieces), _IOV_BATCH):
        batch = pieces[start : start + _IOV_BATCH]
        written = os.pwritev(fd, batch, offset)
        offset += written
        if written == sum(len(piece) for piece in batch):
            continue
        for piece in batch:
            if written >= len(piece):
                written -= len(piece)
                continue
            view = memoryview(piece)[written:]
            written = 0
            while view:
                done = os.pwrite(fd, view, offset)
                offset += done
                view = view[done:]
    return offset


class UploadWriter:
    """Writes a stream of pieces into `fd` from `offset` on, through O_DIRECT when it pays.

    `path` names the same file (to open the O_DIRECT descriptor); `direct=False` never uses it.
    Not thread-safe: one thread at a time calls `write`/`finish` (the upload receiver awaits each
    batch before handing over the next). Always `close()` (or use it as a context manager): it
    returns the staging buffer to the pool."""

    def __init__(self, fd: int, path: Path, offset: int, *, direct: bool = True) -> None:
        self.fd = fd
        self.path = path
        self.offset = offset  # file offset of the first byte not yet written (staged bytes excluded)
        self._direct_fd: int | None = None
        self._direct_refused = not direct or not hasattr(os, "O_DIRECT")
        self._stage: mmap.mmap | None = None
        self._fill = 0
        self._receiving = True  # until close: the touch of earlier uploads waits
        _BUSY.begin()

    @property
    def direct(self) -> bool:
        """True while data goes through O_DIRECT."""
        return self._direct_fd is not None

    @property
    def staged_bytes(self) -> int:
        """Bytes accepted but not yet in the file."""
        return self._fill

    def write(self, pieces: Sequence[bytes]) -> None:
        """Accept `pieces` (written now, or staged until a whole block is ready)."""
        undecided = self._direct_fd is None and not self._direct_refused
        if undecided and sum(len(piece) for piece in pieces) >= DIRECT_MIN_BYTES:
            self._open_direct()
        if self._direct_fd is None:
            self.offset = pwrite_all(self.fd, pieces, self.offset)
            return
        for piece in pieces:
            self._stage_piece(memoryview(piece))
        if self._direct_fd is not None and self._fill >= ALIGN:
            # Write the whole blocks now rather than when the stage is full: the file then trails the
            # received data by less than a block, as with buffered writes (what a crash leaves).
            self._flush_blocks()

    def write_buffer(self, buffer: mmap.mmap, start: int, end: int) -> None:
        """Write `buffer[start:end]` at `self.offset`, the whole blocks through O_DIRECT straight from
        `buffer`: no staging copy. The receiver placed the bytes so that `start` sits at the same place
        within a block as `self.offset` does in the file, which makes those blocks page aligned in
        memory too. The unaligned head and tail go through the normal descriptor. Not mixed with
        `write` on one writer (it would leave staged bytes behind this data)."""
        if self._fill:
            raise RuntimeError("write_buffer after write: staged bytes would land out of order")
        if (start - self.offset) % ALIGN:
            raise ValueError(f"buffer position {start} and file offset {self.offset} differ within a block")
        view = memoryview(buffer)[start:end]
        if self._direct_fd is None and not self._direct_refused and len(view) >= DIRECT_MIN_BYTES:
            self._open_direct()
        if self._direct_fd is None:
            self.offset = pwrite_all(self.fd, [view], self.offset)
            return
        head = min(-self.offset % ALIGN, len(view))
        if head:
            self.offset = pwrite_all(self.fd, [view[:head]], self.offset)
        blocks = (len(view) - head) // ALIGN * ALIGN
        done = self._write_direct(view[head : head + blocks])
        if head + done < len(view):
            self.offset = pwrite_all(self.fd, [view[head + done :]], self.offset)

    def finish(self) -> None:
        """Write everything staged; afterwards the file holds every byte accepted. The read-back of
        what went through O_DIRECT may still be under way: `read_backs_done` waits for it."""
        if self._fill:
            self._flush_blocks()
        if self._fill:
            assert self._stage is not None
            self.offset = pwrite_all(self.fd, [memoryview(self._stage)[: self._fill]], self.offset)
            self._fill = 0

    def close(self) -> None:
        """Release the O_DIRECT descriptor and the staging buffer; staged bytes are dropped (the
        caller rolls the file back or has called `finish`). Idempotent; never closes `fd`."""
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None
        if self._stage is not None:
            _POOL.give(self._stage)
            self._stage = None
        self._fill = 0
        if self._receiving:
            self._receiving = False
            _BUSY.end()

    def __enter__(self) -> UploadWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _open_direct(self) -> None:
        try:
            self._direct_fd = os.open(self.path, os.O_WRONLY | os.O_DIRECT)
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            self._direct_refused = True
            return

    def _stage_piece(self, view: memoryview) -> None:
        if self._stage is None:
            self._stage = _POOL.take()
        if self._fill == 0 and self.offset % ALIGN:
            # A chunk that starts mid-block: write up to the block boundary through the normal fd.
            head = view[: ALIGN - self.offset % ALIGN]
            self.offset = pwrite_all(self.fd, [head], self.offset)
            view = view[len(head) :]
        while view:
            if self._direct_fd is None:  # O_DIRECT refused on the first write: buffered from here on
                self.offset = pwrite_all(self.fd, [view], self.offset)
                return
            room = STAGE_BYTES - self._fill
            taken = view[:room]
            self._stage[self._fill : self._fill + len(taken)] = taken
            self._fill += len(taken)
            view = view[len(taken) :]
            if self._fill == STAGE_BYTES:
                self._flush_blocks()

    def _flush_blocks(self) -> None:
        """Write the whole blocks of the stage through O_DIRECT; keep the partial block staged. When
        O_DIRECT turns out refused, write the whole stage through the normal descriptor instead."""
        assert self._stage is not None
        stage = memoryview(self._stage)
        blocks = self._fill - self._fill % ALIGN
        done = self._write_direct(stage[:blocks])
        if self._direct_fd is None:
            self.offset = pwrite_all(self.fd, [stage[done : self._fill]], self.offset)
            self._fill = 0
            return
        rest = self._fill - blocks
        if rest:
            stage[:rest] = stage[blocks : self._fill]
        self._fill = rest

    def _write_direct(self, blocks: memoryview) -> int:
        """Write `blocks` (whole blocks, page aligned in memory) at `self.offset` through O_DIRECT and
        queue their read-back; returns how many bytes went that way. Fewer than all only when the
        filesystem refused O_DIRECT (EINVAL), which closes the direct descriptor for good."""
        done = 0
        while done < len(blocks) and self._direct_fd is not None:
            try:
                done += os.pwrite(self._direct_fd, blocks[done:], self.offset + done)
            except OSError as error:
                if error.errno != errno.EINVAL:
                    raise
                # Refused by this filesystem (or a short write left us unaligned): buffered from here on.
                os.close(self._direct_fd)
                self._direct_fd = None
                self._direct_refused = True
        if done:
            self._queue_read_back(self.offset, done)
            self.offset += done
        return done

    def _queue_read_back(self, offset: int, length: int) -> None:
        """Hand `length` bytes at `offset` to the read-back thread (by path: the upload's descriptor is
        write-only, and may be closed before the read-back runs; a commit renames the file only after
        `read_backs_done`). Skipped while the backlog is full, and past the first PROBE_BYTES of the
        file unless the memory is known to be warm (`read_back_wanted`)."""
        if read_back_wanted(offset) and _BACKLOG.take(length):
            _READ_BACK.submit(_read_back_file, self.path, offset, length)
