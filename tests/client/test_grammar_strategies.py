"""The grammar helpers against the spec's examples, and the strategies against the exact regexes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keelhaul.client import grammar, strategies

FEW = settings(max_examples=60, deadline=None)


@pytest.mark.parametrize("name", ["a", "library/alpine", "a.b/c_d/e__f/g--h", "0/1/2", "ab-c---d"])
def test_valid_names(name):
    assert grammar.is_valid_name(name)


@pytest.mark.parametrize("name", ["A", "-a", "a-", "a..b", "a___b", "a//b", "a/", "/a", "a.-b", "a b", ""])
def test_invalid_names(name):
    assert not grammar.is_valid_name(name)


@pytest.mark.parametrize("tag", ["v1", "_x", "A.b-c_", "a" * 128])
def test_valid_tags(tag):
    assert grammar.is_valid_tag(tag)


@pytest.mark.parametrize("tag", [".x", "-x", "a" * 129, "a+b", ""])
def test_invalid_tags(tag):
    assert not grammar.is_valid_tag(tag)


def test_digests():
    assert grammar.is_valid_digest("sha256:" + "a" * 64)
    assert grammar.is_valid_digest("sha512:" + "0" * 128)
    assert grammar.is_valid_digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
    assert not grammar.is_valid_digest("sha256:" + "A" * 64)  # registered encoding is lower hex
    assert not grammar.is_valid_digest("sha256:" + "a" * 63)
    assert not grammar.is_valid_digest("SHA256:" + "a" * 64)
    assert not grammar.is_valid_digest("sha256")


def test_content_range_syntax_and_order():
    assert grammar.is_valid_content_range("0-0")
    assert grammar.is_valid_content_range("10-20")
    assert not grammar.is_valid_content_range("20-10")
    assert not grammar.is_valid_content_range("bytes=0-1")


@FEW
@given(strategies.valid_names())
def test_valid_name_strategy(name):
    assert grammar.NAME_RE.fullmatch(name)
    assert len(name) <= 120


@FEW
@given(strategies.invalid_names())
def test_invalid_name_strategy_is_invalid_and_path_safe(name):
    assert not grammar.NAME_RE.fullmatch(name)
    assert not any(c in name for c in "?#%\x00 ")
    assert "//" not in name and not name.startswith("/") and not name.endswith("/")


@FEW
@given(strategies.valid_tags())
def test_valid_tag_strategy(tag):
    assert grammar.TAG_RE.fullmatch(tag) and len(tag) <= 128


@FEW
@given(strategies.invalid_tags())
def test_invalid_tag_strategy(tag):
    assert not grammar.TAG_RE.fullmatch(tag)
    assert not any(c in tag for c in "/?#%:@")


@FEW
@given(strategies.valid_digests(("sha256", "sha512")))
def test_valid_digest_strategy(digest):
    assert grammar.is_valid_digest(digest)


@FEW
@given(strategies.invalid_digests())
def test_invalid_digest_strategy(digest):
    assert not grammar.is_valid_digest(digest)
    assert not any(c in digest for c in "/?#%")


@FEW
@given(st.integers(0, 10**9), st.integers(1, 10**6), st.data())
def test_content_range_strategies(offset, length, data):
    value, size = data.draw(strategies.content_ranges(offset, length))
    start, end = map(int, value.split("-"))
    assert grammar.is_valid_content_range(value) and start == offset and end - start + 1 == size <= length
    assert not grammar.is_valid_content_range(data.draw(strategies.malformed_content_ranges()))
    misplaced = data.draw(strategies.misplaced_content_ranges(offset, length))
    assert grammar.is_valid_content_range(misplaced) and int(misplaced.split("-")[0]) != offset


@FEW
@given(strategies.valid_name_suffixes("keelhaul-ci"))
def test_names_under_a_namespace(name):
    assert name.startswith("keelhaul-ci/") and grammar.is_valid_name(name)
