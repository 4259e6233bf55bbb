"""Content-addressed blob files under DATA/blobs/<algorithm>/<first two hex>/<hex>.

A blob file appears only by rename of a complete, fsynced temp file, followed by an fsync of the
directory, so a crash never leaves a partial blob visible. Whether a repository may *see* a blob is
decided by the metadata store's links, never by the file's existence. All methods block: call them
from a worker thread when they touch big files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Digest:
    """A validated digest: the registry's grammar makes them, blob files are named by them.
    `str(d)` is the canonical `alg:hex` form."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def fsync_directory(path: Path) -> None:
    """Make a rename or a new entry in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Blob files on the local filesystem. Paths are built only from parsed Digests (hex only)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "blobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        return self.root / digest.algorithm / digest.hex[:2] / digest.hex

    def size(self, digest: Digest) -> int | None:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            return None

    def holds(self, digest: Digest, size: int) -> bool:
        """Whether the blob is stored whole: a file of `size` bytes (blob files appear only whole, by
        rename, and are never removed)."""
        return self.size(digest) == size

    def commit(self, source: Path, digest: Digest, settle: Callable[[], None] | None = None) -> None:
        """Move the complete file `source` into place as `digest`, once `settle` (the caller's fsync
        of it, and whatever else must come first) has run; without `settle`, `source` is fsynced
        already.

        Idempotent. When the blob is already stored whole (`holds`), that file stays and `source` is
        deleted, without `settle`: the bytes are the same (the caller verified the digest), and the
        file in place may have pages in the page cache from earlier pulls, which a replacement would
        drop (a layer that many repositories push again would then be read from the disk by its next
        pull). A stored file of another size is replaced, which repairs it."""
        target = self.path(digest)
        if self.holds(digest, os.stat(source).st_size):
            os.unlink(source)
            return
        if settle is not None:
            settle()
        parent = target.parent
        if not parent.is_dir():
            parent.mkdir(parents=True, exist_ok=True)
            fsync_directory(parent.parent)
            fsync_directory(parent.parent.parent)
        os.replace(source, target)
        fsync_directory(parent)

    def write(self, digest: Digest, data: bytes, temp_dir: Path) -> None:
        """Store small content (tests, manifests-as-blobs) with the same temp+fsync+rename rule."""
        temp_dir.mkdir(parents=True, exist_ok=True)
        temp = temp_dir / f"write-{digest.hex[:16]}-{os.getpid()}-{id(data)}"
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        self.commit(temp, digest)

    def read_small(self, digest: Digest, limit: int) -> bytes | None:
        """The blob's bytes when it exists and is at most `limit` bytes, else None."""
        try:
            with open(self.path(digest), "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        return data if len(data) <= limit else None
