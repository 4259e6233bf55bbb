"""`keelhaul check` (run the conformance suite) and `keelhaul report compare` (merge runs)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from conformance.option_types import connection_budget, process_count
from conformance.url_profile import PASSWORD_ENV, url_profile_text
from keelhaul.errors import UsageError
from keelhaul.profile import KINDS

SUITE_DIR = Path(__file__).resolve().parent
HYPOTHESIS_PLUGIN = "_hypothesis_pytestplugin"  # hypothesis's own pytest plugin (its entry point's module)
NO_PLUGIN_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check",
        help="run the conformance suite against a registry",
        description="Run the OCI / ghcr.io conformance checks. Name the registry with --url (and "
        "--username/--password-stdin) or with a profile file (--target); with neither, the embedded "
        "reference server is started and checked.",
    )
    where = check.add_mutually_exclusive_group()
    where.add_argument("--target", metavar="PROFILE", help="target profile (TOML or YAML)")
    where.add_argument(
        "--url",
        metavar="URL",
        help="registry to check, http(s)://host[:port]; no profile needed: kind, namespace and one "
        "identity for every role come from the options below, optional features are probed (--probe)",
    )
    check.add_argument(
        "--username", metavar="USER", help="with --url: the account whose password --password-stdin reads"
    )
    check.add_argument(
        "--password-stdin",
        action="store_true",
        help="with --url: read the password or token from the first line of standard input",
    )
    check.add_argument(
        "--namespace",
        metavar="PREFIX",
        help="with --url: repositories are PREFIX/keelhaul-<run-id>-<n> "
        "(default: the username on ghcr.io, else keelhaul-ci)",
    )
    check.add_argument(
        "--kind",
        choices=KINDS,
        help="with --url: what the registry is known to promise (default: ghcr for ghcr.io, else generic)",
    )
    check.add_argument(
        "--read-only", action="store_true", help="only pull/list the profile's [read_only] content"
    )
    check.add_argument("--run-slow", action="store_true", help="also run slow checks (real-size limits)")
    check.add_argument(
        "--robustness",
        action="store_true",
        help="also run the opt-in robustness probes (slow/idle connections, Range edges, cost, races)",
    )
    check.add_argument(
        "--robustness-connections",
        type=connection_budget,
        metavar="N",
        help="most connections a robustness probe holds open at once (default: 32)",
    )
    check.add_argument(
        "--robustness-budget",
        type=float,
        metavar="SECONDS",
        help="how long a slow-header or idle connection may stay open (default: 120)",
    )
    check.add_argument("--report-dir", default="reports", metavar="DIR", help="reports go to DIR/<run-id>/")
    check.add_argument("--run-id", metavar="ID", help="run identifier (default: timestamp + random)")
    check.add_argument(
        "--probe",
        action="store_true",
        help="ask the registry which optional features it has and judge by the answers "
        "(absent features make their checks N/A)",
    )
    check.add_argument(
        "--fail-on",
        metavar="CLASSES",
        help="outcome classes that make the exit status 1 (default: FAIL,ROBUSTNESS,ERROR; "
        "choose among PASS, FAIL, WARN, ROBUSTNESS, N/A, SKIP, ERROR, or none)",
    )
    check.add_argument(
        "--workers",
        type=process_count,
        default=None,
        metavar="N",
        help="run the checks in N processes (default: against the embedded server, one per core, at "
        "most 4; against a --target, 1; see conformance/README.md)",
    )
    check.add_argument("-k", dest="keyword", metavar="EXPR", help="only checks matching EXPR (pytest -k)")
    check.add_argument("-v", "--verbose", action="store_true", help="list every check as it runs")
    check.set_defaults(run=run_check)

    probe = subparsers.add_parser(
        "probe",
        help="find which optional features a registry has and write a profile",
        description="Ask the registry (anonymously) for the referrers API, tag/manifest/blob deletion, "
        "automatic cross-mount and single-POST uploads, and print (or write) a target profile declaring "
        "what it found, each feature with the answer that shows it. Writes one small image under "
        "NAMESPACE/keelhaul-probe-<id> and deletes what the registry lets it delete.",
    )
    probe.add_argument("url", metavar="URL", help="http(s)://host[:port]")
    probe.add_argument("--namespace", default="keelhaul-ci", metavar="PREFIX", help="default: keelhaul-ci")
    probe.add_argument("--out", metavar="FILE", help="write the profile here (default: standard output)")
    probe.set_defaults(run=run_probe)

    report = subparsers.add_parser(
        "report",
        help="work with conformance reports",
        description="Work with the reports `keelhaul check` wrote (reports/<run-id>/).",
    )
    report_commands = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    compare = report_commands.add_parser(
        "compare",
        help="merge runs of several targets into one requirement × target matrix",
        description="RUN is a run folder (reports/<run-id>), its results.json, or a run id under "
        "--report-dir.",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more runs to put side by side")
    compare.add_argument("--report-dir", default="reports", metavar="DIR", help="where run ids are looked up")
    compare.add_argument("--out", metavar="DIR", help="output folder (default: DIR/compare-<timestamp>)")
    compare.set_defaults(run=run_compare)


class _ReportLocator:
    """A pytest plugin that keeps the harness's session state, to say where the reports went once
    pytest is done (read then, not at session finish: the harness writes them last)."""

    def __init__(self) -> None:
        self._state: Any = None
        self.failed = False

    def pytest_sessionfinish(self, session: Any) -> None:
        from conformance.harness.state import STATE

        self._state = session.config.stash.get(STATE, None)

    @property
    def report_dir(self) -> Path | None:
        return None if self._state is None else self._state.report_dir


def pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line equivalent to a `keelhaul check` invocation."""
    # rootdir = the folder holding the suite, so check ids read `conformance/oci/...` from any cwd;
    # `-c devnull`: no pytest settings from the folder the suite sits in (a checkout's timeouts, markers)
    argv = [str(SUITE_DIR), "--rootdir", str(SUITE_DIR.parent), "-c", os.devnull, "-rfE", "--tb=short"]
    # Only the plugins the suite uses (run_check turns plugin autoloading off): no cache (a run leaves
    # nothing in the user's directory but reports), no Locust, benchmark or anyio plugins, nor any
    # other the user's environment has installed: they cost start-up time and could change verdicts.
    # Nor pytest's unraisable-exception hook: it runs the garbage collector five times at the end
    # (0.15 s) to report exceptions raised in destructors, which judge no check.
    argv += ["-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", HYPOTHESIS_PLUGIN]
    argv.append("-v" if args.verbose else "-q")
    if args.target:
        argv += ["--target", args.target]
    if args.read_only:
        argv.append("--read-only")
    if args.run_slow:
        argv.append("--run-slow")
    if getattr(args, "robustness", False):
        argv.append("--robustness")
    if getattr(args, "robustness_connections", None) is not None:
        argv += ["--robustness-connections", str(args.robustness_connections)]
    if getattr(args, "robustness_budget", None) is not None:
        argv += ["--robustness-budget", str(args.robustness_budget)]
    if args.report_dir:
        argv += ["--report-dir", args.report_dir]
    if args.run_id:
        argv += ["--run-id", args.run_id]
    if args.fail_on:
        argv += ["--fail-on", args.fail_on]
    if getattr(args, "probe", False):
        argv.append("--probe")
    if args.keyword:
        argv += ["-k", args.keyword]
    if getattr(args, "workers", None):
        argv += ["--workers", str(args.workers)]
    return argv


def run_check(args: argparse.Namespace) -> int:
    from conformance.harness.concurrency import lane_count
    from conformance.harness.target import GivenProfile, launch_embedded
    from conformance.outcomes import parse_fail_on
    from keelhaul.profile import load_profile

    parse_fail_on(args.fail_on)  # a bad class list is one line, before pytest starts
    with url_target(args, sys.stdin) as profile:
        if profile is not None:
            args.target = str(profile)
            args.probe = True  # nobody declared the optional features: ask the registry
        locator = _ReportLocator()
        plugins: list[object] = [locator]
        launched = None
        if args.target:
            # a bad profile is one line, before pytest starts; the harness uses this parse, not a second one
            plugins.append(GivenProfile(load_profile(Path(args.target))))
        else:  # the server starts in its own processes while this one imports pytest and the suite
            launched = launch_embedded(lane_count(args.workers, embedded=True))
            plugins.append(launched)
        try:
            import pytest

            # pytest loads only the plugins pytest_args names: autoloading every installed plugin cost
            # 0.3 s of a 5 s run
            with _environment(NO_PLUGIN_AUTOLOAD, "1"):
                code = int(pytest.main(pytest_args(args), plugins=plugins))
        finally:
            if launched is not None:
                launched.close()
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


@contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """Within the block, this process's environment variable `name` is `value` (left as it was when
    None); afterwards it is what it was before."""
    previous = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@contextmanager
def url_target(args: argparse.Namespace, stdin: TextIO) -> Iterator[Path | None]:
    """With --url, a profile file written for the run (removed after it), else None.

    The password never goes into the file: it is read from stdin into this process's environment,
    and the profile names that variable, as a hand-written profile would."""
    if not args.url:
        if args.username or args.password_stdin or args.namespace or args.kind:
            raise UsageError("--username, --password-stdin, --namespace and --kind go with --url")
        yield None
        return
    if args.password_stdin and not args.username:
        raise UsageError("--password-stdin needs --username")
    password = None
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: standard input held no password")
    elif args.username:
        raise UsageError("--username needs --password-stdin (the password is never an argument)")
    text = url_profile_text(args.url, args.username, kind=args.kind, namespace=args.namespace)
    with (
        _environment(PASSWORD_ENV, password),
        tempfile.TemporaryDirectory(prefix="keelhaul-check-") as scratch,
    ):
        profile = Path(scratch) / "url.toml"
        profile.write_text(text, encoding="utf-8")
        yield profile


def run_probe(args: argparse.Namespace) -> int:
    import httpx

    from conformance.probe import probe, profile_text
    from conformance.url_profile import checked_url
    from keelhaul.client import RegistryClient

    url = checked_url(args.url)
    try:
        with RegistryClient(url) as client:
            findings = probe(client, args.namespace)
    except httpx.HTTPError as error:
        raise UsageError(f"cannot probe {url}: {error}") from None
    text = profile_text(url, args.namespace, findings)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"keelhaul: profile written to {args.out}")
    else:
        print(text, end="")
    return 0


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
