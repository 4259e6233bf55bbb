"""What a run measured beyond Locust's request stats: bytes moved per scenario and every committed upload.

Locust counts requests and their latencies but has no notion of throughput or of which blobs a run
left on the server. The ledger keeps both. In a distributed run each worker drains what it gathered
since its last report into Locust's own periodic worker report and the master merges it, so the
master's ledger is the run's ledger whatever the runner.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import Any

LIVE_WINDOW_SECONDS = 10  # live MB/s is the average over the last complete seconds of this window
MEGABYTE = 10**6  # MB/s figures are decimal, like every network tool prints them


@dataclass(frozen=True)
class UploadRecord:
    """One blob upload that the target committed (it answered 201 to the closing PUT)."""

    scenario: str
    repository: str
    digest: str
    size: int
    seconds: float  # from the POST that opened the session to the 201 of the closing PUT
    commit_ms: float  # latency of the closing PUT alone: the target's own hashing and moving
    chunks: int
    resumes: int  # times the upload continued from the target's Range after a 416 or a dropped connection
    finished_at: float  # epoch seconds

    @property
    def mb_per_s(self) -> float:
        return self.size / MEGABYTE / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Ledger:
    """Per-scenario bytes by wall-clock second, plus committed uploads, mergeable across processes."""

    bytes_by_second: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    uploads: list[UploadRecord] = field(default_factory=list)
    manifests: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest) left on the target
    probes: list[dict[str, Any]] = field(default_factory=list)  # idle-upload probe observations
    _pending_bytes: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    _pending_uploads: list[UploadRecord] = field(default_factory=list)
    _pending_manifests: list[tuple[str, str]] = field(default_factory=list)
    _pending_probes: list[dict[str, Any]] = field(default_factory=list)

    def add_bytes(self, scenario: str, count: int, at: float | None = None) -> None:
        if count <= 0:
            return
        second = int(time.time() if at is None else at)
        for table in (self.bytes_by_second, self._pending_bytes):
            per_second = table[scenario]
            per_second[second] = per_second.get(second, 0) + count

    def add_upload(self, record: UploadRecord) -> None:
        self.uploads.append(record)
        self._pending_uploads.append(record)

    def add_manifest(self, repository: str, digest: str) -> None:
        self.manifests.append((repository, digest))
        self._pending_manifests.append((repository, digest))

    def add_probe(self, observation: dict[str, Any]) -> None:
        self.probes.append(observation)
        self._pending_probes.append(observation)

    def drain(self) -> dict[str, Any]:
        """What was gathered since the last drain, as plain data for Locust's worker report."""
        report = {
            "bytes": {name: {str(s): n for s, n in per.items()} for name, per in self._pending_bytes.items()},
            "uploads": [asdict(record) for record in self._pending_uploads],
            "manifests": [list(pair) for pair in self._pending_manifests],
            "probes": list(self._pending_probes),
        }
        self._pending_bytes = defaultdict(dict)
        self._pending_uploads = []
        self._pending_manifests = []
        self._pending_probes = []
        return report

    def merge(self, report: dict[str, Any]) -> None:
        """Add a worker's drained report (see `drain`) to this ledger."""
        for name, seconds in report.get("bytes", {}).items():
            per_second = self.bytes_by_second[name]
            for second, count in seconds.items():
                per_second[int(second)] = per_second.get(int(second), 0) + int(count)
        for values in report.get("uploads", []):
            self.uploads.append(UploadRecord(**values))
        self.manifests.extend((str(repo), str(digest)) for repo, digest in report.get("manifests", []))
        self.probes.extend(report.get("probes", []))

    def reset(self) -> None:
        """Empty again, as new (a new test starts)."""
        fresh = type(self)()
        for table in fields(self):
            setattr(self, table.name, getattr(fresh, table.name))

    # --- figures ---------------------------------------------------------------------------------

    def scenarios(self) -> list[str]:
        return sorted(set(self.bytes_by_second) | {u.scenario for u in self.uploads})

    def total_bytes(self, scenario: str | None = None) -> int:
        tables = [self.bytes_by_second[scenario]] if scenario else list(self.bytes_by_second.values())
        return sum(sum(table.values()) for table in tables)

    def committed_bytes(self) -> int:
        return sum(u.size for u in self.uploads)

    def live_mb_per_s(self, scenario: str, now: float | None = None) -> float:
        """Average MB/s over the last LIVE_WINDOW_SECONDS complete seconds."""
        current = int(time.time() if now is None else now)
        table = self.bytes_by_second.get(scenario, {})
        window = range(current - LIVE_WINDOW_SECONDS, current)
        return sum(table.get(second, 0) for second in window) / LIVE_WINDOW_SECONDS / MEGABYTE

    def live_mb_per_s_total(self, now: float | None = None) -> float:
        """Live MB/s of all scenarios together."""
        return sum(self.live_mb_per_s(scenario, now) for scenario in self.bytes_by_second)

    def mean_mb_per_s(self, scenario: str | None = None) -> float:
        """Bytes moved divided by the seconds from the first to the last active second."""
        tables = [self.bytes_by_second.get(scenario, {})] if scenario else list(self.bytes_by_second.values())
        seconds = [s for table in tables for s in table]
        if not seconds:
            return 0.0
        span = max(seconds) - min(seconds) + 1
        return self.total_bytes(scenario) / span / MEGABYTE

    def upload_figures(self, scenario: str | None = None) -> dict[str, Any]:
        """Count, bytes, and the spread of per-upload MB/s and time to commit."""
        chosen = [u for u in self.uploads if scenario is None or u.scenario == scenario]
        timed = [u for u in chosen if u.seconds > 0]  # small side blobs (image configs) are not timed
        return {
            "count": len(chosen),
            "bytes": sum(u.size for u in chosen),
            "resumes": sum(u.resumes for u in chosen),
            "mb_per_s": spread([u.mb_per_s for u in timed]),
            "seconds": spread([u.seconds for u in timed]),
            "commit_ms": spread([u.commit_ms for u in timed]),
        }


def spread(values: list[float]) -> dict[str, float] | None:
    """min / median / p95 / max / mean of some figures, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "min": round(ordered[0], 3),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }
