"""Generated content: deterministic, unique per seed, sliceable anywhere, hashed while streamed."""

from __future__ import annotations

import hashlib
import inspect

import pytest

from keelhaul.client import content
from keelhaul.client.content import BLOCK_SIZE, BytesBlob, GeneratedBlob, RangeHasher, as_source, digest_of


def whole(blob) -> bytes:
    return b"".join(blob.iter_range(0, blob.size))


def test_same_seed_same_bytes_other_seed_other_bytes():
    a, b, c = (
        GeneratedBlob(3 * BLOCK_SIZE + 5, "s"),
        GeneratedBlob(3 * BLOCK_SIZE + 5, "s"),
        GeneratedBlob(3 * BLOCK_SIZE + 5, "t"),
    )
    assert whole(a) == whole(b) != whole(c)
    assert a.digest == b.digest != c.digest
    assert GeneratedBlob(10, 1).digest != GeneratedBlob(10, "1x").digest


def test_blocks_differ_within_one_blob():
    blob = GeneratedBlob(4 * BLOCK_SIZE, 7)
    blocks = [blob.block(i) for i in range(4)]
    assert len(set(blocks)) == 4
    assert all(len(block) == BLOCK_SIZE for block in blocks)


def test_digest_matches_hashlib_and_is_cached():
    blob = GeneratedBlob(2 * BLOCK_SIZE + 123, "d")
    assert blob.known_digest is None
    assert blob.digest == "sha256:" + hashlib.sha256(whole(blob)).hexdigest()
    assert blob.known_digest == blob.digest


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 0),
        (0, 1),
        (BLOCK_SIZE - 3, 10),
        (5, 2 * BLOCK_SIZE),
        (BLOCK_SIZE, BLOCK_SIZE),
        (3 * BLOCK_SIZE - 1, 1),
    ],
)
def test_iter_range_is_a_slice_of_the_whole(offset, length):
    blob = GeneratedBlob(3 * BLOCK_SIZE, "r")
    pieces = list(blob.iter_range(offset, length))
    assert all(len(p) <= BLOCK_SIZE for p in pieces)
    assert b"".join(pieces) == whole(blob)[offset : offset + length]


def test_range_outside_the_content_is_refused():
    with pytest.raises(ValueError):
        list(GeneratedBlob(10, 1).iter_range(5, 6))


def test_chunks_have_exact_sizes():
    blob = GeneratedBlob(BLOCK_SIZE + 100, "c")
    chunks = list(blob.chunks(300_000))
    assert [len(c) for c in chunks[:-1]] == [300_000] * (len(chunks) - 1)
    assert b"".join(chunks) == whole(blob)


def test_generation_is_lazy():
    # a 10 TB blob costs nothing until iterated: nothing of its size is allocated up front
    huge = GeneratedBlob(10 * 10**12, "huge")
    first = next(huge.iter_range(10**12, 16))
    assert len(first) == 16
    assert inspect.isgenerator(huge.iter_range(0, huge.size))


def test_bytes_blob_and_as_source():
    data = b"x" * (BLOCK_SIZE + 1)
    blob = as_source(data)
    assert isinstance(blob, BytesBlob) and blob.digest == digest_of(data) == blob.known_digest
    assert whole(blob) == data
    gen = GeneratedBlob(3, 1)
    assert as_source(gen) is gen
    assert isinstance(gen, content.BlobSource)


def test_range_hasher_handles_rewinds_and_gaps():
    blob = GeneratedBlob(3 * BLOCK_SIZE + 17, "h")
    hasher = RangeHasher(blob)
    # send 0..2MiB, rewind to 1MiB (a resume after 416), skip ahead, never send the tail
    list(hasher.tee(0, blob.iter_range(0, 2 * BLOCK_SIZE)))
    list(hasher.tee(BLOCK_SIZE, blob.iter_range(BLOCK_SIZE, BLOCK_SIZE + 5)))
    hasher.feed(2 * BLOCK_SIZE + 100, b"".join(blob.iter_range(2 * BLOCK_SIZE + 100, 50)))
    assert hasher.hexdigest_complete() == blob.digest
