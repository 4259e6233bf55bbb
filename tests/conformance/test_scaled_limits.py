"""A limit check run scaled down says so: against the embedded server (8 MiB layers, 0.5 s expiry) LIM-1's
check records "8 MiB scaled; real 10 GB with --run-slow" in results.json and report.html, so its PASS
never reads as a PASS at ghcr.io's documented 10 GB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.suite_run import run_suite

pytest_plugins = ["pytester"]

SUITE = Path(__file__).resolve().parents[2] / "conformance"
LIMITS = SUITE / "ghcr" / "test_limits.py"
SCALE = "8 MiB scaled; real 10 GB with --run-slow"


def test_layer_limit_check_records_its_scale(pytester: pytest.Pytester) -> None:
    result, run_dir = run_suite(
        pytester,
        LIMITS,
        "scaled",
        "-k",
        "layer_at_the_limit_accepted and not real_size",
    )
    assert result.ret == 0, result.stdout.str()[-4000:]
    tests = json.loads((run_dir / "results.json").read_text())["tests"]
    assert [(t["outcome"], t["scale"]) for t in tests] == [("PASS", SCALE)]
    assert f"Tested scaled: {SCALE}" in (run_dir / "report.html").read_text()


def test_slow_variant_against_a_small_limit_says_it_was_not_real_size(pytester: pytest.Pytester) -> None:
    """--run-slow against the embedded server still uploads 8 MiB: the report must not call it 10 GB."""
    result, run_dir = run_suite(
        pytester,
        LIMITS,
        "slow",
        "--run-slow",
        "-k",
        "real_size_layer_at_the_limit_accepted",
    )
    assert result.ret == 0, result.stdout.str()[-4000:]
    tests = json.loads((run_dir / "results.json").read_text())["tests"]
    expected = "8 MiB, the target's declared limit; ghcr.io documents 10 GB"
    assert [(t["outcome"], t["scale"]) for t in tests] == [("PASS", expected)]
