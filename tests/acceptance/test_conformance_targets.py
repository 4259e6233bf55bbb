"""Acceptance of the conformance suite as a product, run the way a user runs it (`keelhaul check` in a
child process). Against the reference server (auth on and off): 0 FAIL, 0 ROBUSTNESS, 0 ERROR, no WARN.
Against Debian's docker-registry (distribution 2.8, no auth): every FAIL quotes a MUST sentence that
the exchange shown breaks, the referrers and OCI-Subject checks are N/A with the reason, a 5xx no
sentence forbids is ROBUSTNESS, the report lists what was left behind, and every check's class matches
the recorded verdict list (tests/acceptance/distribution_2_8_verdicts.json) unless the catalogue says
why. The comparison report of both runs is written where CI keeps its artifacts ($KEELHAUL_ARTIFACT_DIR,
else a temporary folder)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from verdict_record import RECORD, flips

from conformance.catalogue import load_catalogue
from tests.support.distribution import DistributionRegistry, find_binary
from tests.support.report_browser import (
    HAVE_CHROMIUM,
    NO_CHROMIUM,
    assert_first_screen,
    assert_fits,
    assert_rows_link_to_checks,
    probe,
    screenshot,
)

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTION_PROFILE = REPO / "conformance" / "profiles" / "distribution.toml"

# What distribution 2.8 breaks, read against the spec (issue 11): requirement -> the MUST it breaks.
KNOWN_DISTRIBUTION_FAILURES = {
    "OCI-PUSH-6": "out-of-order chunk answered 202 instead of 416",
    "OCI-PUSH-7": "repeated chunk answered 404 instead of 416",
    "OCI-PUSH-8": "GET on the POST's upload Location answered 404 instead of 204",
    "OCI-DISC-2": "tags not in lexical order",
    "OCI-DISC-3": "tag listing ignores n",
    "OCI-DISC-4": "tag listing ignores last",
    "OCI-DISC-5": "n=0 is not an empty list",
    "OCI-NEG-MANIFEST-3": "a blob digest as a manifest answered 500 where the spec demands 404",
}
# A 5xx (or a sloppy acceptance) that no spec sentence forbids: robustness findings, not FAILs.
KNOWN_DISTRIBUTION_ROBUSTNESS = {
    "OCI-NEG-DIGEST-1",
    "OCI-NEG-MANIFEST-1",
    "OCI-NEG-CHUNK-1",
    "OCI-NEG-CHUNK-2",
}
# Optional features the profile declares absent, and ghcr.io's own promises: never judged.
KNOWN_DISTRIBUTION_NOT_APPLICABLE = {
    "OCI-DISC-7",
    "OCI-DISC-8",
    "OCI-DISC-14",
    "OCI-PUSH-21",
    "FMT-3",
    "OCI-MGMT-1",
}
# The answers a registry without those features owes: 404 on referrers, 400/405 on a tag delete.
KNOWN_DISTRIBUTION_ABSENT_ANSWERS = {"OCI-DISC-13", "OCI-MGMT-6"}


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("KEELHAUL_ARTIFACT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def keelhaul(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keelhaul", *args], capture_output=True, text=True, timeout=900, cwd=REPO
    )


def results_of(report_dir: Path, run_id: str) -> dict:
    return json.loads((report_dir / run_id / "results.json").read_text())


def verdicts(document: dict) -> dict[str, str]:
    return {requirement["id"]: requirement["verdict"] for requirement in document["requirements"]}


@pytest.fixture(scope="module")
def reference_run(artifact_dir: Path) -> dict:
    finished = keelhaul("check", "--report-dir", str(artifact_dir), "--run-id", "reference")
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-2000:]
    return results_of(artifact_dir, "reference")


@pytest.fixture(scope="module")
def no_auth_reference_run(artifact_dir: Path) -> dict:
    environment = {**os.environ, "KEELHAUL_EMBEDDED_NO_AUTH": "1"}
    finished = subprocess.run(
        [sys.executable, "-m", "keelhaul", "check", "--report-dir", str(artifact_dir), "--run-id", "no-auth"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env=environment,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-2000:]
    return results_of(artifact_dir, "no-auth")


@pytest.fixture(scope="module")
def distribution_run(artifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if find_binary() is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    with DistributionRegistry() as registry:
        assert registry.url is not None
        profile = tmp_path_factory.mktemp("profile") / "distribution.toml"
        text = DISTRIBUTION_PROFILE.read_text()
        profile.write_text(re.sub(r'(?m)^url = ".*?"', f'url = "{registry.url}"', text, count=1))
        finished = keelhaul(
            "check", "--target", str(profile), "--report-dir", str(artifact_dir), "--run-id", "distribution"
        )
    assert finished.returncode == 1, "distribution 2.8 breaks known promises: the run must fail\n" + (
        finished.stdout[-3000:] + finished.stderr[-2000:]
    )
    assert "Traceback" not in finished.stdout and "site-packages" not in finished.stdout
    return results_of(artifact_dir, "distribution")


@pytest.mark.parametrize("run_name", ["reference_run", "no_auth_reference_run"])
def test_the_reference_server_is_clean(run_name: str, request: pytest.FixtureRequest) -> None:
    run = request.getfixturevalue(run_name)
    summary = run["summary"]
    for outcome in ("FAIL", "ROBUSTNESS", "ERROR", "WARN"):
        assert summary[outcome] == 0, (
            outcome,
            [t["message"] for t in run["tests"] if t["outcome"] == outcome],
        )
    assert summary["PASS"] >= 80, summary
    assert run["target"]["embedded"] is True and run["ok"] is True
    untested = [rid for rid, verdict in verdicts(run).items() if verdict == "UNTESTED"]
    assert untested == [], f"catalogued requirements without a check: {untested}"


def test_distribution_known_failures_are_flagged(distribution_run: dict) -> None:
    found = verdicts(distribution_run)
    missed = {rid: why for rid, why in KNOWN_DISTRIBUTION_FAILURES.items() if found.get(rid) != "FAIL"}
    assert missed == {}, f"known distribution 2.8 defects not flagged: {missed}"
    assert {rid for rid in KNOWN_DISTRIBUTION_ROBUSTNESS if found.get(rid) != "ROBUSTNESS"} == set()


def test_every_distribution_fail_quotes_the_must_its_exchange_breaks(distribution_run: dict) -> None:
    catalogue = load_catalogue()
    for test in distribution_run["tests"]:
        if test["outcome"] != "FAIL":
            continue
        requirement = catalogue[test["judged"]]
        assert requirement.level == "MUST" and test["level"] == "MUST", test["nodeid"]
        assert test["sentence"] == requirement.quote and "MUST" in test["sentence"], test["nodeid"]
        assert test["exchanges"], f"{test['nodeid']}: a FAIL shows the exchange that breaks the sentence"
        assert "Traceback" not in test["details"], test["nodeid"]


def test_distribution_optional_features_are_not_applicable(distribution_run: dict) -> None:
    found = verdicts(distribution_run)
    assert {rid: found.get(rid) for rid in KNOWN_DISTRIBUTION_NOT_APPLICABLE} == dict.fromkeys(
        KNOWN_DISTRIBUTION_NOT_APPLICABLE, "N/A"
    )
    for test in distribution_run["tests"]:
        if test["outcome"] in ("N/A", "SKIP"):
            assert test["message"].strip(), f"{test['nodeid']} is {test['outcome']} without a reason"
    assert {rid: found.get(rid) for rid in KNOWN_DISTRIBUTION_ABSENT_ANSWERS} == dict.fromkeys(
        KNOWN_DISTRIBUTION_ABSENT_ANSWERS, "PASS"
    )


def test_distribution_passes_what_it_implements(distribution_run: dict) -> None:
    found = verdicts(distribution_run)
    for requirement in ("OCI-PULL-1", "OCI-PULL-2", "OCI-PULL-5", "OCI-PUSH-2", "OCI-PUSH-12", "OCI-MGMT-2"):
        assert found.get(requirement) == "PASS", f"{requirement}: {found.get(requirement)}"


def test_distribution_report_lists_what_was_left_behind(distribution_run: dict, artifact_dir: Path) -> None:
    ledger = distribution_run["cleanup"]
    left = [item for item in ledger if not item["removed"]]
    assert left and all(item["remedy"] for item in left), "what stays is named, with how to remove it"
    assert any(item["kind"] == "repository" and "_catalog" in item["remedy"] for item in left)
    assert any(item["kind"] == "blob" and "garbage-collect" in item["remedy"] for item in left)
    assert not any(item["kind"] == "upload session" for item in left), "open upload sessions are cancelled"
    html = (artifact_dir / "distribution" / "report.html").read_text()
    assert f"{len(left)} item(s) left behind" in html
    for outcome, count in distribution_run["summary"].items():
        if outcome != "total":
            assert f"data-class='{outcome}'><span class='count'>{count}</span>" in html, outcome


@pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)
def test_distribution_report_in_chromium(
    distribution_run: dict, artifact_dir: Path, tmp_path: Path, headless_chromium: Callable[[Path], list[str]]
) -> None:
    """The real distribution 2.8 report as a customer sees it at 1280 x 800: the verdict per class on the
    first screen, nothing wider than the window, every failed requirement row linked to its FAIL check
    and back. Its first screen is kept beside report.html (and in CI's artifacts)."""
    browser = headless_chromium(tmp_path / "chromium-profile")
    page = artifact_dir / "distribution" / "report.html"
    screenshot(browser, page, page.with_name("first-screen.png"), kept_as="distribution-first-screen.png")
    figures = probe(browser, page, tmp_path)
    assert_first_screen(figures, distribution_run["summary"])
    assert_fits(figures)
    failed = {f"req-{r['id']}" for r in distribution_run["requirements"] if r["verdict"] == "FAIL"}
    assert failed and assert_rows_link_to_checks(figures) == failed


def test_distribution_verdicts_match_the_record(distribution_run: dict) -> None:
    recorded = json.loads(RECORD.read_text())
    assert flips(recorded, distribution_run, load_catalogue()) == []


def test_comparison_report_of_both_runs(
    reference_run: dict, distribution_run: dict, artifact_dir: Path
) -> None:
    finished = keelhaul(
        "report",
        "compare",
        str(artifact_dir / "reference"),
        str(artifact_dir / "distribution"),
        "--out",
        str(artifact_dir / "compare"),
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    markdown = next((artifact_dir / "compare").glob("*.md")).read_text()
    assert "OCI-PUSH-6" in markdown and "distribution" in markdown
    assert next((artifact_dir / "compare").glob("*.html")).stat().st_size > 0


@pytest.fixture(scope="module")
def distribution_url() -> object:
    if find_binary() is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    with DistributionRegistry() as registry:
        yield registry.url


def profile_for(url: str, tmp_path: Path, **features: bool) -> Path:
    text = re.sub(r'(?m)^url = ".*?"', f'url = "{url}"', DISTRIBUTION_PROFILE.read_text(), count=1)
    for name, value in features.items():
        text = re.sub(rf"(?m)^{name} = \w+", f"{name} = {str(value).lower()}", text, count=1)
    path = tmp_path / "distribution.toml"
    path.write_text(text)
    return path


def test_probe_finds_what_the_distribution_profile_declares(distribution_url: str) -> None:
    finished = keelhaul("probe", distribution_url)
    assert finished.returncode == 0, finished.stderr
    probed = dict(re.findall(r"(?m)^(\w+) = (true|false)", finished.stdout))
    declared = dict(re.findall(r"(?m)^(\w+) = (true|false)", DISTRIBUTION_PROFILE.read_text()))
    assert probed and {name: declared[name] for name in probed} == probed


def test_a_feature_declared_present_but_absent_fails_and_probe_makes_it_na(
    distribution_url: str, tmp_path: Path
) -> None:
    profile = profile_for(distribution_url, tmp_path, referrers_api=True)
    reports = tmp_path / "reports"
    claimed = keelhaul(
        "check",
        "--target",
        str(profile),
        "-k",
        "referrers",
        "--report-dir",
        str(reports),
        "--run-id",
        "claimed",
    )
    assert claimed.returncode == 1, claimed.stdout[-2000:]
    assert verdicts(results_of(reports, "claimed"))["OCI-DISC-7"] == "FAIL"
    probed = keelhaul(
        "check",
        "--target",
        str(profile),
        "--probe",
        "-k",
        "referrers",
        "--report-dir",
        str(reports),
        "--run-id",
        "probed",
    )
    assert probed.returncode == 0, probed.stdout[-2000:]
    document = results_of(reports, "probed")
    assert verdicts(document)["OCI-DISC-7"] == "N/A" and verdicts(document)["OCI-DISC-13"] == "PASS"
    assert any(
        "probe: referrers_api = False (profile declared True)" in note for note in document["target"]["notes"]
    )
