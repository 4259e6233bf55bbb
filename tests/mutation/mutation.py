"""Mutation testing of the conformance suite: run it against the reference server with one seeded defect
at a time (tests/support/defects) and require that it notices.

1. Baseline: the whole suite against the clean embedded server. Its results.json gives every check's
   requirement IDs and which checks pass on a correct server.
2. Per defect: only the checks that carry one of the requirement IDs the defect breaks and that passed
   on the baseline (so CI time stays small), against an embedded server started with
   KEELHAUL_EMBEDDED_HOOK=tests.support.defects:hook_from_environment and KEELHAUL_EMBEDDED_DEFECT=<name>
   (the harness hands that hook to create_app), several defects in parallel (each its own server,
   port and data folder).
3. A defect is caught when at least one of those checks fails, and the failing checks carry at least
   one of the defect's requirement IDs (read from that run's results.json).

Run: `/work/venv/bin/python -m tests.mutation.mutation [--jobs N] [NAME...]` or via pytest
(tests/mutation/test_mutation_score.py). Writes mutation.json and mutation.md (and each run's
conformance reports) to reports/mutation/<stamp>/, or $KEELHAUL_ARTIFACT_DIR/mutation/<stamp>/ in CI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.support.defects import DEFECTS, ENVIRONMENT_VARIABLE, Defect

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DEFAULT_JOBS = 3
FAILED = ("FAIL", "ROBUSTNESS", "ERROR", "WARN")  # every finding catches a defect (results.json 2.x)


@dataclass
class Check:
    nodeid: str
    requirements: list[str]
    outcome: str
    message: str = ""


@dataclass
class Verdict:
    defect: str
    requirements: list[str]
    modelled_on: str
    selected: int
    caught: bool
    failing: list[dict[str, object]] = field(default_factory=list)
    flagged_requirements: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""


def run_suite(report_dir: Path, run_id: str, nodeids: list[str] | None, defect: str | None) -> list[Check]:
    """One pytest run of the conformance suite on a fresh embedded server; its checks from results.json."""
    env = dict(os.environ)
    env.pop(ENVIRONMENT_VARIABLE, None)
    env.pop("KEELHAUL_EMBEDDED_HOOK", None)
    if defect:  # the harness's embedded server takes the defect through create_app's test hook
        env[ENVIRONMENT_VARIABLE] = defect
        env["KEELHAUL_EMBEDDED_HOOK"] = "tests.support.defects:hook_from_environment"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # The ghcr model refuses /v2 deletes (405); seeded delete defects need them to be observable.
    env["KEELHAUL_EMBEDDED_REGISTRY_DELETES"] = "1"
    args = [
        PYTHON,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--report-dir",
        str(report_dir),
        "--run-id",
        run_id,
    ]
    args += nodeids if nodeids is not None else ["conformance"]
    process = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    results = report_dir / run_id / "results.json"
    if not results.exists():
        tail = (process.stdout + process.stderr)[-3000:]
        raise RuntimeError(
            f"conformance run {run_id} wrote no results.json (exit {process.returncode}):\n{tail}"
        )
    document = json.loads(results.read_text())
    return [
        Check(t["nodeid"], list(t.get("requirements") or []), t["outcome"], t.get("message") or "")
        for t in document["tests"]
    ]


def select(defect: Defect, baseline: list[Check]) -> list[str]:
    """The checks that could notice `defect`: they test one of its requirements and pass when clean."""
    wanted = set(defect.requirements)
    return [c.nodeid for c in baseline if c.outcome == "PASS" and wanted & set(c.requirements)]


def judge(defect: Defect, checks: list[Check], selected: int, seconds: float) -> Verdict:
    wanted = set(defect.requirements)
    failing = [c for c in checks if c.outcome in FAILED]
    relevant = [c for c in failing if wanted & set(c.requirements)]
    flagged = sorted(wanted & {r for c in relevant for r in c.requirements})
    return Verdict(
        defect=defect.name,
        requirements=list(defect.requirements),
        modelled_on=defect.modelled_on,
        selected=selected,
        caught=bool(relevant),
        failing=[
            {"check": c.nodeid, "requirements": c.requirements, "message": c.message[:300]} for c in failing
        ],
        flagged_requirements=flagged,
        seconds=round(seconds, 1),
    )


def mutate(defect: Defect, baseline: list[Check], report_dir: Path) -> Verdict:
    started = time.monotonic()
    nodeids = select(defect, baseline)
    if not nodeids:
        verdict = judge(defect, [], 0, 0.0)
        verdict.problem = "no passing check carries any of its requirement IDs"
        return verdict
    try:
        checks = run_suite(report_dir, f"mut-{defect.name}", nodeids, defect.name)
    except Exception as error:  # a run that cannot even report is not a catch
        verdict = judge(defect, [], len(nodeids), time.monotonic() - started)
        verdict.problem = str(error)[:2000]
        return verdict
    return judge(defect, checks, len(nodeids), time.monotonic() - started)


def run_mutation(
    names: list[str] | None = None, jobs: int = DEFAULT_JOBS, out: Path | None = None, echo=print
) -> dict[str, object]:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dt%H%M%S")
    artifacts = os.environ.get("KEELHAUL_ARTIFACT_DIR")  # CI keeps this folder as an artifact
    out = out or (Path(artifacts) if artifacts else ROOT / "reports") / "mutation" / stamp
    out.mkdir(parents=True, exist_ok=True)
    chosen = [DEFECTS[n] for n in names] if names else list(DEFECTS.values())
    started = time.monotonic()
    echo(f"mutation: baseline run of the whole suite against the clean reference server ({out})")
    baseline = run_suite(out, "baseline", None, None)
    baseline_failures = [c.nodeid for c in baseline if c.outcome in FAILED]
    echo(
        f"mutation: baseline {len(baseline)} checks, {len(baseline_failures)} failing (ignored for selection)"
    )
    echo(
        f"mutation: {len(chosen)} defects, {jobs} in parallel, each running only the checks of its "
        "requirement IDs that pass on the clean server"
    )
    verdicts: list[Verdict] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(mutate, d, baseline, out): d for d in chosen}
        for future in concurrent.futures.as_completed(futures):
            verdict = future.result()
            verdicts.append(verdict)
            mark = "caught" if verdict.caught else "MISSED"
            detail = ", ".join(verdict.flagged_requirements) or verdict.problem or "no relevant check failed"
            echo(
                f"  {mark:6} {verdict.defect:34} {verdict.selected:3} checks"
                f" {verdict.seconds:5.1f} s  {detail}"
            )
    verdicts.sort(key=lambda v: v.defect)
    caught = sum(v.caught for v in verdicts)
    summary: dict[str, object] = {
        "caught": caught,
        "seeded": len(verdicts),
        "score": round(caught / len(verdicts), 3) if verdicts else 0.0,
        "missed": [v.defect for v in verdicts if not v.caught],
        "seconds": round(time.monotonic() - started, 1),
        "parallel_jobs": jobs,
        "baseline": {"checks": len(baseline), "failing": baseline_failures},
        "defects": [asdict(v) for v in verdicts],
    }
    (out / "mutation.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "mutation.md").write_text(markdown(summary))
    echo(
        f"mutation score: {caught}/{len(verdicts)} seeded defects caught in {summary['seconds']} s "
        f"-> {out / 'mutation.json'}"
    )
    return summary


def markdown(summary: dict[str, object]) -> str:
    """The score and one row per defect, for people (mutation.json is for machines)."""
    lines = [
        f"# Mutation score: {summary['caught']}/{summary['seeded']} seeded defects caught",
        "",
        f"{summary['seconds']} s, {summary['parallel_jobs']} defects in parallel; baseline "
        f"{summary['baseline']['checks']} checks, {len(summary['baseline']['failing'])} failing.",  # type: ignore[index]
        "",
        "| defect | breaks | caught by | modelled on |",
        "|---|---|---|---|",
    ]
    for row in summary["defects"]:  # type: ignore[union-attr]
        caught = ", ".join(row["flagged_requirements"]) if row["caught"] else f"**MISSED** {row['problem']}"
        lines.append(
            f"| {row['defect']} | {', '.join(row['requirements'])} | {caught} | {row['modelled_on']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="defects to run (default: all)")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS)
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in DEFECTS]
    if unknown:
        parser.error(f"unknown defects: {', '.join(unknown)}")
    summary = run_mutation(args.names or None, args.jobs)
    return 0 if not summary["missed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
