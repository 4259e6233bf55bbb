"""Value checks for the suite's options, shared by `keelhaul check` (argparse) and the pytest plugin's
own options (`pytest conformance ...`), so both refuse a bad value with the same one-line message."""

from __future__ import annotations

import argparse


def _whole_number(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None


def process_count(value: str) -> int:
    """--workers: a whole number, 1 or more."""
    count = _whole_number(value)
    if count < 1:
        raise argparse.ArgumentTypeError("expected 1 or more")
    return count


def connection_budget(value: str) -> int:
    """--robustness-connections: a whole number of at least 2 (one slow connection and one normal)."""
    count = _whole_number(value)
    if count < 2:
        raise argparse.ArgumentTypeError("expected 2 or more (one slow connection and one normal one)")
    return count
