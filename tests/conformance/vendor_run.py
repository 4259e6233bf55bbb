"""A run as a vendor's customer would receive it, built on the real catalogue: one finding of every
class (a FAIL with a long URL and a bearer token in its exchange, a ghcr.io promise broken at a scaled
limit, a ROBUSTNESS 500, a WARN, an ERROR with its traceback), a PASS for every other MUST, scaled
limit checks that passed, and the crowd of N/A ghcr.io rows and SKIPs that used to fill a first screen."""

from __future__ import annotations

import json

from conformance.catalogue import Catalogue, load_catalogue
from conformance.reports.model import RunResult, TestResult, judge_requirements

SECRET = "ghp_s3cr3tT0kenValue"
LONG_REPOSITORY = "keelhaul-ci/" + "a-very-long-repository-name-segment/" * 6 + "app"
LONG_URL = f"http://registry.example:5000/v2/{LONG_REPOSITORY}/tags/list?n=1000&last=" + "x" * 180
LAYER_SCALE = "8 MiB scaled; real 10 GB with --run-slow"
EXPIRY_SCALE = "3 s scaled; real 600 s with --run-slow"


def exchange(method: str, url: str, status: int | None, body: str = "", **changes) -> dict:
    base = {
        "method": method,
        "url": url,
        "status": status,
        "request_headers": {"Authorization": f"Bearer {SECRET}", "Accept": "*/*", "X-Long": "v" * 300},
        "request_body_size": None,
        "response_headers": {
            "Content-Type": "application/json",
            "Docker-Distribution-API-Version": "registry/2.0",
        },
        "response_body_size": len(body),
        "response_text": body,
        "error": None,
        "elapsed_ms": 2.0,
        "note": None,
    }
    return {**base, **changes}


def finding(
    catalogue: Catalogue, nodeid: str, requirement: str, outcome: str, message: str, **extra
) -> TestResult:
    judged = catalogue[requirement]
    return TestResult(
        nodeid=nodeid,
        name=nodeid.rpartition("::")[2],
        requirements=[requirement],
        outcome=outcome,
        duration=0.2,
        description=f"{requirement}: {judged.text}",
        message=message,
        judged=requirement,
        level=judged.level,
        sentence=judged.quote or judged.why,
        cited=judged.cited,
        **extra,
    )


def findings(catalogue: Catalogue) -> list[TestResult]:
    tags_body = json.dumps({"name": LONG_REPOSITORY, "tags": ["b", "a", "c"], "token": SECRET})
    return [
        finding(
            catalogue,
            "conformance/oci/test_discovery.py::test_tags_in_lexical_order",
            "OCI-DISC-2",
            "FAIL",
            "OCI-DISC-2: tags MUST be in lexical order; expected ['a', 'b', 'c'], got ['b', 'a', 'c']",
            exchanges=[
                exchange("PUT", f"http://registry.example:5000/v2/{LONG_REPOSITORY}/manifests/b", 201),
                exchange("GET", LONG_URL, 200, tags_body),
            ],
        ),
        finding(
            catalogue,
            "conformance/ghcr/test_limits.py::test_layer_over_the_limit_refused[chunked]",
            "LIM-1",
            "FAIL",
            "LIM-1: a layer of 8388609 bytes (limit 8388608) MUST be refused; "
            "expected 413 or 400 SIZE_INVALID, got 201",
            scale=LAYER_SCALE,
            exchanges=[exchange("PUT", LONG_URL + "&digest=sha256:" + "0" * 64, 201)],
        ),
        finding(
            catalogue,
            "conformance/oci/test_negative.py::test_bad_digest_is_not_a_server_error[sha256:zz]",
            "OCI-NEG-DIGEST-1",
            "ROBUSTNESS",
            "OCI-NEG-DIGEST-1: a malformed digest is a client error; expected 400, got 500",
            exchanges=[
                exchange("GET", "http://registry.example:5000/v2/x/blobs/sha256:zz", 500, "internal error")
            ],
        ),
        finding(
            catalogue,
            "conformance/oci/test_pull.py::test_docker_content_digest_on_manifest_get",
            "OCI-PULL-8",
            "WARN",
            "OCI-PULL-8: expected a Docker-Content-Digest header, got none",
            exchanges=[exchange("GET", "http://registry.example:5000/v2/x/manifests/latest", 200)],
        ),
        TestResult(
            nodeid="conformance/oci/test_push.py::test_cross_mount",
            name="test_cross_mount",
            requirements=["OCI-PUSH-11"],
            outcome="ERROR",
            duration=0.1,
            description="OCI-PUSH-11: a blob is mounted from another repository",
            message="KeyError: 'location'",
            traceback='Traceback (most recent call last):\n  File "/very/long/path/'
            + "deep/" * 60
            + "x.py\"\nKeyError: 'location'",
        ),
    ]


def vendor_run() -> RunResult:
    catalogue = load_catalogue()
    tests = findings(catalogue)
    tests += [
        TestResult(
            "conformance/ghcr/test_limits.py::test_layer_at_the_limit_accepted",
            "test_layer_at_the_limit_accepted",
            ["LIM-1"],
            "PASS",
            1.2,
            "LIM-1: a layer of exactly the declared limit is accepted and pulls back with its digest.",
            scale=LAYER_SCALE,
        ),
        TestResult(
            "conformance/ghcr/test_limits.py::test_upload_session_expires",
            "test_upload_session_expires",
            ["LIM-2"],
            "PASS",
            4.1,
            "LIM-2: an upload session expires at the declared time.",
            scale=EXPIRY_SCALE,
        ),
    ]
    judged = {t.requirements[0] for t in tests}
    for requirement in catalogue:
        if requirement.id in judged or (requirement.parent is None and requirement.level != "documented"):
            continue
        if requirement.product == "ghcr.io":
            for role in ("reader", "writer", "other_tenant"):
                tests.append(
                    TestResult(
                        f"conformance/ghcr/test_{requirement.area.lower()}.py::test_{requirement.id.lower()}[{role}]",
                        f"test_{requirement.id.lower()}[{role}]",
                        [requirement.id],
                        "N/A",
                        0.0,
                        requirement.text,
                        "ghcr.io's documented promise; this target's profile is 'distribution'",
                    )
                )
        elif requirement.id.startswith("OCI-DISC-1"):
            tests.append(
                TestResult(
                    f"conformance/oci/test_discovery.py::test_{requirement.id.lower()}",
                    f"test_{requirement.id.lower()}",
                    [requirement.id],
                    "SKIP",
                    0.0,
                    requirement.text,
                    "no credentials for role other_tenant in the profile",
                )
            )
        else:
            tests.append(
                TestResult(
                    f"conformance/oci/test_{requirement.area.lower()}.py::test_{requirement.id.lower()}",
                    f"test_{requirement.id.lower()}",
                    [requirement.id],
                    "PASS",
                    0.05,
                    requirement.text,
                )
            )
    return RunResult(
        run_id="20261203t140000-vend",
        target={
            "name": "Acme Registry 4.2 (staging)",
            "kind": "distribution",
            "url": "https://registry.staging.acme.example:5000",
            "notes": ["profile declares the referrers API absent: its checks are N/A"],
        },
        started="2026-12-03T14:00:00+00:00",
        finished="2026-12-03T14:03:12+00:00",
        duration=192.0,
        options={"read_only": False, "run_slow": False, "selection": None},
        tests=tests,
        requirements=judge_requirements(catalogue, tests),
        keelhaul_version="0.1.0",
        cleanup=[
            {
                "repository": LONG_REPOSITORY,
                "kind": "upload session",
                "name": "a45ccbf2-0311-4b8e-9d5f-" + "f" * 40,
                "removed": False,
                "answer": "DELETE -> 405 UNSUPPORTED",
                "remedy": "registry garbage-collect /etc/docker/registry/config.yml (offline)",
            }
        ],
    )
