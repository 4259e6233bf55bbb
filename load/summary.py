"""summary.json and uploads.csv: the figures a person or CI reads after a run.

Built from Locust's own request stats (latency percentiles, failures named by OCI code) plus the
run's ledger (MB/s, uploads) and the end-of-run verification, so nothing is measured twice.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from locust.stats import RequestStats

from load.ledger import MEGABYTE, Ledger, UploadRecord
from load.verify import Cleanup, Verification

PERCENTILES = (0.5, 0.9, 0.95, 0.99)


def request_figures(stats) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    """Per "<METHOD> <name>": count, failures, latency percentiles (ms), bytes moved."""
    figures = {}
    for (name, method), entry in sorted(stats.entries.items(), key=lambda item: (item[0][1], item[0][0])):
        if not entry.num_requests and not entry.num_failures:
            continue
        figures[f"{method} {name}"] = {
            "count": entry.num_requests,
            "failures": entry.num_failures,
            "avg_ms": round(entry.avg_response_time, 1),
            "max_ms": round(entry.max_response_time or 0, 1),
            **{f"p{round(p * 100)}_ms": entry.get_response_time_percentile(p) for p in PERCENTILES},
            "bytes": entry.total_content_length,
        }
    return figures


def error_figures(stats) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Failures grouped as Locust groups them; `error` is "<status> <OCI code>" for HTTP answers."""
    return sorted(
        (
            {
                "method": error.method,
                "name": error.name,
                "error": str(error.error),
                "occurrences": error.occurrences,
            }
            for error in stats.errors.values()
        ),
        key=lambda row: -int(row["occurrences"]),
    )


def idle_expiry(ledger: Ledger) -> dict[str, object] | None:
    """From the idle probes: longest idle time a session survived, shortest after which it was gone."""
    if not ledger.probes:
        return None
    alive = [p["idle_seconds"] for p in ledger.probes if p["alive"]]
    expired = [p["idle_seconds"] for p in ledger.probes if not p["alive"]]
    return {
        "survived_up_to_s": max(alive) if alive else None,
        "expired_by_s": min(expired) if expired else None,
        "observations": ledger.probes,
    }


def build_summary(
    *,
    run_id: str,
    target: dict[str, object],
    stats: RequestStats,
    ledger: Ledger,
    verification: Verification | None,
    cleanup: Cleanup | None,
    stop_after_bytes: int = 0,
    resources: dict[str, object] | None = None,
) -> dict[str, object]:
    total = stats.total
    duration = max(0.0, (total.last_request_timestamp or total.start_time) - total.start_time)
    failures = total.num_failures
    verified_ok = verification is None or verification.ok
    budget_ok = stop_after_bytes <= 0 or ledger.committed_bytes() >= stop_after_bytes
    return {
        "run_id": run_id,
        "target": target,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": round(duration, 1),
        "ok": failures == 0 and verified_ok and budget_ok,
        "throughput": {
            "bytes_moved": ledger.total_bytes(),
            "mb_per_s": round(ledger.mean_mb_per_s(), 1),
            "by_scenario": {
                name: {
                    "bytes_moved": ledger.total_bytes(name),
                    "mb_per_s": round(ledger.mean_mb_per_s(name), 1),
                }
                for name in ledger.scenarios()
            },
        },
        "uploads": {
            **ledger.upload_figures(),
            "by_scenario": {
                name: ledger.upload_figures(name) for name in sorted({u.scenario for u in ledger.uploads})
            },
        },
        "requests": request_figures(stats),
        "failures": failures,
        "errors": error_figures(stats),
        "verification": verification.to_dict() if verification else None,
        "cleanup": cleanup.to_dict() if cleanup else None,
        "byte_budget": {
            "stop_after_bytes": stop_after_bytes,
            "committed_bytes": ledger.committed_bytes(),
            "reached": budget_ok,
        }
        if stop_after_bytes
        else None,
        "idle_upload_expiry": idle_expiry(ledger),
        # per generator process: MB/s, CPU share, peak RSS; the target's memory when it runs here
        "resources": resources,
    }


def write_uploads_csv(path: Path, uploads: list[UploadRecord]) -> None:
    """One row per committed upload: the per-upload MB/s, time to commit and resumes."""
    names = [*UploadRecord.__dataclass_fields__, "mb_per_s"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for record in uploads:
            writer.writerow(
                {
                    **asdict(record),
                    "mb_per_s": round(record.mb_per_s, 2) if record.seconds else "",
                }
            )


def write_reports(report_dir: Path, summary: dict[str, object], uploads: list[UploadRecord]) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    write_uploads_csv(report_dir / "uploads.csv", uploads)
    return path


def one_line(summary: dict[str, Any]) -> str:
    """What the console shows at the end of a run."""
    throughput, uploads = summary["throughput"], summary["uploads"]
    verification = summary.get("verification") or {}
    resources = summary.get("resources") or {}
    memory = f", peak RSS {resources['peak_rss_bytes'] / MEGABYTE:.0f} MB per worker" if resources else ""
    return (
        f"keelhaul load: {'OK' if summary['ok'] else 'FAILED'}  "
        f"{throughput['mb_per_s']} MB/s mean, {throughput['bytes_moved'] / MEGABYTE:.0f} MB moved, "
        f"{uploads['count']} uploads ({uploads['bytes'] / MEGABYTE:.0f} MB), {summary['failures']} failures, "
        f"verified {verification.get('verified', 0)}/{verification.get('checked', 0)} digests "
        f"({verification.get('bytes_verified', 0) / MEGABYTE:.0f} MB){memory}"
    )


def resource_lines(summary: dict[str, Any]) -> list[str]:
    """Under the one line: each generator process's cost, the target's memory, and the warnings."""
    resources = summary.get("resources") or {}
    lines = [
        f"keelhaul load:   worker {worker['name']}: {worker['mb_per_s']} MB/s, "
        f"{worker['cpu_share']:.0%} of a core, peak RSS {worker['peak_rss_bytes'] / MEGABYTE:.0f} MB"
        for worker in resources.get("workers", [])
    ]
    target = resources.get("target")
    if target:
        lines.append(
            f"keelhaul load:   target (pid {target['pid']}): "
            f"peak RSS {target['peak_rss_bytes'] / MEGABYTE:.0f} MB"
        )
    lines += [f"keelhaul load: WARNING: {warning}" for warning in resources.get("warnings", [])]
    return lines
