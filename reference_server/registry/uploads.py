"""Blob upload sessions: POST/PATCH/PUT/GET/DELETE on /v2/<name>/blobs/uploads/<id>.

Rules (all in plain methods so tests and fault injection can drive them without HTTP):
- A session belongs to one repository; its id is a random UUID. The same id under another
  repository's path is unknown (404 BLOB_UPLOAD_UNKNOWN).
- Received bytes go to DATA/uploads/<id> (through storage.direct_writer: O_DIRECT when the
  filesystem allows it and `direct_io` is on); the session row lives in SQLite, so sessions survive a
  restart. The running sha256 state is kept in memory and rebuilt by re-hashing the file when the
  process restarted.
- A PATCH either appends exactly what it declared or nothing: on a short body, a wrong length, a
  disconnect or any error the file is truncated back and the hash state restored.
- Content-Range must start at the current offset, else 416 with the true `Range`.
- Expiry counts from the session's start (`upload_timeout_seconds`), like ghcr.io's 10 minute limit.
- The per-layer size limit is enforced while streaming: 413 SIZE_INVALID, and the session and its
  data are gone.
- A finished upload is verified against `?digest=`: a mismatch gives DIGEST_INVALID, discards the
  session and links nothing. A repeated final PUT with the same digest answers 201 again.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import hashlib
import mmap
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.storage.blobs import BlobStore, Digest
from reference_server.storage.direct_writer import (
    ALIGN,
    UploadWriter,
    give_stage,
    read_backs_done,
    take_stage,
)
from reference_server.storage.metadata import MetadataStore

T = TypeVar("T")  # what travels with a batch of _Batches
BUFFER_BYTES = 4 * 1024 * 1024  # handed to the worker thread at once: hashlib and write release the GIL
# Batches handed to the workers and not yet done. Two: the writer's and the hasher's times per batch
# jitter (page faults, the disk, the other core's load), and with one batch the receiver waited on
# every slow one; a second in flight lets a fast batch make up for a slow one. 8 MiB more per upload.
BATCHES_IN_FLIGHT = 2
_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTENT_RANGE_RE = re.compile(r"(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class ByteStream(Protocol):
    """What the receiver needs from a request body (aiohttp's StreamReader fits): `readchunk`
    hands over the buffered pieces one by one without joining (copying) them."""

    async def readchunk(self) -> tuple[bytes, bool]: ...

    def at_eof(self) -> bool: ...


@runtime_checkable
class BlockStream(Protocol):
    """A body received straight into buffers the receiver lends (http/direct_body.py): the bytes
    land where the writer and the hasher read them, with no copy in between."""

    @property
    def last_arrival(self) -> float:
        """The event loop's time when bytes last arrived (or when the body was opened)."""
        ...

    def start_read(self, view: memoryview) -> asyncio.Future[int]:
        """Fill `view`; the future gives how many bytes were placed: fewer than `len(view)` only where
        the body ends, 0 once it has. An early end of the body is its exception (ConnectionError)."""
        ...

    def stop_read(self) -> None:
        """Stop filling the view of an unfinished `start_read` now (before the buffer is reused)."""
        ...


def parse_content_range(value: str) -> tuple[int, int]:
    """`<start>-<end>` (inclusive). Malformed → 400 BLOB_UPLOAD_INVALID; end < start → 416."""
    match = _CONTENT_RANGE_RE.fullmatch(value.strip()) if len(value) <= 64 else None
    if match is None:
        raise OCIError(
            ErrorCode.BLOB_UPLOAD_INVALID,
            "malformed Content-Range: expected <start>-<end>",
            detail={"Content-Range": value[:80]},
        )
    return int(match.group(1)), int(match.group(2))


@dataclass(slots=True)
class _HashState:
    """The sha256 of the first `offset` bytes of the session file."""

    hasher: hashlib._Hash
    offset: int


@dataclass(slots=True)
class Session:
    id: str
    repository: str
    started_at: float
    path: Path
    state: str
    digest: str | None


class ChunkOutOfOrder(OCIError):
    """416: a chunk that does not continue the upload. Carries where the upload stands, so the
    HTTP layer can say so in its headers (Range, Location)."""

    def __init__(self, session: Session, offset: int, content_range: str) -> None:
        super().__init__(
            ErrorCode.BLOB_UPLOAD_INVALID,
            f"Content-Range {content_range} does not continue the upload at offset {offset}",
            status=416,
        )
        self.repository = session.repository
        self.upload_id = session.id
        self.offset = offset


class UploadTooLarge(Exception):
    pass


class UploadStalled(Exception):
    """No body bytes arrived for IDLE_SECONDS (slow-loris) ."""


class UploadDeadlinePassed(Exception):
    """The session's lifetime ended while its data was still arriving."""


IDLE_SECONDS = 60.0  # a body that sends nothing for this long is abandoned


def _hash_pieces(hasher: hashlib._Hash, pieces: list[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)


def _after(previous: concurrent.futures.Future[None] | None, work: Callable[[], None]) -> None:
    """Run `work` once the previous batch's same step is done (its error is this one's)."""
    if previous is not None:
        previous.result()
    work()


class _Batches(Generic[T]):
    """Write and hash steps handed to the workers, oldest batch first, each step chained to the same
    step of the batch before (`_after`), so writes and hash updates stay in order while several
    batches are in flight. A batch leaves only once both its steps are done; `tag` travels with it
    (the buffer it reads, on the BlockStream path)."""

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self._executor = executor
        self._loop = asyncio.get_running_loop()
        self._queue: collections.deque[tuple[T, tuple[concurrent.futures.Future[None], ...]]]
        self._queue = collections.deque()

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, tag: T, write: Callable[[], None], hash_update: Callable[[], None]) -> None:
        before = self._queue[-1][1] if self._queue else (None, None)
        steps = (
            self._executor.submit(_after, before[0], write),
            self._executor.submit(_after, before[1], hash_update),
        )
        self._queue.append((tag, steps))

    async def oldest_done(self) -> T:
        """Wait for the oldest batch (its error is raised here) and remove it; returns its tag."""
        tag, steps = self._queue[0]
        await asyncio.gather(*(asyncio.wrap_future(step, loop=self._loop) for step in steps))
        self._queue.popleft()
        return tag

    async def all_done(self) -> None:
        while self._queue:
            await self.oldest_done()

    def settle(self) -> None:
        """After an error or a cancellation: block until the workers finished what they hold, so that
        no write lands after the caller's rollback."""
        if self._queue:
            concurrent.futures.wait([step for _, steps in self._queue for step in steps])


def _loop_deadline(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float:
    """A wall-clock deadline as event-loop time (infinity for none)."""
    return deadline + loop.time() - time.time() if deadline is not None else float("inf")


def _hash_range(hasher: hashlib._Hash, buffer: mmap.mmap, start: int, end: int) -> None:
    hasher.update(memoryview(buffer)[start:end])


def _write_and_hash(writer: UploadWriter, hasher: hashlib._Hash, pieces: list[bytes]) -> None:
    writer.write(pieces)
    _hash_pieces(hasher, pieces)
    writer.finish()


def _hash_file(path: Path, algorithm: str, limit: int | None = None) -> tuple[hashlib._Hash, int]:
    hasher = hashlib.new(algorithm)
    total = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            block = handle.read(BUFFER_BYTES)
            if not block:
                break
            if limit is not None and total + len(block) > limit:
                block = block[: limit - total]
            hasher.update(block)
            total += len(block)
            if limit is not None and total >= limit:
                break
    return hasher, total


def _settle_upload(path: Path) -> None:
    """What an upload file needs before it becomes the blob: the read-back done (the first pull after
    the commit finds the blob in the page cache), then its bytes durable."""
    read_backs_done()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def receive_body(
    body: ByteStream | BlockStream,
    writer: UploadWriter,
    hasher: hashlib._Hash,
    executor: concurrent.futures.Executor,
    room: int,
    deadline: float | None = None,
    idle_seconds: float = IDLE_SECONDS,
) -> int:
    """Stream `body` into `writer` and `hasher` through worker threads; return the byte count. When
    it returns, the file holds every byte (`writer.finish()` ran); on an error the caller rolls back.

    Raises UploadTooLarge as soon as more than `room` bytes arrived, UploadStalled when nothing
    arrives for `idle_seconds`, UploadDeadlinePassed at `deadline` (wall clock). Pipelined: while the
    workers write and hash up to BATCHES_IN_FLIGHT batches of pieces (each step in order), this
    coroutine collects the next from the socket. Pieces are never joined: copying big buffers costs
    more than the hashing. A BlockStream is received into the writer's own aligned buffers instead
    (`_receive_blocks`)."""
    loop = asyncio.get_running_loop()
    if isinstance(body, BlockStream):
        return await _receive_blocks(body, writer, hasher, executor, room, deadline, idle_seconds)
    in_flight: _Batches[None] = _Batches(executor)
    pieces: list[bytes] = []
    buffered = 0
    total = 0
    hard_stop = _loop_deadline(loop, deadline)
    try:
        while True:
            now = loop.time()
            if now >= hard_stop:
                raise UploadDeadlinePassed
            session_ends_first = hard_stop <= now + idle_seconds
            try:
                async with asyncio.timeout_at(min(now + idle_seconds, hard_stop)):
                    chunk, end_of_http_chunk = await body.readchunk()
            except TimeoutError:
                raise (UploadDeadlinePassed if session_ends_first else UploadStalled) from None
            if not chunk:
                if end_of_http_chunk and not body.at_eof():
                    continue  # an empty marker at a chunked-encoding boundary, not the end
                break  # (aiohttp's shared empty payload answers (b"", True) once drained)
            total += len(chunk)
            if total > room:
                raise UploadTooLarge
            pieces.append(chunk)
            buffered += len(chunk)
            if buffered >= BUFFER_BYTES:
                while len(in_flight) >= BATCHES_IN_FLIGHT:
                    await in_flight.oldest_done()
                in_flight.submit(
                    None,
                    functools.partial(writer.write, pieces),
                    functools.partial(_hash_pieces, hasher, pieces),
                )
                pieces = []
                buffered = 0
        await in_flight.all_done()
        if buffered < 256 * 1024 and not writer.direct:
            _write_and_hash(writer, hasher, pieces)  # small tail, buffered: cheaper than a thread hop
        else:
            await loop.run_in_executor(executor, _write_and_hash, writer, hasher, pieces)
        return total
    finally:
        in_flight.settle()


# One buffer filling from the socket while three are written and hashed. 4 x 4 MiB rather than
# 3 x 8 MiB: a 16 MiB chunk's answer waits on a smaller last buffer, and 8 MiB less per upload. The
# speed is the same within this machine's noise (A/B for issue 14, alternating pushes of 1 GiB:
# chunked 3.79-3.98 s against 3.95-4.11 s, monolithic medians 1.59 s against 1.57 s; the same
# machine varies by 15% between pairs).
BLOCK_BUFFERS = 4


async def _receive_blocks(
    body: BlockStream,
    writer: UploadWriter,
    hasher: hashlib._Hash,
    executor: concurrent.futures.Executor,
    room: int,
    deadline: float | None,
    idle_seconds: float,
) -> int:
    """`receive_body` for a BlockStream: the socket's bytes land in pooled page-aligned buffers
    (STAGE_BYTES each), which the workers write (O_DIRECT straight from the buffer) and hash, in order,
    while the next buffer fills. The first byte sits at the file offset's place within a block, so
    every whole block is aligned in memory as O_DIRECT needs. Same errors and guarantees as the
    ByteStream path."""
    hard_stop = _loop_deadline(asyncio.get_running_loop(), deadline)
    owned: list[mmap.mmap] = []
    in_flight: _Batches[mmap.mmap] = _Batches(executor)
    offset = writer.offset
    total = 0
    try:
        while True:
            if len(owned) < BLOCK_BUFFERS:
                buffer = take_stage()
                owned.append(buffer)
            else:
                buffer = await in_flight.oldest_done()  # written and hashed: free to fill again
            start = offset % ALIGN
            placed = await _fill(body, memoryview(buffer)[start:], hard_stop, idle_seconds)
            if not placed:
                break
            total += placed
            if total > room:
                raise UploadTooLarge
            end = start + placed
            in_flight.submit(
                buffer,
                functools.partial(writer.write_buffer, buffer, start, end),
                functools.partial(_hash_range, hasher, buffer, start, end),
            )
            offset += placed
            if end < len(buffer):
                break  # the body ended inside this buffer
        await in_flight.all_done()
        writer.finish()  # nothing staged on this path: it only settles the writer's state
        return total
    finally:
        in_flight.settle()  # as in receive_body: no write may land after the caller's rollback
        for buffer in owned:
            give_stage(buffer)


async def _fill(body: BlockStream, view: memoryview, hard_stop: float, idle_seconds: float) -> int:
    """Fill `view` from `body` under the upload's clocks: UploadStalled when no byte arrived for
    `idle_seconds` (counted from the later of the last arrival and this call), UploadDeadlinePassed
    at `hard_stop` (event-loop time)."""
    loop = asyncio.get_running_loop()
    asked = loop.time()
    reading = body.start_read(view)
    try:
        while not reading.done():
            quiet_until = max(body.last_arrival, asked) + idle_seconds
            now = loop.time()
            if now >= hard_stop:
                raise UploadDeadlinePassed
            if now >= quiet_until:
                raise UploadStalled
            await asyncio.wait({reading}, timeout=min(quiet_until, hard_stop) - now)
        return reading.result()
    finally:
        if not reading.done():
            body.stop_read()


class UploadManager:
    """Owns upload sessions, their files and their hash states."""

    def __init__(
        self,
        data_dir: Path,
        metadata: MetadataStore,
        blobs: BlobStore,
        executor: concurrent.futures.Executor,
        *,
        max_layer_bytes: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
        direct_io: bool = True,
    ) -> None:
        self.dir = Path(data_dir) / "uploads"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metadata = metadata
        self.blobs = blobs
        self.executor = executor
        self.max_layer_bytes = max_layer_bytes
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.direct_io = direct_io
        self.idle_seconds = IDLE_SECONDS
        self._hash_states: dict[str, _HashState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._remove_stray_temp_files()

    # -- session bookkeeping -------------------------------------------------------------------

    def _remove_stray_temp_files(self) -> None:
        """Single-request uploads interrupted by a crash leave tmp-* files; nothing refers to them."""
        for path in self.dir.glob("tmp-*"):
            path.unlink(missing_ok=True)

    def _path(self, upload_id: str) -> Path:
        return self.dir / upload_id

    def create(self, repository: str) -> str:
        upload_id = str(uuid.uuid4())
        self._path(upload_id).touch()
        self.metadata.create_upload(upload_id, repository, self.clock())
        self._hash_states[upload_id] = _HashState(hashlib.sha256(), 0)
        return upload_id

    def lock(self, upload_id: str) -> asyncio.Lock:
        lock = self._locks.get(upload_id)
        if lock is None:
            lock = self._locks[upload_id] = asyncio.Lock()
        return lock

    def discard(self, upload_id: str) -> None:
        """Forget a session and delete its data (cancel, expiry, failed verification, too large)."""
        self._hash_states.pop(upload_id, None)
        self._locks.pop(upload_id, None)
        self._path(upload_id).unlink(missing_ok=True)
        self.metadata.delete_upload(upload_id)

    def session(self, repository: str, upload_id: str, *, allow_done: bool = False) -> Session:
        """The live session `upload_id` of `repository`, or 404 BLOB_UPLOAD_UNKNOWN."""
        unknown = OCIError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"upload": upload_id[:64]})
        if _UPLOAD_ID_RE.fullmatch(upload_id) is None:
            raise unknown
        row = self.metadata.get_upload(upload_id)
        if row is None or row.repository != repository:
            raise unknown
        if row.started_at + self.timeout_seconds <= self.clock():
            self.discard(upload_id)
            raise self._expired(upload_id)
        if row.state != "open" and not allow_done:
            raise unknown
        path = self._path(upload_id)
        if row.state == "open" and not path.exists():
            # A crash between deleting the file and the row (or a tampered data folder).
            self.discard(upload_id)
            raise unknown
        return Session(row.id, row.repository, row.started_at, path, row.state, row.digest)

    def offset(self, session: Session) -> int:
        state = self._hash_states.get(session.id)
        if state is not None:
            return state.offset
        try:
            return os.stat(session.path).st_size
        except FileNotFoundError:
            return 0

    async def _hash_state(self, session: Session) -> _HashState:
        state = self._hash_states.get(session.id)
        if state is None:
            # After a restart: rebuild the running hash from what the file holds.
            hasher, size = await asyncio.get_running_loop().run_in_executor(
                self.executor, _hash_file, session.path, "sha256", None
            )
            state = self._hash_states[session.id] = _HashState(hasher, size)
        return state

    def sweep_expired(self) -> int:
        """Remove every session (open or finished) older than the timeout; returns how many."""
        expired = self.metadata.uploads_started_before(self.clock() - self.timeout_seconds)
        for upload_id in expired:
            self.discard(upload_id)
        return len(expired)

    # -- data ----------------------------------------------------------------------------------

    async def append(
        self,
        session: Session,
        body: ByteStream | BlockStream,
        *,
        content_range: str | None,
        content_length: int | None,
    ) -> int:
        """Append one chunk (PATCH, or the body of the final PUT); return the new offset."""
        state = await self._hash_state(session)
        start = state.offset
        expected: int | None = content_length
        if content_range is not None:
            first, last = parse_content_range(content_range)
            if first != start or last < first:
                raise ChunkOutOfOrder(session, start, f"{first}-{last}")
            expected = last - first + 1
            if content_length is not None and content_length != expected:
                raise OCIError(
                    ErrorCode.SIZE_INVALID,
                    f"Content-Length {content_length} differs from the Content-Range length {expected}",
                )
        room = self.max_layer_bytes - start
        if expected is not None and expected > room:
            self.discard(session.id)
            raise self._too_large()
        saved = state.hasher.copy()
        fd = os.open(session.path, os.O_WRONLY)
        writer = UploadWriter(fd, session.path, start, direct=self.direct_io)
        try:
            try:
                received = await receive_body(
                    body,
                    writer,
                    state.hasher,
                    self.executor,
                    room,
                    session.started_at + self.timeout_seconds,
                    self.idle_seconds,
                )
            except UploadTooLarge:
                self.discard(session.id)
                raise self._too_large() from None
            except UploadDeadlinePassed:
                self.discard(session.id)
                raise self._expired(session.id) from None
            except UploadStalled:
                raise self._stalled() from None
            if expected is not None and received != expected:
                raise OCIError(
                    ErrorCode.SIZE_INVALID,
                    f"received {received} bytes, the request declared {expected}",
                )
        except BaseException:
            writer.close()
            if session.id in self._hash_states:
                os.ftruncate(fd, start)
                state.hasher = saved
                state.offset = start
            raise
        finally:
            writer.close()
            os.close(fd)
        state.offset = start + received
        return state.offset

    def _expired(self, upload_id: str) -> OCIError:
        return OCIError(
            ErrorCode.BLOB_UPLOAD_UNKNOWN,
            f"upload session expired ({self.timeout_seconds:g} s after it started)",
            detail={"upload": upload_id},
        )

    def _stalled(self) -> OCIError:
        return OCIError(
            ErrorCode.BLOB_UPLOAD_INVALID,
            f"no data received for {self.idle_seconds:g} s; the chunk was dropped",
            status=408,
        )

    def _too_large(self) -> OCIError:
        return OCIError(
            ErrorCode.SIZE_INVALID,
            f"blob exceeds the registry's limit of {self.max_layer_bytes} bytes per layer;"
            " the upload was discarded",
            status=413,
            detail={"limit": self.max_layer_bytes},
        )

    async def finish(self, session: Session, digest: Digest) -> int:
        """Verify the session's content against `digest`, store and link it; return its size."""
        state = await self._hash_state(session)
        size = state.offset
        loop = asyncio.get_running_loop()
        if digest.algorithm == "sha256":
            actual = state.hasher.hexdigest()
        else:
            hasher, _ = await loop.run_in_executor(self.executor, _hash_file, session.path, digest.algorithm)
            actual = hasher.hexdigest()
        if actual != digest.hex:
            self.discard(session.id)
            raise OCIError(
                ErrorCode.DIGEST_INVALID,
                "the uploaded content does not match the digest; the upload was discarded",
                detail={"expected": str(digest), "actual": f"{digest.algorithm}:{actual}", "size": size},
            )
        await loop.run_in_executor(self.executor, self._commit_file, session.path, digest)
        self.metadata.link_blob(session.repository, str(digest), size)
        self.metadata.finish_upload(session.id, str(digest))
        self._hash_states.pop(session.id, None)
        self._locks.pop(session.id, None)
        return size

    def _commit_file(self, path: Path, digest: Digest) -> None:
        self.blobs.commit(path, digest, settle=functools.partial(_settle_upload, path))

    async def upload_whole(
        self, repository: str, digest: Digest, body: ByteStream | BlockStream, content_length: int | None
    ) -> int:
        """Single-request upload (POST ?digest=): stream, verify, store and link; no session."""
        if content_length is not None and content_length > self.max_layer_bytes:
            raise self._too_large()
        path = self.dir / f"tmp-{uuid.uuid4()}"
        hasher = hashlib.sha256() if digest.algorithm == "sha256" else hashlib.new(digest.algorithm)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        writer = UploadWriter(fd, path, 0, direct=self.direct_io)
        committed = False
        try:
            try:
                size = await receive_body(
                    body,
                    writer,
                    hasher,
                    self.executor,
                    self.max_layer_bytes,
                    self.clock() + self.timeout_seconds,
                    self.idle_seconds,
                )
            except UploadTooLarge:
                raise self._too_large() from None
            except UploadDeadlinePassed:
                raise OCIError(
                    ErrorCode.BLOB_UPLOAD_INVALID,
                    f"upload took longer than {self.timeout_seconds:g} s",
                    status=408,
                ) from None
            except UploadStalled:
                raise self._stalled() from None
            finally:
                writer.close()
                os.close(fd)
            if content_length is not None and size != content_length:
                raise OCIError(ErrorCode.SIZE_INVALID, f"received {size} bytes, declared {content_length}")
            if hasher.hexdigest() != digest.hex:
                raise OCIError(
                    ErrorCode.DIGEST_INVALID,
                    "the uploaded content does not match the digest",
                    detail={"expected": str(digest), "actual": f"{digest.algorithm}:{hasher.hexdigest()}"},
                )
            await asyncio.get_running_loop().run_in_executor(self.executor, self._commit_file, path, digest)
            committed = True
        finally:
            if not committed:
                path.unlink(missing_ok=True)
        self.metadata.link_blob(repository, str(digest), size)
        return size
