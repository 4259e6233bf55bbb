"""Hypothesis strategies for the spec's grammars, built constructively rather than filtered.

Valid values are assembled from grammar pieces with bounded sizes, so they stay short and need no
filtering; invalid values are made by breaking one rule of a valid value, and stay URL-path-safe
(no `/` misuse, `?`, `#`, `%` or control characters) so that a registry sees them as a bad name, tag
or digest rather than as another route. Every strategy's output is checked against the exact spec
regex in keelhaul.client.grammar by the tests.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st

from keelhaul.client import grammar

LOWER_ALNUM = string.ascii_lowercase + string.digits
TAG_FIRST = string.ascii_letters + string.digits + "_"
TAG_REST = TAG_FIRST + ".-"
HEX = "0123456789abcdef"
NAME_SEPARATORS = (".", "_", "__", "-", "--", "---")
# URL-path-safe characters outside the name and tag alphabets
FOREIGN_CHARS = "!$&'()*+,;=~"


def _name_component(max_runs: int = 3, max_run: int = 8) -> st.SearchStrategy[str]:
    run = st.text(LOWER_ALNUM, min_size=1, max_size=max_run)
    extra = st.lists(st.tuples(st.sampled_from(NAME_SEPARATORS), run), max_size=max_runs - 1)
    return st.builds(lambda first, rest: first + "".join(sep + part for sep, part in rest), run, extra)


def valid_names(max_components: int = 3) -> st.SearchStrategy[str]:
    """Repository names matching the spec's name grammar (short: <= ~100 characters)."""
    return st.lists(_name_component(), min_size=1, max_size=max_components).map("/".join)


def valid_name_suffixes(prefix: str, max_components: int = 2) -> st.SearchStrategy[str]:
    """Valid names under `prefix` (e.g. the namespace the suite may write in)."""
    return valid_names(max_components).map(lambda rest: f"{prefix}/{rest}")


def _break_name(name: str, how: str, extra: str) -> str:
    head, _, tail = name.partition("/")
    if how == "upper":
        return name[0].upper() + name[1:] if name[0].isalpha() else "A" + name
    if how == "leading-separator":
        return extra[:1] + name if extra[:1] in "._-" else "-" + name
    if how == "trailing-separator":
        return name + (extra[:1] if extra[:1] in "._-" else ".")
    if how == "double-dot":
        return head + ".." + head + ("/" + tail if tail else "")
    if how == "triple-underscore":
        return head + "___" + head + ("/" + tail if tail else "")
    if how == "dot-dash":
        return head + ".-" + head + ("/" + tail if tail else "")
    # foreign character inside the first component
    return head + extra[:1] + head + ("/" + tail if tail else "")


def invalid_names() -> st.SearchStrategy[str]:
    """Names that break exactly one rule of the grammar (upper case, separator at an edge, doubled
    or mixed separators, characters outside the alphabet)."""
    how = st.sampled_from(
        [
            "upper",
            "leading-separator",
            "trailing-separator",
            "double-dot",
            "triple-underscore",
            "dot-dash",
            "foreign",
        ]
    )
    extra = st.sampled_from(list(FOREIGN_CHARS + "._-"))
    foreign = st.sampled_from(list(FOREIGN_CHARS))
    return st.builds(
        lambda name, h, e, f: _break_name(name, h, f if h == "foreign" else e),
        valid_names(2),
        how,
        extra,
        foreign,
    ).filter(lambda name: not grammar.is_valid_name(name))


def valid_tags(max_size: int = 128) -> st.SearchStrategy[str]:
    """Tags matching `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`; `max_size` bounds the length."""
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(list(TAG_FIRST)),
        st.text(TAG_REST, max_size=max(0, min(max_size, 128) - 1)),
    )


def invalid_tags() -> st.SearchStrategy[str]:
    """Tags starting with `.` or `-`, longer than 128 characters, or holding a foreign character."""
    leading = st.builds(lambda c, rest: c + rest, st.sampled_from([".", "-"]), st.text(TAG_REST, max_size=20))
    too_long = st.builds(lambda tag, pad: (tag + "a" * 129)[: 129 + pad], valid_tags(20), st.integers(0, 30))
    foreign = st.builds(
        lambda tag, char, at: tag[:at] + char + tag[at:],
        valid_tags(20),
        st.sampled_from(list(FOREIGN_CHARS)),
        st.integers(1, 20),
    )
    return st.one_of(leading, too_long, foreign).filter(lambda tag: not grammar.is_valid_tag(tag))


def valid_digests(algorithms: tuple[str, ...] = ("sha256",)) -> st.SearchStrategy[str]:
    """Well-formed digests of registered algorithms (sha256: 64 hex, sha512: 128 hex)."""
    lengths = {"sha256": 64, "sha512": 128}
    return st.sampled_from(algorithms).flatmap(
        lambda alg: _hex(lengths[alg]).map(lambda hexes: f"{alg}:{hexes}")
    )


def _hex(length: int) -> st.SearchStrategy[str]:
    return st.text(HEX, min_size=length, max_size=length)


def invalid_digests() -> st.SearchStrategy[str]:
    """Digests that break the grammar or a registered algorithm's encoding rule."""
    hex64 = _hex(64)
    return st.one_of(
        hex64.map(lambda h: f"SHA256:{h}"),  # algorithm in upper case
        hex64.map(lambda h: f"sha256:{h.upper()}" if any(c.isalpha() for c in h) else f"sha256:A{h[1:]}"),
        st.integers(1, 63).flatmap(_hex).map(lambda h: f"sha256:{h}"),  # too short
        st.integers(65, 80).flatmap(_hex).map(lambda h: f"sha256:{h}"),  # too long
        st.just("sha256:"),
        hex64,  # no algorithm at all
        hex64.map(lambda h: f"sha256-:{h}"),  # separator at the end of the algorithm
        hex64.map(lambda h: f"sha256:{h[:32]}!{h[33:]}"),  # character outside the encoding
    ).filter(lambda digest: not grammar.is_valid_digest(digest))


def content_ranges(offset: int, max_length: int) -> st.SearchStrategy[tuple[str, int]]:
    """Valid `Content-Range` values for a chunk starting at `offset`: (value, chunk length)."""
    return st.integers(1, max(1, max_length)).map(lambda n: (f"{offset}-{offset + n - 1}", n))


def malformed_content_ranges() -> st.SearchStrategy[str]:
    """Values that do not match `^[0-9]+-[0-9]+$` (or run backwards)."""
    number = st.integers(0, 10_000)
    return st.one_of(
        number.map(lambda a: f"{a}-"),
        number.map(lambda b: f"-{b}"),
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"bytes={ab[0]}-{ab[1]}"),
        st.tuples(number, number).map(lambda ab: f"{ab[0]} - {ab[1]}"),
        st.tuples(number, number).map(lambda ab: f"{ab[0]}-{ab[1]}/*"),
        st.tuples(number, st.integers(1, 100)).map(lambda ab: f"{ab[0] + ab[1]}-{ab[0]}"),
        st.sampled_from(["a-b", "", "0x0-0x1", "1-2-3"]),
    ).filter(lambda value: not grammar.is_valid_content_range(value))


def misplaced_content_ranges(offset: int, length: int) -> st.SearchStrategy[str]:
    """Well-formed ranges of `length` bytes that do not start at `offset` (a gap or an overlap):
    the spec wants 416 for these."""
    starts = st.integers(0, offset + 10 * max(length, 1)).filter(lambda start: start != offset)
    return starts.map(lambda start: f"{start}-{start + length - 1}")
