"""The distribution and image specs' grammars for names, tags, digests and chunk ranges.

Used to generate and check test inputs. The reference server validates with its own code on purpose,
so a shared bug cannot make both sides agree on something the spec forbids.
"""

from __future__ import annotations

import re

# distribution-spec "Pulling manifests": <name>
NAME_PATTERN = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*"
# distribution-spec "Pulling manifests": <reference> as a tag (at most 128 characters)
TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
# image-spec descriptor.md "Digests"
DIGEST_PATTERN = r"[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
# distribution-spec "Pushing a blob in chunks": Content-Range of a PATCH (inclusive on both ends)
CONTENT_RANGE_PATTERN = r"[0-9]+-[0-9]+"
# Registered algorithms restrict the encoded part (image-spec descriptor.md "Registered Algorithms").
REGISTERED_ENCODED = {"sha256": r"[a-f0-9]{64}", "sha512": r"[a-f0-9]{128}"}

NAME_RE = re.compile(NAME_PATTERN)
TAG_RE = re.compile(TAG_PATTERN)
DIGEST_RE = re.compile(DIGEST_PATTERN)
CONTENT_RANGE_RE = re.compile(CONTENT_RANGE_PATTERN)


def is_valid_name(name: str) -> bool:
    return NAME_RE.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def is_valid_digest(digest: str) -> bool:
    """Matches the generic grammar and, for registered algorithms, their encoding rules."""
    if DIGEST_RE.fullmatch(digest) is None:
        return False
    algorithm, _, encoded = digest.partition(":")
    rule = REGISTERED_ENCODED.get(algorithm)
    return rule is None or re.fullmatch(rule, encoded) is not None


def is_valid_content_range(value: str) -> bool:
    """Syntax only; a range must also have start <= end to mean anything."""
    if CONTENT_RANGE_RE.fullmatch(value) is None:
        return False
    start, end = value.split("-")
    return int(start) <= int(end)
