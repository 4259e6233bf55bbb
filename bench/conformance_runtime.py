"""How long the default `keelhaul check` takes against the embedded reference server.

Issue 3's budgets: the whole default run under 60 s on a 2-core machine, its OCI part under 10 s.
Timing belongs in a benchmark, not in a test: this runs the suite a few times, reads each run's
results.json, then runs the OCI folder alone the same way, and prints the median wall time of each
(interpreter, embedded server and reports included) as a fraction of its budget (below 1.0 is within
budget).

    python bench/conformance_runtime.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WHOLE_RUN_BUDGET_S = 60.0
OCI_PART_BUDGET_S = 10.0


SUITE = Path(__file__).resolve().parents[1] / "conformance"


def timed_run(arguments: list[str], report_dir: Path, run_id: str) -> tuple[float, int]:
    """Wall seconds of one run and how many checks it ran; stops the benchmark if a check failed."""
    started = time.perf_counter()
    finished = subprocess.run(
        [sys.executable, *arguments, "--report-dir", str(report_dir), "--run-id", run_id],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"conformance_runtime: the run failed:\n{finished.stdout[-2000:]}")
    document = json.loads((report_dir / run_id / "results.json").read_text())
    return wall, len(document["tests"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="how many runs to take the median of")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    walls: list[float] = []
    ocis: list[float] = []
    with tempfile.TemporaryDirectory(prefix="keelhaul-bench-") as scratch:
        for index in range(args.runs):
            wall, checks = timed_run(["-m", "keelhaul", "check"], Path(scratch), f"whole-{index}")
            oci, oci_checks = timed_run(
                ["-m", "pytest", "-p", "no:locust", "-p", "no:cacheprovider", "-q", str(SUITE / "oci")],
                Path(scratch),
                f"oci-{index}",
            )
            walls.append(wall)
            ocis.append(oci)
            print(f"run {index + 1}: whole run {checks} checks {wall:.1f} s;", end=" ")
            print(f"OCI part {oci_checks} checks {oci:.1f} s")
    whole, oci_part = statistics.median(walls), statistics.median(ocis)
    print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    budgets = (("whole run", whole, WHOLE_RUN_BUDGET_S), ("OCI part", oci_part, OCI_PART_BUDGET_S))
    for label, value, budget in budgets:
        print(f"{label:<10} median {value:5.1f} s  budget {budget:.0f} s  ratio {value / budget:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
