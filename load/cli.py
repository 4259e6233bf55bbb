"""`keelhaul load`: a thin wrapper that starts Locust on the keelhaul locustfile.

Everything it does can be done with `locust -f load/locustfile.py` directly; the wrapper only adds a
target (a profile, a URL, or an embedded reference server it starts itself), friendly scenario
names, a report folder per run, and `--smoke`, the CI acceptance run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keelhaul.errors import UsageError
from load.options import CONTENT_KINDS, DEFAULT_CHUNK_SIZE, DEFAULT_LAYER_SIZE, DEFAULT_WEB_HOST, new_run_id
from load.sizes import parse_size
from load.target import embedded_profile_text

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SCENARIO_CLASSES = {
    "chunked": "ChunkedLayerUpload",
    "monolithic": "MonolithicUpload",
    "pull": "PullStorm",
    "churn": "TagChurn",
    "fleet": "CIFleet",
    "idle": "IdleUploadProbe",
}
SMOKE_BYTES = 2 * 1024**3  # the acceptance asks for at least 2 GB in chunks
SMOKE_LAYER = "256MiB"


def _free_port() -> int:
    """A loopback port nobody listens on right now (for the Locust master)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def register(subparsers) -> None:  # type: ignore[no-untyped-def]
    parser = subparsers.add_parser(
        "load",
        help="stress a registry with Locust scenarios (chunked multi-GB uploads, pull storms, ...)",
        description="Run the keelhaul Locust scenarios. Without --target or --host, an embedded "
        "reference server is started for the run. Arguments after `--` go to Locust unchanged.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target", metavar="PROFILE", help="target profile (TOML/YAML)")
    target.add_argument("--host", metavar="URL", help="registry URL without credentials (no profile)")
    parser.add_argument(
        "--scenario",
        nargs="+",
        metavar="NAME",
        default=[],
        help=f"scenarios to run: {', '.join(SCENARIO_CLASSES)} (default: chunked)",
    )
    parser.add_argument("--users", type=int, default=2, help="concurrent users (default 2)")
    parser.add_argument(
        "--spawn-rate", type=float, default=None, help="users started per second (default: all at once)"
    )
    parser.add_argument(
        "--run-time", default=None, help="stop after e.g. 90s, 10m, 1h (default: until stopped)"
    )
    parser.add_argument("--layer-size", default=DEFAULT_LAYER_SIZE, help="chunked layer size (default 1GiB)")
    parser.add_argument("--chunk-size", default=DEFAULT_CHUNK_SIZE, help="PATCH chunk size (default 16MiB)")
    parser.add_argument(
        "--seed", default=None, help="seed of the generated layer content (default: keelhaul)"
    )
    parser.add_argument(
        "--content",
        choices=CONTENT_KINDS,
        default="unique",
        help="layer content: unique bytes everywhere (each layer hashed, ~0.7 CPU s per GB), or "
        "shared-prefix (layers of one size share all but their last MiB: the generator's CPU goes to "
        "the wire; a target deduplicating storage blocks would see the repeats)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="leave the run's blobs and manifests on the target (default: delete them at the end)",
    )
    parser.add_argument(
        "--stop-after",
        metavar="SIZE",
        default=None,
        help="stop gracefully once uploads committed SIZE bytes, e.g. 2GiB (default: no byte limit)",
    )
    parser.add_argument("--headless", action="store_true", help="no web UI; write reports and exit")
    parser.add_argument(
        "--autostart",
        action="store_true",
        help="with the web UI: start the run at once (default: when you press Start in the UI)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="Locust worker processes on this machine, -1 for one per core (default: one process)",
    )
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="be the master of a distributed run")
    role.add_argument("--worker", action="store_true", help="be a worker of a distributed run")
    parser.add_argument("--master-host", default=None, help="master address (with --worker; no default)")
    parser.add_argument(
        "--master-port",
        type=int,
        default=None,
        help="master port (default 5557; with --processes a free loopback port)",
    )
    parser.add_argument(
        "--expect-workers", type=int, default=1, help="workers the master waits for (default 1)"
    )
    parser.add_argument("--web-port", type=int, default=None, help="web UI port (default 8089)")
    parser.add_argument(
        "--web-host",
        default=DEFAULT_WEB_HOST,
        metavar="ADDRESS",
        help="interface the web UI listens on; 0.0.0.0 lets other machines start runs",
    )
    parser.add_argument(
        "--report-dir",
        default="reports/load",
        help="headless reports go to REPORT_DIR/<run-id>/ (default reports/load)",
    )
    parser.add_argument(
        "--run-id",
        default=None,
        help="names the run's repositories and report folder (default: UTC time + process id)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI acceptance: embedded server, master + 2 workers, >= 2 GiB in chunks, "
        "zero failures, every digest verified; exits non-zero otherwise",
    )
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    validate(args)
    if args.smoke:
        return run_smoke(args)
    run_id = args.run_id or new_run_id()
    report_dir = Path(args.report_dir) / run_id if args.headless else None
    embedded = not (args.worker or args.target or args.host)
    with target_url(args) as (url, profile):
        command = locust_command(
            args, url=url, profile=profile, run_id=run_id, report_dir=report_dir, embedded=embedded
        )
        return run_locust(command)


def run_locust(command: list[str]) -> int:
    """Locust in a child process, waited for until it has verified, cleaned up and reported.

    subprocess.call would SIGKILL the child 0.25 s after a Ctrl-C, in the middle of that work, and a
    SIGTERM would end this wrapper alone and leave Locust running (with the embedded server gone).
    So Ctrl-C is left to the child (the terminal sends it to both), SIGTERM is passed on, and the
    wrapper returns Locust's exit code."""
    process = subprocess.Popen(command)

    def pass_on(signum: int, _frame: object) -> None:
        if process.poll() is None:
            process.send_signal(signum)

    # set after the start: a child would inherit an ignored SIGINT
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, pass_on),
    }
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def validate(args: argparse.Namespace) -> None:
    """One-line errors for anything Locust would otherwise answer with a traceback or silence."""
    if args.users < 1:
        raise UsageError("--users must be at least 1")
    if args.spawn_rate is not None and args.spawn_rate <= 0:
        raise UsageError("--spawn-rate must be positive")
    if args.processes is not None and (args.processes == 0 or args.processes < -1):
        raise UsageError("--processes must be a positive number of processes, or -1 for one per core")
    if args.processes is not None and (args.master or args.worker):
        raise UsageError(
            "--processes already starts a master and workers; do not combine it with --master/--worker"
        )
    if args.worker and not args.master_host:
        raise UsageError("--worker needs --master-host HOST")
    if args.master_host and not args.worker:
        raise UsageError("--master-host only makes sense with --worker")
    if args.worker and (args.target or args.host):
        raise UsageError("a --worker takes its target from the master; drop --target/--host")
    if args.smoke and (args.master or args.worker or args.processes is not None):
        raise UsageError("--smoke starts its own master and two workers; drop --master/--worker/--processes")
    if args.expect_workers < 1:
        raise UsageError("--expect-workers must be at least 1")
    parse_size(args.layer_size, what="--layer-size")
    if parse_size(args.chunk_size, what="--chunk-size") <= 0:
        raise UsageError("--chunk-size must be positive")
    if args.stop_after is not None:
        parse_size(args.stop_after, what="--stop-after")
    unknown = [name for name in args.scenario if scenario_class(name) is None]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIO_CLASSES)}")
    if args.target and not Path(args.target).is_file():
        raise UsageError(f"--target: no such profile file: {args.target}")
    if args.run_id is not None and not (
        (args.run_id.isalnum() and args.run_id.islower()) or args.run_id.isdigit()
    ):
        raise UsageError("--run-id must be lower-case letters and digits only")


def scenario_class(name: str) -> str | None:
    """A friendly name (chunked) or a class name (ChunkedLayerUpload) to the class name."""
    if name in SCENARIO_CLASSES:
        return SCENARIO_CLASSES[name]
    return name if name in SCENARIO_CLASSES.values() else None


@contextmanager
def target_url(args: argparse.Namespace) -> Iterator[tuple[str | None, str | None]]:
    """(URL, profile path) of the target; starts an embedded reference server when none is given."""
    if args.worker:
        yield None, None
    elif args.target:
        yield None, str(Path(args.target).resolve())
    elif args.host:
        yield args.host, None
    else:
        with embedded_server() as (url, profile):
            print(f"keelhaul load: embedded reference server at {url} (pid {os.getpid()})", flush=True)
            yield url, profile


@contextmanager
def embedded_server() -> Iterator[tuple[str, str]]:
    """The suite's own reference server, without auth, on a free loopback port, in a temp folder,
    with a profile describing it (kind reference: its layer and upload limits are known)."""
    from reference_server.config import ServerConfig
    from reference_server.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory(prefix="keelhaul-load-") as scratch:
        config = ServerConfig(
            listen_host="127.0.0.1", listen_port=0, data_dir=Path(scratch) / "data", auth=False
        )
        with EmbeddedServer(config) as server:
            url = server.url
            if url is None:
                raise UsageError("the embedded reference server did not start")
            profile = Path(scratch) / "embedded.toml"
            profile.write_text(embedded_profile_text(url))
            yield url, str(profile)


def _locust() -> list[str]:
    """The start of every Locust command line this wrapper runs."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def _report_args(report_dir: Path) -> list[str]:
    """Locust's CSV and HTML reports and keelhaul's summary, all in `report_dir`."""
    return [
        "--csv",
        str(report_dir / "locust"),
        "--html",
        str(report_dir / "report.html"),
        "--keelhaul-report-dir",
        str(report_dir),
    ]


def locust_command(
    args: argparse.Namespace,
    *,
    url: str | None,
    profile: str | None,
    run_id: str,
    report_dir: Path | None,
    embedded: bool = False,
) -> list[str]:
    command = _locust()
    if args.worker:
        command += ["--worker", "--master-host", args.master_host]
        if args.master_port:
            command += ["--master-port", str(args.master_port)]
        return command + _passthrough(args.locust_args)
    if profile:
        command += ["--keelhaul-profile", profile]
    elif url:
        command += ["--host", url]
    if embedded:
        command += ["--keelhaul-target-pid", str(os.getpid())]  # the embedded server runs in this process
    if args.seed:
        command += ["--seed", args.seed]
    if args.content != "unique":
        command += ["--content", args.content]
    if args.keep_data:
        command += ["--keep-data"]
    command += [
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate or args.users),
        "--layer-size",
        args.layer_size,
        "--chunk-size",
        args.chunk_size,
        "--run-id",
        run_id,
    ]
    if args.stop_after:
        command += ["--stop-after-bytes", str(parse_size(args.stop_after)), "--stop-timeout", "600"]
    if args.run_time:
        command += ["--run-time", args.run_time]
    if args.processes is not None:
        # master and forked workers talk on loopback, on a port of this run's own: Locust's default
        # (every interface, port 5557) collides with any other run on the machine
        port = str(args.master_port or _free_port())
        command += ["--processes", str(args.processes), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-port", port]
    if args.master:
        command += ["--master", "--expect-workers", str(args.expect_workers)]
        if args.master_port:
            command += ["--master-bind-port", str(args.master_port)]
    if args.web_port:
        command += ["--web-port", str(args.web_port)]
    if args.headless:
        command += ["--headless", "--only-summary"]
    else:
        command += ["--web-host", args.web_host]
        if args.autostart:
            command += ["--autostart"]
            if args.run_time:
                command += ["--autoquit", "30"]  # after --run-time, keep the UI up 30 s to look at it
    if report_dir is not None:
        command += _report_args(report_dir)
    command += [scenario_class(name) or name for name in (args.scenario or ["chunked"])]
    return command + _passthrough(args.locust_args)


def _passthrough(extra: list[str] | None) -> list[str]:
    """What followed `--` on the command line, for Locust unchanged."""
    extra = list(extra or [])
    return extra[1:] if extra and extra[0] == "--" else extra


# ---- the CI acceptance run ----------------------------------------------------------------------------


def run_smoke(args: argparse.Namespace) -> int:
    """Master + two workers on loopback push >= 2 GiB in 16 MiB chunks into a server of their own.

    Exit code 0 only if Locust saw zero failures, the byte budget was reached and the HEAD of every
    committed digest matched its size and digest."""
    run_id = args.run_id or new_run_id()
    report_dir = Path(args.report_dir) / run_id
    budget = parse_size(args.stop_after) if args.stop_after else SMOKE_BYTES
    layer = args.layer_size if args.layer_size != DEFAULT_LAYER_SIZE else SMOKE_LAYER
    port = args.master_port or _free_port()
    with target_url(argparse.Namespace(worker=False, target=args.target, host=args.host)) as (url, profile):
        master = [
            *_locust(),
            "--master",
            "--headless",
            "--only-summary",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
            "--users",
            str(max(args.users, 4)),
            "--spawn-rate",
            str(max(args.users, 4)),
            "--run-time",
            args.run_time or "20m",
            "--stop-timeout",
            "600",
            "--layer-size",
            layer,
            "--chunk-size",
            args.chunk_size,
            "--stop-after-bytes",
            str(budget),
            "--run-id",
            run_id,
            *_report_args(report_dir),
            "ChunkedLayerUpload",
        ]
        master += ["--keelhaul-profile", profile] if profile else ["--host", url or ""]
        if not (args.target or args.host):
            master += ["--keelhaul-target-pid", str(os.getpid())]
        worker = [
            *_locust(),
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
        ]
        print(
            f"keelhaul load --smoke: master on 127.0.0.1:{port}, 2 workers, {budget} bytes in "
            f"{layer} layers of {args.chunk_size} chunks, reports in {report_dir}",
            flush=True,
        )
        master_process = subprocess.Popen(master)
        workers = [subprocess.Popen(worker) for _ in range(2)]
        try:
            code = master_process.wait()
        finally:
            for process in workers:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    return smoke_verdict(report_dir / "summary.json", code, budget)


def smoke_verdict(summary_path: Path, master_code: int, budget: int) -> int:
    """Non-zero unless the summary proves the acceptance: zero failures, budget met, all verified."""
    if not summary_path.is_file():
        print(f"keelhaul load --smoke: FAILED: no summary at {summary_path} (Locust exit {master_code})")
        return master_code or 1
    summary = json.loads(summary_path.read_text())
    verification = summary.get("verification") or {}
    problems = []
    if master_code != 0:
        problems.append(f"Locust exited {master_code}")
    if summary.get("failures"):
        problems.append(f"{summary['failures']} failed requests")
    if verification.get("bytes_verified", 0) < budget:
        problems.append(f"only {verification.get('bytes_verified', 0)} of {budget} bytes verified")
    if not verification.get("ok", False):
        problems.append(
            f"{verification.get('checked', 0) - verification.get('verified', 0)} digests unverified"
        )
    if problems:
        print("keelhaul load --smoke: FAILED: " + "; ".join(problems))
        return 1
    print(
        f"keelhaul load --smoke: OK ({verification['verified']} digests, "
        f"{verification['bytes_verified']} bytes verified, {summary['throughput']['mb_per_s']} MB/s)"
    )
    return 0
