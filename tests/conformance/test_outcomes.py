"""Outcome classes (conformance.outcomes): how a failure is judged, --fail-on, and the exit status."""

from __future__ import annotations

import httpx
import pytest

from conformance.catalogue import load_catalogue
from conformance.oci.expect import expect_error, expect_referrers, expect_status
from conformance.outcomes import (
    DEFAULT_FAIL_ON,
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    ROBUSTNESS,
    WARN,
    judge_exception,
    judge_failure,
    parse_fail_on,
    run_fails,
    worst,
)
from keelhaul.errors import UsageError

pytest_plugins = ["pytester"]
CATALOGUE = load_catalogue()
INDEX = "application/vnd.oci.image.index.v1+json"


def answer(status: int, content_type: str = "application/json", body: bytes = b"{}", method: str = "GET"):
    request = httpx.Request(method, "http://registry/v2/ns/r/referrers/sha256:" + "a" * 64)
    return httpx.Response(status, headers={"content-type": content_type}, content=body, request=request)


def failure(call) -> str:
    with pytest.raises(AssertionError) as raised:
        call()
    return str(raised.value)


@pytest.mark.parametrize(
    ("message", "outcome", "judged"),
    [
        ("OCI-PUSH-6: an out-of-order chunk MUST answer 416; ...", FAIL, "OCI-PUSH-6"),
        ("OCI-PULL-9: Content-Type is the media type ...", WARN, "OCI-PULL-9"),
        ("OCI-ERR-2: a request is answered with a 2xx or a 4xx ...", ROBUSTNESS, "OCI-ERR-2"),
        ("FMT-3: foreign layers are accepted", FAIL, "FMT-3"),
        ("image-spec: a served manifest is valid", FAIL, "OCI-PULL-1"),  # falls back to the check's ID
    ],
)
def test_a_failure_is_judged_by_the_requirement_it_names(message, outcome, judged):
    judgement = judge_failure(message, ["OCI-PULL-1"], CATALOGUE)
    assert (judgement.outcome, judgement.requirement) == (outcome, judged)


def test_what_is_not_an_assertion():
    assert judge_exception(httpx.ReadTimeout("slow"), "", ["OCI-PULL-1"], CATALOGUE).outcome == ROBUSTNESS
    assert judge_exception(KeyError("x"), "", ["OCI-PULL-1"], CATALOGUE).outcome == ERROR


def test_referrers_content_type_with_a_parameter_is_a_fail():
    """The lenient PASS of issue 11: `; charset=utf-8` where the spec says "MUST be set to"."""
    body = b'{"schemaVersion":2,"mediaType":"' + INDEX.encode() + b'","manifests":[]}'
    message = failure(lambda: expect_referrers(answer(200, INDEX + "; charset=utf-8", body), "OCI-DISC-7: x"))
    assert message.startswith("OCI-DISC-14") and judge_failure(message, [], CATALOGUE).outcome == FAIL
    assert expect_referrers(answer(200, INDEX, body), "OCI-DISC-7: x") == []


def test_a_disabled_delete_may_carry_any_error_code():
    refused = answer(405, body=b'{"errors":[{"code":"DENIED","message":"no"}]}', method="DELETE")
    assert expect_error(refused, [400, 405], None, "OCI-MGMT-6: x") == ["DENIED"]


def test_a_5xx_where_the_spec_demands_a_status_breaks_that_requirement():
    crashed = answer(500, body=b'{"errors":[{"code":"UNKNOWN","message":"boom"}]}')
    must = failure(lambda: expect_status(crashed, 404, "OCI-NEG-MANIFEST-3: a blob is not a manifest"))
    assert judge_failure(must, [], CATALOGUE).outcome == FAIL
    robust = failure(lambda: expect_status(crashed, (400, 404), "OCI-NEG-DIGEST-1: a bad reference"))
    assert judge_failure(robust, [], CATALOGUE).outcome == ROBUSTNESS
    assert expect_status(answer(200), 200, "OCI-PULL-1: x") == 200
    crash_elsewhere = failure(lambda: expect_status(answer(503), (200, 503), "OCI-PULL-1: x"))
    assert judge_failure(crash_elsewhere, [], CATALOGUE).outcome == ROBUSTNESS  # OCI-ERR-2


def test_fail_on():
    assert parse_fail_on(None) == DEFAULT_FAIL_ON == (FAIL, ROBUSTNESS, ERROR)
    assert parse_fail_on("fail, warn,NA") == (FAIL, WARN, NOT_APPLICABLE)
    assert parse_fail_on("none") == ()
    with pytest.raises(UsageError, match="unknown class 'BROKEN'"):
        parse_fail_on("FAIL,BROKEN")
    assert run_fails([PASS, WARN, NOT_APPLICABLE], DEFAULT_FAIL_ON) is False
    assert run_fails([PASS, ROBUSTNESS], DEFAULT_FAIL_ON) is True
    assert worst([PASS, WARN, NOT_APPLICABLE]) == WARN and worst([]) is None


PROFILE = """
[target]
name = "fake"
kind = "generic"
url = "http://127.0.0.1:9"
namespace = "ns"
"""
CHECKS = """
import pytest

@pytest.mark.req("OCI-PULL-9")
def test_should():
    raise AssertionError("OCI-PULL-9: Content-Type is the media type the manifest was pushed with")

@pytest.mark.req("OCI-NEG-DIGEST-1")
def test_robustness():
    raise AssertionError("OCI-NEG-DIGEST-1: expected 400 or 404, got 500")

@pytest.mark.req("OCI-PULL-1")
def test_broken_suite():
    {}["missing"]
"""


def run(pytester, *options):
    pytester.makefile(".toml", profile=PROFILE)
    pytester.makepyfile(test_checks=CHECKS)
    base = ["-p", "conformance.harness.plugin", "--target", "profile.toml", "--report-dir", "none"]
    return pytester.runpytest(*base, "-p", "no:cacheprovider", *options)


def test_exit_status_follows_fail_on(pytester):
    result = run(pytester, "-k", "should")
    assert result.ret == 0, "a WARN alone does not fail the run"
    result.stdout.fnmatch_lines(["*WARN*OCI-PULL-9*"])
    assert run(pytester, "-k", "should", "--fail-on", "WARN").ret == 1
    assert run(pytester, "-k", "robustness").ret == 1
    assert run(pytester, "-k", "robustness", "--fail-on", "FAIL").ret == 0
    broken = run(pytester, "-k", "broken_suite", "--fail-on", "FAIL")
    assert broken.ret == 0 and "KeyError" in broken.stdout.str(), "an ERROR keeps its traceback"
    assert run(pytester, "--fail-on", "BOGUS").ret == 4


def test_a_recorded_verdict_may_flip_only_when_the_catalogue_says_why():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "acceptance"))
    from verdict_record import flips

    recorded = {"a::x": {"outcome": "FAIL", "judged": "OCI-PUSH-6", "level": "MUST"}}

    def run(outcome, judged="OCI-PUSH-6", level="MUST"):
        return {"tests": [{"nodeid": "a::x", "outcome": outcome, "judged": judged, "level": level}]}

    assert flips(recorded, run("FAIL"), CATALOGUE) == []
    assert "FAIL -> PASS" in flips(recorded, run("PASS", None, None), CATALOGUE)[0]
    assert "FAIL -> ROBUSTNESS" in flips(recorded, run("ROBUSTNESS"), CATALOGUE)[0]
    # the catalogue moved the rule to ROBUSTNESS (its level in the record differs): explained
    moved = {"a::x": {"outcome": "FAIL", "judged": "OCI-ERR-2", "level": "MUST"}}
    assert flips(moved, run("ROBUSTNESS", "OCI-ERR-2", "ROBUSTNESS"), CATALOGUE) == []
    new = {"tests": [*run("FAIL")["tests"], {"nodeid": "a::new", "outcome": "FAIL"}]}
    assert flips(recorded, new, CATALOGUE) == ["a::new: new check with FAIL, not recorded"]
