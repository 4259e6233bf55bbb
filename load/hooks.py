"""Wires the load suite into Locust's events: options, web UI tab, worker reports, end-of-run work.

Imported by the locustfile; everything here is a Locust event listener, so the same behaviour holds
for a local run, `--processes N`, and `--master` / `--worker` on several machines.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from keelhaul.errors import UsageError
from load import csv_stop, scenarios, webui
from load.meter import SAMPLE_SECONDS
from load.options import add_options
from load.run import load_run
from load.summary import build_summary, one_line, resource_lines, write_reports
from load.target import preflight, usable_role
from load.verify import Cleanup, delete_uploads, verify_uploads

log = logging.getLogger("load")
REPORT_KEY = "keelhaul"
PROCESS_KEY = "keelhaul_process"  # the worker's own MB/s, CPU and memory (load.meter)
BUDGET_POLL_SECONDS = 1.0
STOP_MESSAGE = "keelhaul_stop"
STOPPED_MESSAGE = "keelhaul_stopped"
STOP_GRACE_SECONDS = 30


def is_worker(environment) -> bool:  # type: ignore[no-untyped-def]
    return isinstance(environment.runner, WorkerRunner)


@events.init_command_line_parser.add_listener
def _options(parser) -> None:  # type: ignore[no-untyped-def]
    add_options(parser)


@events.init.add_listener
def _init(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    run = load_run(environment)
    options = environment.parsed_options
    if is_worker(environment) or options is None:
        return
    check_target(environment)
    run.resources.target_pid = getattr(options, "keelhaul_target_pid", None)
    webui.install(environment, run)
    environment.runner.greenlet.spawn(_sample_resources, environment)  # ends when the runner quits
    if isinstance(environment.runner, MasterRunner) and options.headless and options.run_time:
        # A headless master takes over --run-time so that the run ends through graceful_quit.
        run.run_time, options.run_time = options.run_time, None


def check_target(environment) -> None:  # type: ignore[no-untyped-def]
    """Before the first user starts: the target answers and accepts the run's credentials, or the
    run ends here with one line. Also names the target's URL as Locust's host (its reports and
    web UI show it) when a profile gave it."""
    run = load_run(environment)
    options = environment.parsed_options
    if environment.web_ui is not None and not (environment.host or options.keelhaul_profile):
        return  # the start form asks for the host; _test_start checks what it was given
    try:
        profile = run.profile
        preflight(profile)
    except UsageError as error:
        print(f"keelhaul: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    if not environment.host:
        environment.host = profile.url


def _sample_resources(environment) -> None:  # type: ignore[no-untyped-def]
    """Every SAMPLE_SECONDS on the master or local runner: this process's own figures when it runs
    users itself, and one point of the web UI's MB/s and memory plots."""
    run = load_run(environment)
    while True:
        if environment.runner is not None and not isinstance(environment.runner, MasterRunner):
            run.resources.update(run.own_figures())
        run.resources.sample(run.ledger.live_mb_per_s_total())
        gevent.sleep(SAMPLE_SECONDS)


@events.test_start.add_listener
def _test_start(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    run = load_run(environment)
    run.forget_settings()  # the web UI may have changed options since the last test
    scenarios.forget_seeded_images(environment)
    run.meter.start(run.ledger)
    if is_worker(environment):
        return
    run.ledger.reset()
    run.resources.reset()
    run.stopping = False
    try:
        settings = run.settings
        profile = run.profile  # fail now, with one line, rather than in every user
        if environment.web_ui is not None:
            preflight(profile)  # the start form may have named another host since _init checked
    except UsageError as error:
        log.error("keelhaul: %s", error)
        environment.process_exit_code = 2
        gevent.spawn(environment.runner.quit)
        return
    if settings.stop_after_bytes:
        gevent.spawn(_stop_after_bytes, environment, settings.stop_after_bytes)
    if run.run_time:
        gevent.spawn_later(run.run_time, graceful_quit, environment, "--run-time limit reached")


def _stop_after_bytes(environment, budget: int) -> None:  # type: ignore[no-untyped-def]
    """Stop gracefully (users finish the upload in hand, within --stop-timeout) once uploads
    committed `budget` bytes, then quit: the run ends with every committed upload accounted for."""
    ledger = load_run(environment).ledger
    while ledger.committed_bytes() < budget:
        gevent.sleep(BUDGET_POLL_SECONDS)
    graceful_quit(environment, f"{ledger.committed_bytes()} bytes committed (budget {budget})")


def graceful_quit(environment, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Stop users (each finishes the upload in hand within --stop-timeout), collect every worker's
    last report, then quit."""
    run = load_run(environment)
    if run.stopping:
        return  # the byte budget and --run-time both fired: one stop is enough
    run.stopping = True
    log.info("keelhaul: %s: stopping", reason)
    stop_users(environment)
    environment.runner.quit()


def stop_users(environment) -> None:  # type: ignore[no-untyped-def]
    """Stop every user, here or on the workers, and wait for the workers' last reports.

    Locust's own paths lose data here: a headless quit gives workers 0.5 s to report, and after a
    master-initiated stop the master forgets the workers and discards their later reports. So the
    master asks each worker to stop its users itself, report, and acknowledge."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        expected = {client.id for client in runner.clients.all}
        acknowledged: set[str] = load_run(environment).stopped_workers
        runner.send_message(STOP_MESSAGE)
        with gevent.Timeout(environment.stop_timeout + STOP_GRACE_SECONDS, False):
            while not expected <= acknowledged:
                gevent.sleep(0.2)
        if not expected <= acknowledged:
            log.warning("keelhaul: %d worker(s) did not report after stopping", len(expected - acknowledged))
    else:
        runner.stop()


def _worker_stop(environment, msg, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """On a worker: stop users gracefully, send the final report, then acknowledge to the master."""
    runner = environment.runner
    runner.stop()
    runner._send_stats()  # the report carries this worker's last ledger entries
    runner.send_message(STOPPED_MESSAGE, {"worker": runner.client_id})


def _worker_stopped(environment, msg, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    load_run(environment).stopped_workers.add(msg.node_id)


@events.init.add_listener
def _register_messages(environment, runner, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if isinstance(runner, WorkerRunner):
        runner.register_message(STOP_MESSAGE, _worker_stop, concurrent=True)
    elif isinstance(runner, MasterRunner):
        runner.register_message(STOPPED_MESSAGE, _worker_stopped)


@events.report_to_master.add_listener
def _report_to_master(client_id, data, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    # Runs on workers only. Locust passes no environment here, so the ledger comes from the runner's.
    from locust import runners

    environment = getattr(runners, "_keelhaul_environment", None)
    if environment is not None:
        run = load_run(environment)
        data[REPORT_KEY] = run.ledger.drain()
        data[PROCESS_KEY] = run.own_figures().to_dict()


@events.worker_report.add_listener
def _worker_report(client_id, data, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    from locust import runners

    environment = getattr(runners, "_keelhaul_environment", None)
    if environment is not None and REPORT_KEY in data:
        load_run(environment).ledger.merge(data[REPORT_KEY])
    if environment is not None and PROCESS_KEY in data:
        load_run(environment).resources.update(data[PROCESS_KEY])


@events.init.add_listener
def _stop_csv_writer_first(**_kwargs) -> None:  # type: ignore[no-untyped-def]
    csv_stop.install()  # Locust spawns its CSV writer after `init`


@events.init.add_listener
def _remember_environment(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    from locust import runners

    runners._keelhaul_environment = environment  # type: ignore[attr-defined]


@events.quitting.add_listener
def _quitting(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    if is_worker(environment):
        return
    run = load_run(environment)
    if not run.stopping and environment.runner.state in (STATE_SPAWNING, STATE_RUNNING):
        # Locust fires `quitting` (Ctrl-C, SIGTERM, web UI run) before it stops the users: stop them
        # first, or uploads committed during verification are neither verified nor cleaned up.
        run.stopping = True
        stop_users(environment)
    finish_run(environment)


def finish_run(environment) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """Verify every committed digest on the target, clean up, write summary.json; returns the summary."""
    run = load_run(environment)
    try:
        settings, profile = run.settings, run.profile
    except UsageError:
        return None
    ledger = run.ledger
    if not isinstance(environment.runner, MasterRunner):
        run.resources.update(run.own_figures())  # measured before verification adds its own cost
    verification = cleanup = None
    if ledger.uploads:
        with profile.client(usable_role(profile, "reader")) as client:
            verification = verify_uploads(client, ledger.uploads)
    if not settings.keep_data and (ledger.uploads or ledger.manifests):
        cleanup = clean_up(environment)
    summary = build_summary(
        run_id=settings.run_id,
        target={
            "name": profile.name,
            "kind": profile.kind,
            "url": profile.url,
            "runner": "distributed" if isinstance(environment.runner, MasterRunner) else "local",
        },
        stats=environment.runner.stats,
        ledger=ledger,
        verification=verification,
        cleanup=cleanup,
        stop_after_bytes=settings.stop_after_bytes,
        resources=run.resources.to_dict(),
    )
    log.info(one_line(summary))
    print(one_line(summary), flush=True)
    for line in resource_lines(summary):
        print(line, flush=True)
    if settings.report_dir:
        path = write_reports(Path(settings.report_dir), summary, ledger.uploads)
        print(f"keelhaul load: summary written to {path}", flush=True)
    if not summary["ok"]:
        environment.process_exit_code = max(environment.process_exit_code or 0, 1)
    return summary


def clean_up(environment) -> Cleanup:  # type: ignore[no-untyped-def]
    """Delete the manifests, then the blobs, this run left; with the deleter role when the profile has one."""
    run = load_run(environment)
    profile = run.profile
    with profile.client(usable_role(profile, "deleter")) as client:
        for repository, digest in run.ledger.manifests:
            try:
                client.delete_manifest(repository, digest)
            except Exception as error:  # best effort: the target may be gone already
                log.warning("keelhaul: could not delete %s@%s: %s", repository, digest, type(error).__name__)
        return delete_uploads(client, run.ledger.uploads)
