"""Report writers: results.json against its schema, junit.xml (xunit1 properties), report.html
(self-contained, redacted), the requirement matrix and the verdict rules."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
from conformance_builders import SECRET, run

from conformance.oci.schemas import SCHEMA_DIR
from conformance.reports.model import RunResult, TestResult, load_run
from conformance.reports.writers import REPORT_FILES, write_reports
from keelhaul.errors import UsageError


def verdicts(result: RunResult) -> dict[str, str]:
    return {v.id: v.verdict for v in result.requirements}


def test_verdicts_per_requirement_and_area():
    assert verdicts(run()) == {
        "AREA": "FAIL",
        "AREA-1": "PASS",
        "AREA-2": "FAIL",
        "AREA-3": "N/A",
        "LONELY-1": "UNTESTED",
    }
    skipped = next(v for v in run().requirements if v.id == "AREA-3")
    assert skipped.reasons == ["target profile declares feature 'x' absent ([features])"]


def test_a_requirement_takes_the_worst_class_of_its_checks():
    tests = [TestResult("a::x", "x", ["AREA-1"], "PASS"), TestResult("a::y", "y", ["AREA-1"], "ERROR")]
    assert verdicts(run(tests))["AREA-1"] == "ERROR"
    assert run(tests).ok is False
    assert run([TestResult("a::x", "x", ["AREA-1"], "PASS")]).ok is True
    warned = [TestResult("a::x", "x", ["AREA-1"], "PASS"), TestResult("a::y", "y", ["AREA-1"], "WARN")]
    assert verdicts(run(warned))["AREA-1"] == "WARN"
    assert run(warned).ok is True, "a WARN does not fail the run by default"
    robust = [TestResult("a::x", "x", ["AREA-1"], "ROBUSTNESS"), TestResult("a::y", "y", ["AREA-1"], "N/A")]
    assert verdicts(run(robust))["AREA-1"] == "ROBUSTNESS"
    assert run(robust).ok is False


def test_reports_are_written_and_results_match_the_schema(tmp_path):
    paths = write_reports(run(), tmp_path)
    assert [p.name for p in paths] == list(REPORT_FILES)
    document = json.loads((tmp_path / "results.json").read_text())
    schema = json.loads((SCHEMA_DIR / "results.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["summary"] == {
        "PASS": 1,
        "FAIL": 1,
        "WARN": 0,
        "ROBUSTNESS": 0,
        "N/A": 1,
        "SKIP": 0,
        "ERROR": 0,
        "total": 3,
    }


def test_results_round_trip_and_version_check(tmp_path):
    write_reports(run(), tmp_path)
    loaded = load_run(tmp_path)
    assert verdicts(loaded) == verdicts(run())
    data = json.loads((tmp_path / "results.json").read_text())
    data["schema_version"] = "1.0"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match="schema version"):
        load_run(tmp_path)
    with pytest.raises(UsageError, match=r"no results\.json"):
        load_run(tmp_path / "missing")


def test_credentials_never_reach_a_report(tmp_path):
    write_reports(run(), tmp_path)
    for name in REPORT_FILES:
        assert SECRET not in (tmp_path / name).read_text(), name
    assert (
        "Bearer <redacted>" in (tmp_path / "report.html").read_text()
        or "<redacted>" in (tmp_path / "results.json").read_text()
    )


def test_junit_is_xunit1_with_requirement_properties(tmp_path):
    write_reports(run(), tmp_path)
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert [p.get("value") for p in cases["test_bad"].iter("property")] == ["AREA-2", "FAIL"]
    assert cases["test_bad"].find("failure").get("message") == "FAIL: AREA-2: expected 200, got 404"
    assert cases["test_skip"].find("skipped") is not None
    assert cases["test_ok"].get("classname") == "oci.test_a"


def test_html_is_self_contained_and_explains_failures(tmp_path):
    write_reports(run(), tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<script" not in html and "http://" not in html.replace("http://registry", "")
    for text in (
        "first promise",
        "AREA-2: expected 200, got 404",
        "GET http://registry/v2/x/blobs/sha256:aa",
        "nobody checks me",
        "UNTESTED",
        "declares feature",
    ):
        assert text in html


def test_matrix_lists_untested_requirements(tmp_path):
    write_reports(run(), tmp_path)
    matrix = (tmp_path / "requirements.md").read_text()
    assert "| LONELY-1 | documented | UNTESTED |" in matrix
    assert "| AREA-3 | MAY | N/A (target profile declares feature 'x' absent ([features])) |" in matrix
    assert (
        (tmp_path / "requirements.csv")
        .read_text()
        .splitlines()[0]
        .startswith("requirement,area,level,verdict")
    )
