"""Value checks for the suite's options, shared by `keelhaul check` (argparse) and the pytest plugin's
own options (`pytest conformance ...`), so both refuse a bad value with the same one-line message."""

from __future__ import annotations

import argparse


def worker_count(value: str) -> int:
    """--workers: a whole number, 0 or more."""
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError("expected 0 or more")
    return count


def connection_budget(value: str) -> int:
    """--robustness-connections: a whole number of at least 2 (one slow connection and one normal)."""
    count = worker_count(value)
    if count < 2:
        raise argparse.ArgumentTypeError("expected 2 or more (one slow connection and one normal one)")
    return count
