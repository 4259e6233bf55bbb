"""summary.json: figures from Locust's stats and the ledger; `ok` only with zero failures, every digest
verified and the byte budget reached. The smoke verdict reads it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from locust.stats import RequestStats

from load.cli import smoke_verdict
from load.failures import OCIFailure
from load.ledger import Ledger, UploadRecord
from load.summary import build_summary, one_line, write_reports
from load.verify import Cleanup, Verification

MiB = 1 << 20


def sample(failures: int = 0, verified: bool = True, budget: int = 0) -> tuple[dict, Ledger]:
    stats = RequestStats()
    for latency in (100, 110, 120, 130, 500):
        stats.log_request("PATCH", "blob upload chunk", latency, 16 * MiB)
    stats.log_request("UPLOAD", "chunked layer 64MiB in 16MiB chunks", 900, 64 * MiB)
    for _ in range(failures):
        stats.log_request("PATCH", "blob upload chunk", 3, 0)
        stats.log_error("PATCH", "blob upload chunk", OCIFailure(416, ["BLOB_UPLOAD_INVALID"]))
    ledger = Ledger()
    ledger.add_bytes("chunked", 64 * MiB, at=100)
    ledger.add_bytes("chunked", 64 * MiB, at=101)
    ledger.add_upload(UploadRecord("chunked", "r", "sha256:" + "d" * 64, 64 * MiB, 0.9, 8.0, 4, 0, 0.0))
    verification = Verification(
        checked=1, verified=1 if verified else 0, bytes_verified=64 * MiB if verified else 0
    )
    summary = build_summary(
        run_id="r1",
        target={"name": "t"},
        stats=stats,
        ledger=ledger,
        verification=verification,
        cleanup=Cleanup(deleted=1),
        stop_after_bytes=budget,
    )
    return summary, ledger


def test_summary_figures() -> None:
    summary, _ = sample()
    assert summary["ok"] and summary["failures"] == 0 and summary["errors"] == []
    assert summary["throughput"]["bytes_moved"] == 128 * MiB
    assert summary["throughput"]["mb_per_s"] == round(128 * MiB / 2 / 1e6, 1)
    patch = summary["requests"]["PATCH blob upload chunk"]
    assert patch["count"] == 5 and patch["p50_ms"] == 120 and patch["max_ms"] == 500
    assert patch["bytes"] == 80 * MiB
    assert summary["uploads"]["count"] == 1 and summary["uploads"]["commit_ms"]["p50"] == 8.0
    assert summary["verification"]["bytes_verified"] == 64 * MiB
    assert summary["cleanup"] == {"deleted_blobs": 1, "not_deleted": {}}
    assert "OK" in one_line(summary) and "verified 1/1 digests" in one_line(summary)


def test_failures_are_listed_by_oci_code_and_make_the_run_not_ok() -> None:
    summary, _ = sample(failures=3)
    assert not summary["ok"] and summary["failures"] == 3
    assert summary["errors"] == [
        {"method": "PATCH", "name": "blob upload chunk", "error": "416 BLOB_UPLOAD_INVALID", "occurrences": 3}
    ]


def test_unverified_digests_or_a_missed_budget_make_the_run_not_ok() -> None:
    assert not sample(verified=False)[0]["ok"]
    missed, _ = sample(budget=65 * MiB)
    assert not missed["ok"] and missed["byte_budget"]["reached"] is False
    assert sample(budget=64 * MiB)[0]["ok"]


def test_reports_are_written(tmp_path: Path) -> None:
    summary, ledger = sample()
    path = write_reports(tmp_path / "run", summary, ledger.uploads)
    assert json.loads(path.read_text())["run_id"] == "r1"
    lines = (tmp_path / "run" / "uploads.csv").read_text().splitlines()
    assert lines[0].startswith("scenario,repository,digest,size") and lines[1].endswith(",74.57")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({}, 0, "OK"),
        ({"failures": 2}, 1, "2 failed requests"),
        (
            {"verification": {"checked": 3, "verified": 2, "bytes_verified": 3 << 30, "ok": False}},
            1,
            "1 digests unverified",
        ),
        (
            {"verification": {"checked": 1, "verified": 1, "bytes_verified": 1 << 30, "ok": True}},
            1,
            "bytes verified",
        ),
    ],
)
def test_smoke_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict, code: int, message: str
) -> None:
    summary = {
        "failures": 0,
        "throughput": {"mb_per_s": 100.0},
        "verification": {"checked": 9, "verified": 9, "bytes_verified": 2 << 30, "ok": True},
        **change,
    }
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    assert smoke_verdict(path, 0, 2 << 30) == code
    assert message in capsys.readouterr().out


def test_smoke_verdict_without_summary_fails(tmp_path: Path) -> None:
    assert smoke_verdict(tmp_path / "missing.json", 0, 1) == 1
    assert smoke_verdict(tmp_path / "missing.json", 3, 1) == 3
