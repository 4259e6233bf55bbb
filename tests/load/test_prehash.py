"""LayerQueue: each layer comes with its digest already known, the next one hashes in a thread."""

from __future__ import annotations

import itertools

from keelhaul.client import GeneratedBlob
from load.prehash import PREHASH_MIN_SIZE, LayerQueue


def seeds():  # type: ignore[no-untyped-def]
    counter = itertools.count(1)
    return lambda repository: f"{repository}:{next(counter)}"


def test_layers_arrive_hashed_in_seed_order_and_the_next_is_prepared() -> None:
    queue, seed_for = LayerQueue(), seeds()
    size = PREHASH_MIN_SIZE
    first = queue.take(size, "r", seed_for)
    assert first.known_digest == GeneratedBlob(size, seed="r:1").digest
    second = queue.take(size, "r", seed_for)
    assert second.seed == "r:2" and second.known_digest == GeneratedBlob(size, seed="r:2").digest
    assert queue._next is not None and queue._next[1].seed == "r:3"  # hashing while "r:2" uploads


def test_a_different_size_or_repository_does_not_reuse_the_prepared_layer() -> None:
    queue, seed_for = LayerQueue(), seeds()
    queue.take(PREHASH_MIN_SIZE, "r", seed_for)  # prepares r:2
    other = queue.take(PREHASH_MIN_SIZE, "s", seed_for)
    assert other.seed == "s:3" and other.known_digest == GeneratedBlob(PREHASH_MIN_SIZE, seed="s:3").digest


def test_small_layers_are_left_to_the_upload_to_hash() -> None:
    small = LayerQueue().take(4096, "r", seeds())
    assert small.known_digest is None and small.size == 4096
