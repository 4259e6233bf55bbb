"""Running the conformance suite (or part of it) in a pytest subprocess, as the harness tests do."""

from __future__ import annotations

from pathlib import Path

import pytest


def run_suite(
    pytester: pytest.Pytester, path: Path, run_id: str, *extra: str
) -> tuple[pytest.RunResult, Path]:
    """`pytest PATH` in a subprocess: no cache, no Locust plugin (its gevent patching would turn the
    embedded server's thread into a greenlet), quiet, reports under the pytester folder. Returns the
    result and the run's report folder (results.json, report.html, ...)."""
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess(
        str(path), "-p", "no:cacheprovider", "-p", "no:locust", "-q",
        "--run-id", run_id, "--report-dir", str(reports), *extra,
    )  # fmt: skip
    return result, reports / run_id
