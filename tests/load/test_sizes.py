"""Sizes on the command line: binary and decimal units, one-line errors."""

from __future__ import annotations

import pytest

from keelhaul.errors import UsageError
from load.sizes import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1GiB", 1 << 30),
        ("16MiB", 16 << 20),
        ("16M", 16 << 20),
        ("10GB", 10_000_000_000),
        ("4096", 4096),
        ("1.5KiB", 1536),
        (" 2 gib ", 2 << 30),
        (7, 7),
    ],
)
def test_parse_size_reads_units(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "12 parsecs", "-1", "1e9", "0x10"])
def test_parse_size_rejects_with_one_line(text: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_size(text, what="--layer-size")
    assert "--layer-size" in str(error.value) and "\n" not in str(error.value)


def test_format_size_is_exact_for_whole_units() -> None:
    assert format_size(1 << 30) == "1GiB"
    assert format_size(10_000_000_000) == "10GB"
    assert format_size(16 << 20) == "16MiB"
    assert format_size(4096) == "4KiB"
    assert format_size(3 * (1 << 20) + 1) == "3.0MiB"
    assert format_size(12) == "12B"
