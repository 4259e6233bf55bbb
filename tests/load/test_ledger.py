"""The ledger: MB/s per scenario, uploads, and the drain/merge round trip of distributed runs."""

from __future__ import annotations

import json

from load.ledger import LIVE_WINDOW_SECONDS, Ledger, UploadRecord, spread


def record(scenario: str = "chunked", size: int = 100_000_000, seconds: float = 2.0, **extra) -> UploadRecord:  # type: ignore[no-untyped-def]
    fields = dict(
        scenario=scenario,
        repository="ns/keelhaul-r-1",
        digest="sha256:" + "a" * 64,
        size=size,
        seconds=seconds,
        commit_ms=12.0,
        chunks=6,
        resumes=0,
        finished_at=1000.0,
    )
    fields.update(extra)
    return UploadRecord(**fields)


def test_upload_mb_per_s_is_decimal_megabytes_per_second() -> None:
    assert record(size=100_000_000, seconds=2.0).mb_per_s == 50.0
    assert record(seconds=0).mb_per_s == 0.0


def test_live_rate_averages_the_last_complete_seconds_per_scenario() -> None:
    ledger = Ledger()
    for second in range(100, 110):
        ledger.add_bytes("chunked", 20_000_000, at=second + 0.5)
    ledger.add_bytes("pull", 5_000_000, at=109.1)
    ledger.add_bytes("chunked", 999_000_000, at=110.2)  # the current second is not complete yet
    assert ledger.live_mb_per_s("chunked", now=110.9) == 20.0
    assert ledger.live_mb_per_s("pull", now=110.9) == 5.0 / LIVE_WINDOW_SECONDS
    assert ledger.live_mb_per_s("idle", now=110.9) == 0.0


def test_mean_rate_spans_first_to_last_active_second() -> None:
    ledger = Ledger()
    ledger.add_bytes("chunked", 30_000_000, at=10)
    ledger.add_bytes("chunked", 30_000_000, at=12)
    assert ledger.mean_mb_per_s("chunked") == 20.0
    assert ledger.total_bytes() == 60_000_000
    ledger.add_bytes("chunked", 0, at=50)  # nothing moved: not an active second
    assert ledger.mean_mb_per_s() == 20.0


def test_drain_then_merge_gives_the_master_everything_once() -> None:
    worker, master = Ledger(), Ledger()
    worker.add_bytes("chunked", 1000, at=5)
    worker.add_upload(record())
    worker.add_manifest("ns/repo", "sha256:" + "b" * 64)
    worker.add_probe({"idle_seconds": 30.0, "alive": True, "status": 204})
    report = json.loads(json.dumps(worker.drain()))  # what travels to the master is plain data
    master.merge(report)
    master.merge(worker.drain())  # a second drain carries nothing new
    assert master.total_bytes("chunked") == 1000
    assert master.uploads == [record()]
    assert master.manifests == [("ns/repo", "sha256:" + "b" * 64)]
    assert master.probes == [{"idle_seconds": 30.0, "alive": True, "status": 204}]
    assert worker.uploads == [record()]  # the worker keeps its own history


def test_upload_figures_by_scenario() -> None:
    ledger = Ledger()
    ledger.add_upload(record(seconds=1.0))
    ledger.add_upload(record(seconds=4.0, resumes=2))
    ledger.add_upload(record(scenario="monolithic", size=10_000_000, seconds=1.0))
    chunked = ledger.upload_figures("chunked")
    assert chunked["count"] == 2 and chunked["bytes"] == 200_000_000 and chunked["resumes"] == 2
    assert chunked["mb_per_s"]["max"] == 100.0 and chunked["mb_per_s"]["min"] == 25.0
    assert ledger.upload_figures()["count"] == 3
    assert ledger.committed_bytes() == 210_000_000


def test_spread() -> None:
    assert spread([]) is None
    figures = spread([float(n) for n in range(1, 101)])
    assert figures == {"min": 1.0, "p50": 50.5, "p95": 95.0, "max": 100.0, "mean": 50.5}
