"""LayerQueue: each layer comes with its digest already known, the next one hashes in a thread."""

from __future__ import annotations

import hashlib
import itertools

from keelhaul.client import GeneratedBlob, SharedPrefixBlob
from load.prehash import PREHASH_MIN_SIZE, LayerQueue


def generated(size: int, seed: str) -> GeneratedBlob:
    return GeneratedBlob(size, seed=seed)


def seeds():  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    return lambda repository: f"{repository}:{next(counter)}"


def test_layers_arrive_hashed_in_seed_order_and_the_next_is_prepared() -> None:
    queue, seed_for = LayerQueue(generated), seeds()
    size = PREHASH_MIN_SIZE
    first = queue.take(size, "r", seed_for)
    assert first.known_digest == GeneratedBlob(size, seed="r:1").digest
    second = queue.take(size, "r", seed_for)
    assert second.seed == "r:2" and second.known_digest == GeneratedBlob(size, seed="r:2").digest
    assert queue._next is not None and queue._next[1].seed == "r:3"  # hashing while "r:2" uploads


def test_a_different_size_or_repository_does_not_reuse_the_prepared_layer() -> None:
    queue, seed_for = LayerQueue(generated), seeds()
    queue.take(PREHASH_MIN_SIZE, "r", seed_for)  # prepares r:2
    other = queue.take(PREHASH_MIN_SIZE, "s", seed_for)
    assert other.seed == "s:3" and other.known_digest == GeneratedBlob(PREHASH_MIN_SIZE, seed="s:3").digest


def test_small_layers_are_left_to_the_upload_to_hash() -> None:
    small = LayerQueue(generated).take(4096, "r", seeds())
    assert small.known_digest is None and small.size == 4096


def test_shared_prefix_layers_differ_and_their_digests_are_right() -> None:
    queue = LayerQueue(lambda size, seed: SharedPrefixBlob(size, seed=seed, family="run1"))
    seed_for = seeds()
    size = PREHASH_MIN_SIZE + 12345
    first, second = queue.take(size, "r", seed_for), queue.take(size, "r", seed_for)
    for layer in (first, second):
        content = b"".join(layer.iter_range(0, size))
        assert layer.known_digest == "sha256:" + hashlib.sha256(content).hexdigest()
    assert first.known_digest != second.known_digest
    prefix = size // (1 << 20) * (1 << 20)
    assert next(first.iter_range(0, 1 << 20)) == next(second.iter_range(0, 1 << 20))  # shared
    assert b"".join(first.iter_range(prefix, size - prefix)) != b"".join(
        second.iter_range(prefix, size - prefix)
    )
