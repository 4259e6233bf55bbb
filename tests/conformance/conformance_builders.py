"""Shared builders for the report tests: a small catalogue and a run with a pass, a failure
(with an exchange holding credentials) and a skip."""

from __future__ import annotations

import json

from conformance.catalogue import parse_catalogue
from conformance.reports.model import RunResult, TestResult, judge_requirements

SECRET = "s3cr3t-token-value"


def cite(level: str) -> dict[str, str]:
    return {"quote": f"The registry {level} do it.", "document": "spec", "anchor": "#s"}


def catalogue():
    entries = [
        {"id": "AREA", "area": "AREA", "level": "MUST", "text": "the area", "source": "spec", **cite("MUST")},
        {
            "id": "AREA-1",
            "area": "AREA",
            "level": "MUST",
            "text": "first promise",
            "source": "spec §1",
            "parent": "AREA",
            "refs": ["end-2"],
            **cite("MUST"),
        },
        {
            "id": "AREA-2",
            "area": "AREA",
            "level": "SHOULD",
            "text": "second promise",
            "source": "spec §2",
            "parent": "AREA",
            **cite("SHOULD"),
        },
        {
            "id": "AREA-3",
            "area": "AREA",
            "level": "MAY",
            "text": "skipped promise",
            "source": "spec §3",
            "parent": "AREA",
            **cite("MAY"),
        },
        {
            "id": "LONELY-1",
            "area": "LONELY",
            "level": "documented",
            "text": "nobody checks me",
            "source": "doc",
            "quote": "We promise it.",
            "document": "doc",
            "anchor": "§1",
            "product": "ghcr.io",
        },
    ]
    return parse_catalogue({"requirement": entries})


def exchange(**changes):
    base = {
        "method": "GET",
        "url": "http://registry/v2/x/blobs/sha256:aa",
        "status": 404,
        "request_headers": {"authorization": f"Bearer {SECRET}", "accept": "*/*"},
        "request_body_size": None,
        "response_headers": {"content-type": "application/json"},
        "response_body_size": 10,
        "response_text": json.dumps({"token": SECRET, "errors": []}),
        "error": None,
        "elapsed_ms": 1.5,
        "note": None,
    }
    return {**base, **changes}


def run(tests=None) -> RunResult:
    tests = (
        tests
        if tests is not None
        else [
            TestResult("oci/test_a.py::test_ok", "test_ok", ["AREA-1"], "PASS", 0.1, "ok promise"),
            TestResult(
                "oci/test_a.py::test_bad",
                "test_bad",
                ["AREA-2"],
                "FAIL",
                0.2,
                "bad promise",
                "AREA-2: expected 200, got 404",
                "Traceback...",
                [exchange()],
            ),
            TestResult(
                "oci/test_a.py::test_skip",
                "test_skip",
                ["AREA-3"],
                "N/A",
                0.0,
                "",
                "target profile declares feature 'x' absent ([features])",
            ),
        ]
    )
    return RunResult(
        run_id="20260101t000000-abcd",
        target={"name": "demo", "kind": "generic", "url": "http://registry"},
        started="2026-01-01T00:00:00+00:00",
        finished="2026-01-01T00:00:01+00:00",
        duration=1.0,
        options={"read_only": False, "run_slow": False, "selection": None},
        tests=tests,
        requirements=judge_requirements(catalogue(), tests),
        keelhaul_version="0.1.0",
    )
