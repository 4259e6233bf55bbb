"""Acceptance: the whole OCI suite passes against the embedded reference server, and the reports of
that run are valid. (Its speed is measured by running `keelhaul check`, not asserted here.)"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conformance.oci.schemas import SCHEMA_DIR
from tests.support.suite_run import run_suite

pytest_plugins = ["pytester"]

SUITE = Path(__file__).resolve().parents[2] / "conformance"


def test_every_oci_check_passes_against_the_reference_server(pytester: pytest.Pytester):
    result, run_dir = run_suite(pytester, SUITE, "acceptance", "-k", "oci")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()[-4000:]
    assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0
    assert outcomes["passed"] > 70
    document = json.loads((run_dir / "results.json").read_text())
    jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "results.schema.json").read_text())).validate(
        document
    )
    assert document["target"]["embedded"] is True
    skipped = {t["nodeid"]: t["message"] for t in document["tests"] if t["outcome"] == "skipped"}
    assert all(skipped.values()), "every skip carries its reason"
