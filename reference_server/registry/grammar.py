"""Validation of repository names, tags and digests (OCI distribution spec grammar).

Independent of keelhaul.client.grammar on purpose: the suite's generator and the server must not
share a bug. Every check measures length before running a regex, and the regexes have no
ambiguous repetition, so no input costs more than one linear scan.
"""

from __future__ import annotations

import re

from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.storage.blobs import Digest

MAX_NAME_LENGTH = 255  # spec: host + "/" + name SHOULD stay within 255; distribution caps the name part
MAX_TAG_LENGTH = 128
MAX_DIGEST_LENGTH = 7 + 1 + 128  # the longest supported digest: sha512:<128 hex>

_NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")
_TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_DIGEST_ALGORITHM_RE = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")

# Registered algorithms this registry verifies: name -> exact hex length.
SUPPORTED_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX_RE = {alg: re.compile(f"[a-f0-9]{{{n}}}") for alg, n in SUPPORTED_ALGORITHMS.items()}


def is_valid_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name) is not None


def validate_name(name: str) -> str:
    """Return `name` or raise NAME_INVALID (400)."""
    if not is_valid_name(name):
        raise OCIError(ErrorCode.NAME_INVALID, "invalid repository name", detail={"name": name[:300]})
    return name


def is_valid_tag(tag: str) -> bool:
    return 0 < len(tag) <= MAX_TAG_LENGTH and _TAG_RE.fullmatch(tag) is not None


def try_parse_digest(text: str) -> Digest | None:
    """A Digest when `text` is a well-formed digest of a supported algorithm, else None."""
    if len(text) > MAX_DIGEST_LENGTH:
        return None
    algorithm, sep, encoded = text.partition(":")
    if not sep:
        return None
    pattern = _HEX_RE.get(algorithm)
    if pattern is None or pattern.fullmatch(encoded) is None:
        return None
    return Digest(algorithm, encoded)


def parse_digest(text: str) -> Digest:
    """Return the Digest or raise DIGEST_INVALID (400) saying what is wrong with it."""
    digest = try_parse_digest(text)
    if digest is not None:
        return digest
    algorithm, sep, _ = text[: MAX_DIGEST_LENGTH + 1].partition(":")
    if not sep:
        reason = "not a digest (expected <algorithm>:<hex>)"
    elif algorithm not in SUPPORTED_ALGORITHMS:
        if len(algorithm) <= 32 and _DIGEST_ALGORITHM_RE.fullmatch(algorithm):
            reason = f"unsupported digest algorithm {algorithm!r} (supported: sha256, sha512)"
        else:
            reason = "malformed digest algorithm"
    else:
        reason = (
            f"{algorithm} digest needs exactly {SUPPORTED_ALGORITHMS[algorithm]} lowercase hex characters"
        )
    raise OCIError(ErrorCode.DIGEST_INVALID, reason, detail={"digest": text[:200]})


def looks_like_digest(reference: str) -> bool:
    """A reference containing ':' can only be meant as a digest (tags never contain ':')."""
    return ":" in reference
