"""Acceptance of `--read-only`: against a registry holding someone else's image (Debian's
docker-registry here), the suite pulls and lists exactly the content the profile names, those checks
pass, and the registry is left byte-for-byte as it was: no new repository, tag, manifest or blob."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from keelhaul.client import RegistryClient
from keelhaul.client.images import push_image, sample_image
from tests.support.distribution import DistributionRegistry, find_binary

REPO = Path(__file__).resolve().parents[2]


def storage_fingerprint(root: Path) -> str:
    """A digest of every file name and content under the registry's storage."""
    summary = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        summary.update(str(path.relative_to(root)).encode())
        summary.update(hashlib.sha256(path.read_bytes()).digest())
    return summary.hexdigest()


def test_read_only_run_pulls_named_content_and_changes_nothing(tmp_path: Path) -> None:
    if find_binary() is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    with DistributionRegistry(tmp_path / "registry") as registry:
        assert registry.url is not None
        image = sample_image("read-only-acceptance", layers=2)
        with RegistryClient(registry.url) as client:
            digest = push_image(client, "vendor/app", "1.0", image)
        profile = tmp_path / "profile.toml"
        profile.write_text(
            f"""
[target]
name = "someone else's registry"
kind = "distribution"
url = "{registry.url}"
namespace = "keelhaul-ci"

[read_only]
repository = "vendor/app"
tag = "1.0"
manifest_digest = "{digest}"
blob_digest = "{image.layers[0].digest}"
"""
        )
        before = storage_fingerprint(tmp_path / "registry" / "storage")
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "keelhaul",
                "check",
                "--target",
                str(profile),
                "--read-only",
                "--report-dir",
                str(tmp_path / "reports"),
                "--run-id",
                "ro",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        after = storage_fingerprint(tmp_path / "registry" / "storage")
    document = json.loads((tmp_path / "reports" / "ro" / "results.json").read_text())
    outcomes = {test["nodeid"].split("::")[-1]: test["outcome"] for test in document["tests"]}
    passed = [name for name, outcome in outcomes.items() if outcome == "PASS"]
    failed = {name for name, outcome in outcomes.items() if outcome in ("FAIL", "ROBUSTNESS", "ERROR")}
    assert finished.returncode in (0, 1), finished.stdout[-3000:] + finished.stderr[-2000:]
    assert len(passed) >= 5, "a read-only run must still pull and list the named content"
    # distribution 2.8's own faults on reads (a 500 for a blob digest or a malformed digest asked as
    # a manifest) are the only failures a read-only run may report against it
    known_read_faults = {"test_blob_digest_is_not_a_manifest", "test_bad_digest_reference_gets_oci_error"}
    assert failed <= known_read_faults, failed
    assert before == after, "a --read-only run changed the registry's storage"
