"""`keelhaul check` (run the conformance suite) and `keelhaul report compare` (merge runs)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from keelhaul.errors import UsageError

SUITE_DIR = Path(__file__).resolve().parent


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check",
        help="run the conformance suite against a registry",
        description="Run the OCI / ghcr.io conformance checks. Without --target the embedded reference "
        "server is started and checked.",
    )
    check.add_argument("--target", metavar="PROFILE", help="target profile (TOML or YAML)")
    check.add_argument(
        "--read-only", action="store_true", help="only pull/list the profile's [read_only] content"
    )
    check.add_argument("--run-slow", action="store_true", help="also run slow checks (real-size limits)")
    check.add_argument("--report-dir", default="reports", metavar="DIR", help="reports go to DIR/<run-id>/")
    check.add_argument("--run-id", metavar="ID", help="run identifier (default: timestamp + random)")
    check.add_argument("-k", dest="keyword", metavar="EXPR", help="only checks matching EXPR (pytest -k)")
    check.add_argument("-v", "--verbose", action="store_true", help="list every check as it runs")
    check.set_defaults(run=run_check)

    report = subparsers.add_parser("report", help="work with conformance reports")
    report_commands = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    compare = report_commands.add_parser(
        "compare",
        help="merge runs of several targets into one requirement × target matrix",
        description="RUN is a run folder (reports/<run-id>), its results.json, or a run id under "
        "--report-dir.",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN")
    compare.add_argument("--report-dir", default="reports", metavar="DIR", help="where run ids are looked up")
    compare.add_argument("--out", metavar="DIR", help="output folder (default: DIR/compare-<timestamp>)")
    compare.set_defaults(run=run_compare)


class _ReportLocator:
    """A pytest plugin that remembers where the harness wrote the reports."""

    def __init__(self) -> None:
        self.report_dir: Path | None = None
        self.failed = False

    def pytest_sessionfinish(self, session: Any) -> None:
        from conformance.harness.state import STATE

        state = session.config.stash.get(STATE, None)
        if state is not None:
            self.report_dir = state.report_dir


def pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line equivalent to a `keelhaul check` invocation."""
    # no cache, locust or benchmark plugins: a run leaves nothing in the user's directory but reports
    # rootdir = the folder holding the suite, so check ids read `conformance/oci/...` from any cwd
    argv = [str(SUITE_DIR), "--rootdir", str(SUITE_DIR.parent), "-rfE", "--tb=short"]
    argv += ["-p", "no:cacheprovider", "-p", "no:locust", "-p", "no:benchmark"]
    argv.append("-v" if args.verbose else "-q")
    if args.target:
        argv += ["--target", args.target]
    if args.read_only:
        argv.append("--read-only")
    if args.run_slow:
        argv.append("--run-slow")
    if args.report_dir:
        argv += ["--report-dir", args.report_dir]
    if args.run_id:
        argv += ["--run-id", args.run_id]
    if args.keyword:
        argv += ["-k", args.keyword]
    return argv


def run_check(args: argparse.Namespace) -> int:
    import pytest

    from conformance.harness.target import GivenProfile
    from keelhaul.profile import load_profile

    locator = _ReportLocator()
    plugins: list[object] = [locator]
    if args.target:
        # a bad profile is one line, before pytest starts; the harness uses this parse, not a second one
        plugins.append(GivenProfile(load_profile(Path(args.target))))
    code = int(pytest.main(pytest_args(args), plugins=plugins))
    if code == pytest.ExitCode.USAGE_ERROR:
        return 2
    if locator.report_dir is not None:
        print(
            f"keelhaul: reports in {locator.report_dir}/ "
            "(report.html, results.json, junit.xml, requirements.md)"
        )
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("keelhaul: no check matched")
    return code


def resolve_run(value: str, report_dir: Path) -> Path:
    path = Path(value)
    if path.exists():
        return path
    candidate = report_dir / value
    if candidate.exists():
        return candidate
    raise UsageError(f"no run {value!r} (not a path, not under {report_dir}/)")


def run_compare(args: argparse.Namespace) -> int:
    from conformance.reports.compare import compare_html, compare_markdown
    from conformance.reports.model import load_run

    report_dir = Path(args.report_dir)
    runs = [load_run(resolve_run(value, report_dir)) for value in args.runs]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dt%H%M%S")
    out = Path(args.out) if args.out else report_dir / f"compare-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.html").write_text(compare_html(runs), encoding="utf-8")
    (out / "compare.md").write_text(compare_markdown(runs), encoding="utf-8")
    print(f"keelhaul: comparison of {len(runs)} runs in {out}/ (compare.html, compare.md)")
    return 0
