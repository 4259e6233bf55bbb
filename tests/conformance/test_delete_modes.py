"""The reference server's two delete modes seen by the suite: with auth (the ghcr.io model) every /v2
delete answers 405 UNSUPPORTED, the OCI management checks that need deletes are N/A and the ghcr
check of that answer passes; without auth (plain OCI) the OCI management checks run and pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.suite_run import run_suite

pytest_plugins = ["pytester"]

SUITE = Path(__file__).resolve().parents[2] / "conformance"
SELECTION = "test_management or test_upload_cancel or test_registry_api_deletes_are_unsupported"
MANAGEMENT = (
    "conformance/oci/test_management.py::test_delete_tag",
    "conformance/oci/test_management.py::test_delete_manifest_removes_its_tags",
    "conformance/oci/test_management.py::test_delete_blob",
    "conformance/oci/test_management.py::test_delete_unknown_content_is_404",
    "conformance/oci/test_upload_cancel.py::test_cancelled_upload_session_is_gone",
)
# How a registry with deletion disabled must answer (400/405, content stays): N/A where deletes work.
DISABLED = (
    "conformance/oci/test_management.py::test_disabled_tag_delete_is_refused",
    "conformance/oci/test_management.py::test_disabled_manifest_delete_is_refused",
    "conformance/oci/test_management.py::test_disabled_blob_delete_is_refused",
)
GHCR_DELETES = "conformance/ghcr/test_answers.py::test_registry_api_deletes_are_unsupported"
# results.json names outcomes pytest's way (schema 1) or by class (schema 2): ran-and-passed or not run.
RAN = {"passed": "ran", "PASS": "ran", "skipped": "not run", "N/A": "not run", "SKIP": "not run"}


def outcomes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, no_auth: bool) -> dict[str, str]:
    if no_auth:
        monkeypatch.setenv("KEELHAUL_EMBEDDED_NO_AUTH", "1")
    else:
        monkeypatch.delenv("KEELHAUL_EMBEDDED_NO_AUTH", raising=False)
    monkeypatch.delenv("KEELHAUL_EMBEDDED_REGISTRY_DELETES", raising=False)
    result, run_dir = run_suite(pytester, SUITE, "modes", "-k", SELECTION)
    assert result.ret == 0, result.stdout.str()[-3000:]
    document = json.loads((run_dir / "results.json").read_text())
    found = {}
    for test in document["tests"]:
        nodeid = test["nodeid"][test["nodeid"].index("conformance/") :]
        found[nodeid] = RAN.get(test["outcome"], test["outcome"])
    return found


def test_plain_oci_mode_runs_the_management_checks(pytester, monkeypatch):
    found = outcomes(pytester, monkeypatch, no_auth=True)
    assert {nodeid: found.get(nodeid) for nodeid in MANAGEMENT} == dict.fromkeys(MANAGEMENT, "ran")
    assert {nodeid: found.get(nodeid) for nodeid in DISABLED} == dict.fromkeys(DISABLED, "not run")
    assert found[GHCR_DELETES] == "not run"  # a ghcr.io promise; no token service here


def test_ghcr_model_refuses_registry_deletes(pytester, monkeypatch):
    found = outcomes(pytester, monkeypatch, no_auth=False)
    assert found[GHCR_DELETES] == "ran"
    assert [found[nodeid] for nodeid in MANAGEMENT] == ["not run", "not run", "not run", "ran", "not run"]
    assert {nodeid: found.get(nodeid) for nodeid in DISABLED} == dict.fromkeys(DISABLED, "ran")
