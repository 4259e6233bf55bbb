"""The harness end to end through pytester: options, markers, skips with reasons, metadata errors,
exchange capture on failure, and the reports it writes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema

from conformance.oci.schemas import SCHEMA_DIR

pytest_plugins = ["pytester"]

PROFILE = """
[target]
name = "fake"
kind = "ghcr"
url = "http://127.0.0.1:9"
namespace = "ns"
[features]
token_auth = true
referrers_api = true
[limits]
max_layer_bytes = 100
[read_only]
repository = "library/alpine"
tag = "latest"
"""

CHECKS = '''
import pytest
from keelhaul.client import Exchange

@pytest.mark.req("OCI-PULL-1")
def test_passes(target):
    """A passing check."""
    assert target.name == "fake"

@pytest.mark.req("OCI-DISC-7")
@pytest.mark.needs("referrers_api", limit="max_layer_bytes")
def test_needs_what_it_has():
    pass

@pytest.mark.req("OCI-MGMT-1")
@pytest.mark.needs("tag_delete")
def test_needs_missing_feature():
    raise AssertionError("must not run")

@pytest.mark.req("AUTH-2")
@pytest.mark.needs(role="reader")
def test_needs_missing_role():
    raise AssertionError("must not run")

@pytest.mark.req("LIM-1")
@pytest.mark.slow
def test_slow():
    raise AssertionError("must not run")

@pytest.mark.req("OCI-PULL-5")
@pytest.mark.read_only
def test_reads_only():
    pass

@pytest.mark.req("OCI-PUSH-6")
def test_fails_with_exchange(exchange_recorder):
    """A failing check shows its exchanges."""
    url = "http://127.0.0.1:9/v2/ns/x/blobs/uploads/u"
    exchange_recorder.add(Exchange("PATCH", url, {"authorization": "Bearer <redacted>"},
                                   5, 202, {"range": "0-4"}))
    assert False, "OCI-PUSH-6: expected 416, got 202"

def test_new_repo_names(new_repo, harness):
    """Unique, valid names under the namespace."""
'''


def setup(pytester, checks=CHECKS):
    pytester.makefile(".toml", profile=PROFILE)
    pytester.makepyfile(test_checks=checks)
    return [
        "-p",
        "conformance.harness.plugin",
        "--target",
        "profile.toml",
        "--run-id",
        "t1",
        "--report-dir",
        str(pytester.path / "reports"),
        "-p",
        "no:cacheprovider",
    ]


def test_metadata_errors_stop_the_run(pytester):
    result = pytester.runpytest(*setup(pytester))
    assert result.ret == 4  # usage error: test_new_repo_names names no requirement
    result.stderr.fnmatch_lines(["*bad check metadata*", "*test_new_repo_names: names no requirement*"])


def test_unknown_requirement_and_feature_are_refused(pytester):
    checks = """
import pytest

@pytest.mark.req("OCI-NOPE-1")
@pytest.mark.needs("referers_api")
def test_typo():
    pass
"""
    result = pytester.runpytest(*setup(pytester, checks))
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["*requirement OCI-NOPE-1 is not in requirements.toml*", "*needs unknown feature 'referers_api'*"]
    )


def run_suite(pytester, *extra):
    checks = CHECKS.replace("def test_new_repo_names", '@pytest.mark.req("PUSH-1")\ndef test_new_repo_names')
    checks += """    names = [new_repo(), new_repo(), new_repo("release")]
    assert names == ["ns/keelhaul-t1-1", "ns/keelhaul-t1-2", "ns/keelhaul-t1-3/release"]
"""
    return pytester.runpytest(*setup(pytester, checks), "-rs", *extra)


def test_skips_carry_reasons_and_reports_are_written(pytester):
    result = run_suite(pytester)
    result.assert_outcomes(passed=4, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*FAIL OCI-PUSH-6 (MUST; OCI Distribution Spec v1.1.1 #pushing-a-blob-in-chunks)*",
            "*If a chunk is uploaded out of order, the registry MUST respond*",
            "*HTTP exchanges*",
            "*PATCH http://127.0.0.1:9/v2/ns/x/blobs/uploads/u -> 202*",
            "*no usable credentials for role 'reader'*",
            "*slow check*--run-slow*",
        ]
    )
    report_dir = pytester.path / "reports" / "t1"
    document = json.loads((report_dir / "results.json").read_text())
    jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "results.schema.json").read_text())).validate(
        document
    )
    tests = {t["name"]: t for t in document["tests"]}
    failed = tests["test_fails_with_exchange"]
    assert failed["outcome"] == "FAIL" and failed["judged"] == "OCI-PUSH-6" and failed["level"] == "MUST"
    assert "Traceback" not in failed["details"] and "site-packages" not in failed["details"]
    assert failed["message"] == "OCI-PUSH-6: expected 416, got 202"
    assert failed["exchanges"][0]["response_headers"] == {"range": "0-4"}
    assert failed["description"] == "A failing check shows its exchanges."
    assert tests["test_needs_missing_feature"]["message"].startswith(
        "target profile declares feature 'tag_delete'"
    )
    assert tests["test_needs_missing_role"]["message"].startswith("target profile has no usable credentials")
    verdicts = {r["id"]: r["verdict"] for r in document["requirements"]}
    assert verdicts["OCI-PUSH-6"] == "FAIL" and verdicts["OCI-PUSH"] == "FAIL"
    assert verdicts["OCI-MGMT-1"] == "N/A" and verdicts["FMT-3"] == "UNTESTED"
    assert verdicts["AUTH-2"] == "SKIP" and verdicts["LIM-1"] == "SKIP"
    assert document["target"]["name"] == "fake" and document["target"]["roles"] == []
    cases = ET.parse(report_dir / "junit.xml").getroot().iter("testcase")
    properties = {c.get("name"): [p.get("value") for p in c.iter("property")] for c in cases}
    assert properties["test_passes"] == ["OCI-PULL-1", "PASS"]


def test_read_only_run_keeps_only_read_only_checks(pytester):
    result = run_suite(pytester, "--read-only")
    result.assert_outcomes(passed=1, skipped=6)
    result.stdout.fnmatch_lines(["*writes to the registry; skipped in a --read-only run*"])


def test_run_slow_runs_slow_checks(pytester):
    result = run_suite(pytester, "--run-slow", "-k", "slow")
    result.assert_outcomes(failed=1)


def test_bad_profile_is_a_usage_error(pytester):
    pytester.makefile(".toml", profile="[target]\nurl = 'ftp://x'\nnamespace = 'ns'\n")
    pytester.makepyfile(test_checks="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "conformance.harness.plugin", "--target", "profile.toml")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*target.url*"])


def test_bad_run_id_is_a_usage_error(pytester):
    result = pytester.runpytest(*setup(pytester), "--run-id", "Not Valid")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--run-id*"])


def test_unreachable_target_is_one_usage_error(pytester):
    checks = """
import pytest

@pytest.mark.req("OCI-BASE-1")
def test_ping(client):
    client.ping()
"""
    result = pytester.runpytest(*setup(pytester, checks))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*cannot reach the target at http://127.0.0.1:9*"])


def test_a_profile_given_by_the_caller_is_not_read_again(pytester):
    """`keelhaul check` parses --target once and hands the profile to the harness (GivenProfile):
    the run uses it even though the file is gone by then."""
    from conformance.harness.target import GivenProfile
    from keelhaul.profile import load_profile

    checks = 'import pytest\n\n@pytest.mark.req("OCI-PULL-1")\ndef test_passes():\n    pass\n'
    args = setup(pytester, checks)
    profile = load_profile(pytester.path / "profile.toml")
    (pytester.path / "profile.toml").unlink()
    result = pytester.runpytest_inprocess(*args, plugins=[GivenProfile(profile)])
    result.assert_outcomes(passed=1)
    document = json.loads((pytester.path / "reports" / "t1" / "results.json").read_text())
    assert document["target"]["name"] == "fake"


def test_check_time_is_summed_per_part_of_the_suite():
    """The summary line's `time in checks`: each check's own time, summed per part (over the lanes)."""
    from conformance.harness.results import check_time_by_part

    parts = check_time_by_part(
        [
            ("conformance/ghcr/test_auth.py::test_a", 0.5),
            ("conformance/oci/test_pull.py::test_b", 0.25),
            ("conformance/oci/test_push.py::test_c[x]", 0.5),
            ("conformance/oci/test_push.py::test_d", None),  # no duration recorded: counted, 0 s
        ]
    )
    assert parts == {"OCI": (0.75, 3), "ghcr.io": (0.5, 1)}
    assert list(parts) == ["OCI", "ghcr.io"]  # the documented order, parts without checks left out
