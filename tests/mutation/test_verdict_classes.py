"""Item 8 of issue 11: the suite's verdicts have the right CLASS, not only "something failed".

Seeded defects run against the embedded reference server (and one against a profile that declares the
feature absent); each case names the check and the class the spec's words give it:
- a parameter on the referrers Content-Type breaks "MUST be set to": FAIL (a lenient PASS before);
- a disabled tag delete answered 405 with any error code is what the spec allows: PASS where the profile
  declares tag deletion absent (its 202 check is then N/A), FAIL where the profile declares it;
- a 500 to a request no sentence covers is ROBUSTNESS, while the same 500 where the spec demands a 400
  stays a FAIL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer
from tests.support.defects import defect_hook

from .mutation import ROOT, run_suite

REFERRERS = "conformance/oci/test_discovery_referrers.py"
MANAGEMENT = "conformance/oci/test_management.py"
PULL = "conformance/oci/test_pull.py"

CASES = {
    "referrers-content-type-parameter": {
        f"{REFERRERS}::test_referrers_content_type_is_exact": "FAIL",
    },
    "tag-delete-disabled-405": {
        f"{MANAGEMENT}::test_delete_tag": "FAIL",  # the embedded profile declares tag_delete
        f"{MANAGEMENT}::test_disabled_tag_delete_is_refused": "N/A",
    },
    "malformed-digest-500": {
        f"{PULL}::test_bad_digest_reference_gets_oci_error": "ROBUSTNESS",
    },
    "bad-input-500-text": {
        f"{PULL}::test_bad_digest_reference_gets_oci_error": "ROBUSTNESS",
        f"{REFERRERS}::test_referrers_bad_digest_is_400": "FAIL",  # "a 400 Bad Request MUST be returned"
    },
}


@pytest.mark.parametrize("defect", sorted(CASES))
def test_defect_gets_the_class_the_spec_gives_it(defect: str, tmp_path: Path) -> None:
    expected = CASES[defect]
    checks = {c.nodeid: c for c in run_suite(tmp_path, f"class-{defect}", sorted(expected), defect)}
    found = {nodeid: checks[nodeid].outcome for nodeid in expected}
    assert found == expected, {n: checks[n].message[:300] for n in expected}


def test_a_disabled_tag_delete_answered_405_with_any_code_passes(tmp_path: Path) -> None:
    """Where the profile declares tag deletion absent, a 405 with a DENIED body is the spec's answer."""
    config = ServerConfig(listen_host="127.0.0.1", listen_port=0, data_dir=tmp_path / "data", auth=False)
    server = EmbeddedServer(config, hooks=[defect_hook("tag-delete-disabled-405")])
    url = server.start()
    try:
        profile = tmp_path / "profile.toml"
        profile.write_text(
            f'[target]\nname = "no tag delete"\nkind = "generic"\nurl = "{url}"\nnamespace = "ns"\n'
            "[features]\nmanifest_delete = true\nblob_delete = true\ntag_delete = false\n"
        )
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"{MANAGEMENT}",
                "--target",
                str(profile),
                "--report-dir",
                str(tmp_path / "reports"),
                "--run-id",
                "no-tag-delete",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    document = json.loads((tmp_path / "reports" / "no-tag-delete" / "results.json").read_text())
    outcomes = {t["nodeid"].split("::")[-1]: t["outcome"] for t in document["tests"]}
    assert outcomes["test_disabled_tag_delete_is_refused"] == "PASS", finished.stdout[-3000:]
    assert outcomes["test_delete_tag"] == "N/A"
    assert finished.returncode == 0, finished.stdout[-3000:]
