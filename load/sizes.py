"""Byte sizes as people write them on a command line ("1GiB", "16MiB", "10GB", "512k")."""

from __future__ import annotations

import re

from keelhaul.errors import UsageError

# Decimal units say B after the letter (MB = 10^6); binary units say iB (MiB = 2^20). A bare letter
# (16M, 1G) means binary, as chunk sizes are nearly always powers of two.
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "k": 1 << 10,
    "m": 1 << 20,
    "g": 1 << 30,
    "t": 1 << 40,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Bytes in `text`; a UsageError with one line for anything else (negative, unknown unit)."""
    if isinstance(text, int):
        if text < 0:
            raise UsageError(f"{what} must not be negative: {text}")
        return text
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise UsageError(f"{what}: cannot read {text!r} as a size (examples: 1GiB, 16MiB, 10GB, 4096)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_size(size: int) -> str:
    """A short label for a byte count, exact when it is a whole binary or decimal unit."""
    for unit, factor in (("GiB", 1 << 30), ("GB", 10**9), ("MiB", 1 << 20), ("MB", 10**6), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f}MiB"
    return f"{size}B"
