"""The figures of one benchmark run, server by server, and the ratio table printed at its end.

Each benchmark records one figure per round (MB/s, req/s, MB, s) for the server it measured; the
table shows the median of the rounds per server, the ratio keelhaul / distribution (and keelhaul /
static file server for pulls), the spread of that ratio over the rounds, and the target of issue 14.
Ratios, not absolute figures, are what is comparable on a shared machine: every round measures all
servers back to back, alternating who goes first.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REFERENCE = "keelhaul"
DISTRIBUTION = "distribution"
STATIC = "static"  # nginx serving the same file: the practical limit for a pull
SERVERS = (DISTRIBUTION, REFERENCE, STATIC)


@dataclass(frozen=True)
class Metric:
    """One row of the table: what is measured, in which unit, and the promise it is judged by."""

    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    min_ratio: float | None = None  # keelhaul / `versus`
    min_static_ratio: float | None = None  # keelhaul / static; with min_ratio: the lower bar counts
    max_value: float | None = None  # an absolute ceiling for keelhaul's figure
    versus: str = DISTRIBUTION  # what keelhaul is compared with (curl, for the load generator)

    def describe(self) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(
                f">= {self.min_ratio:g}x" + ("" if self.versus == DISTRIBUTION else f" {self.versus}")
            )
        if self.min_static_ratio is not None:
            parts.append(f">= {self.min_static_ratio:g}x static")
        if self.max_value is not None:
            parts.append(f"<= {self.max_value:g} {self.unit}")
        return " or ".join(parts) or "-"


METRICS = (
    Metric("push_monolithic", "push monolithic", "MB/s", min_ratio=4.0),
    Metric("push_chunked", "push chunked", "MB/s", min_ratio=3.0),
    Metric("pull_first", "first pull after push", "MB/s", min_ratio=1.5, min_static_ratio=0.9),
    Metric("pull_later", "later pulls", "MB/s"),
    Metric("manifest_get", "manifest GET by tag", "req/s", min_ratio=20.0),
    Metric("peak_rss", "peak RSS, big upload", "MB", higher_is_better=False, max_value=100.0),
    Metric("conformance_whole", "conformance, default run", "s", higher_is_better=False, max_value=5.0),
    # the OCI folder's checks, from the first one's start to the last one's end, lanes at once
    # (results.json `checks_duration` of the OCI folder run alone): what compares with the official
    # OCI suite's run time, which also leaves out its program's start
    Metric("conformance_oci", "conformance, OCI checks", "s", higher_is_better=False, max_value=1.0),
    # the OCI folder alone in its own process: interpreter, server start and reports included
    Metric("conformance_oci_alone", "conformance, OCI folder alone", "s", higher_is_better=False),
    Metric("load_generator", "load generator (1 worker)", "MB/s", min_ratio=0.9, versus="curl"),
)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}


@dataclass
class Figures:
    """Every round's figure per metric and server; filled by the benchmarks, read by the summary."""

    rounds: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def add(self, metric: str, server: str, value: float) -> None:
        self.rounds.setdefault(metric, {}).setdefault(server, []).append(value)

    def note(self, metric: str, text: str) -> None:
        self.notes.setdefault(metric, []).append(text)

    def median(self, metric: str, server: str) -> float | None:
        values = self.rounds.get(metric, {}).get(server)
        return statistics.median(values) if values else None

    def ratio(self, metric: str, server: str, other: str) -> float | None:
        ours, theirs = self.median(metric, server), self.median(metric, other)
        return ours / theirs if ours is not None and theirs else None

    def round_ratios(self, metric: str, server: str, other: str) -> list[float]:
        """Per-round ratios (round i of one against round i of the other): their spread shows how much
        the machine's other load moved the figure."""
        ours = self.rounds.get(metric, {}).get(server, [])
        theirs = self.rounds.get(metric, {}).get(other, [])
        return [a / b for a, b in zip(ours, theirs, strict=False) if b]

    def verdict(self, metric: Metric) -> str:
        ours = self.median(metric.key, REFERENCE)
        if ours is None:
            return "n/a"
        if metric.max_value is not None:
            return "PASS" if ours <= metric.max_value else "MISS"
        bars = []
        dist = self.median(metric.key, metric.versus)
        static = self.median(metric.key, STATIC)
        if metric.min_ratio is not None and dist:
            bars.append(metric.min_ratio * dist)
        if metric.min_static_ratio is not None and static:
            bars.append(metric.min_static_ratio * static)
        if not bars:
            return "n/a" if metric.min_ratio is not None else "-"
        return "PASS" if ours >= min(bars) else "MISS"


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"


def format_table(figures: Figures) -> str:
    """The side-by-side table: medians, ratios, their spread over the rounds, target and verdict."""
    header = (
        f"{'metric':<28}{'unit':>6}{'distribution':>13}{'keelhaul':>10}{'static':>9}"
        f"{'k/dist':>8}{'spread':>12}{'k/static':>9}  {'target':<25}{'verdict':<7}"
    )
    lines = [header, "-" * len(header)]
    for metric in METRICS:
        if metric.key not in figures.rounds:
            continue
        other = metric.versus
        dist_column = figures.median(metric.key, other)
        k_over_d = figures.ratio(metric.key, REFERENCE, other)
        label = figures.labels.get(metric.key, metric.label)
        ours, static = figures.median(metric.key, REFERENCE), figures.median(metric.key, STATIC)
        lines.append(
            f"{label:<28}{metric.unit:>6}{_cell(dist_column):>13}{_cell(ours):>10}{_cell(static):>9}"
            f"{_ratio_cell(k_over_d):>8}{_spread(figures.round_ratios(metric.key, REFERENCE, other)):>12}"
            f"{_ratio_cell(figures.ratio(metric.key, REFERENCE, STATIC)):>9}  "
            f"{metric.describe():<25}{figures.verdict(metric):<7}"
        )
    for metric in METRICS:
        for text in figures.notes.get(metric.key, []):
            lines.append(f"  {metric.label}: {text}")
    lines.append(
        "medians over the rounds; 'spread' = lowest-highest per-round ratio; for the load generator the"
        " distribution column holds curl"
    )
    return "\n".join(lines)


def write_report(figures: Figures, report_dir: Path, plan: dict[str, object]) -> Path:
    """reports/bench/side-by-side-<UTC>.json: every round, medians, ratios and verdicts."""
    report_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    path = report_dir / f"side-by-side-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "benchmark": "keelhaul vs distribution 2.8 (issue 14)",
        "finished": started.isoformat(),
        "plan": plan,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
        },
        "git_commit": _git_commit(),
        "rounds": figures.rounds,
        "notes": figures.notes,
        "metrics": {
            metric.key: {
                "unit": metric.unit,
                "median": {
                    server: figures.median(metric.key, server) for server in figures.rounds[metric.key]
                },
                "ratio_to_distribution": figures.ratio(metric.key, REFERENCE, DISTRIBUTION),
                "ratio_to_static": figures.ratio(metric.key, REFERENCE, STATIC),
                "target": metric.describe(),
                "verdict": figures.verdict(metric),
            }
            for metric in METRICS
            if metric.key in figures.rounds
        },
    }
    path.write_text(json.dumps(document, indent=2, allow_nan=False, default=_finite) + "\n")
    return path


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON: {value!r}")


def _git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or None
