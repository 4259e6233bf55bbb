"""The harness's command-line options, and the session state built from them at configure time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
from pathlib import Path

import httpx
import pytest

from conformance.catalogue import load_catalogue
from conformance.harness.concurrency import AUTO_LANES_MOST, lane_count
from conformance.harness.parallel import GATHERER, Gatherer, make_lock_file
from conformance.harness.selection import MARKERS, RunOptions
from conformance.harness.state import STATE, HarnessState
from conformance.harness.target import GivenProfile, LaunchedServer, load_target
from conformance.option_types import connection_budget, process_count
from conformance.outcomes import parse_fail_on
from keelhaul.client.grammar import is_valid_name
from keelhaul.errors import UsageError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keelhaul", "keelhaul conformance")
    group.addoption(
        "--target",
        default=None,
        metavar="PROFILE",
        help="target profile (TOML/YAML); default: start the embedded reference server",
    )
    group.addoption(
        "--read-only",
        action="store_true",
        default=False,
        help="only pull and list the content the profile's [read_only] section names",
    )
    group.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run slow checks (real 10 GB / 600 s limits)",
    )
    group.addoption(
        "--robustness",
        action="store_true",
        default=False,
        help="also run the opt-in robustness probes (slow and idle connections, Range edge cases, "
        "listing cost, concurrent pushes); they stay inside the run's own repositories",
    )
    group.addoption(
        "--robustness-connections",
        type=connection_budget,
        default=32,
        metavar="N",
        help="most connections a robustness probe holds open at once (default: 32)",
    )
    group.addoption(
        "--robustness-budget",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long a slow-header or idle connection may stay open before it is a finding (default: 120)",
    )
    group.addoption(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="reports go to DIR/<run-id>/ (default: reports); 'none' writes nothing",
    )
    group.addoption(
        "--probe",
        action="store_true",
        default=False,
        help="ask the target which optional features it has (referrers, deletes, mounts, single POST) "
        "and use the answers instead of the profile's [features]",
    )
    group.addoption(
        "--fail-on",
        default=None,
        metavar="CLASSES",
        help="outcome classes that fail the run (default: FAIL,ROBUSTNESS,ERROR; also WARN, N/A, "
        "SKIP, or none)",
    )
    group.addoption(
        "--workers",
        type=process_count,
        default=None,
        metavar="N",
        help="run the checks in N processes (default: against the embedded server, one per core, "
        f"at most {AUTO_LANES_MOST}; against a --target, 1)",
    )
    group.addoption(
        "--run-id",
        default=None,
        metavar="ID",
        help="run identifier (default: UTC timestamp + random); names the report folder "
        "and the repositories the run creates",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    if getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        # each pytest-xdist worker would start its own server and keep its results to itself
        raise pytest.UsageError("pytest-xdist's -n is not how this suite runs in parallel: use --workers N")
    run_id = config.getoption("--run-id") or new_run_id()
    if not _valid_run_id(run_id):
        raise pytest.UsageError(f"--run-id {run_id!r}: use lowercase letters, digits, '.', '_' or '-'")
    report_dir = config.getoption("--report-dir")
    try:
        catalogue = load_catalogue()
        fail_on = parse_fail_on(config.getoption("--fail-on"))
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    state = HarnessState(
        catalogue=catalogue,
        options=RunOptions(
            read_only=config.getoption("--read-only"),
            run_slow=config.getoption("--run-slow"),
            robustness=config.getoption("--robustness"),
            robustness_connections=config.getoption("--robustness-connections"),
            robustness_budget=config.getoption("--robustness-budget"),
        ),
        run_id=run_id,
        report_root=None if str(report_dir).lower() == "none" else Path(report_dir),
        selection=config.getoption("keyword", None) or None,
        fail_on=fail_on,
    )
    config.stash[STATE] = state
    _keep_hypothesis_out_of_cwd()
    config.pluginmanager.register(Gatherer(state), GATHERER)
    plugins = config.pluginmanager.get_plugins()
    given = next((p.profile for p in plugins if isinstance(p, GivenProfile)), None)
    launched = next((p for p in plugins if isinstance(p, LaunchedServer)), None)
    try:
        embedded = given is None and not config.getoption("--target")
        state.lanes = lane_count(config.getoption("--workers"), embedded)
        state.target = load_target(config.getoption("--target"), given, launched, state.lanes)
        if config.getoption("--probe"):
            probe_target(state)
    except UsageError as error:
        raise pytest.UsageError(str(error)) from None
    if state.lanes > 1:
        make_lock_file(state)


def probe_target(state: HarnessState) -> None:
    """--probe: the features the target shows replace the profile's (each one noted in the reports)."""
    from conformance.probe import apply, probe

    assert state.target is not None
    profile = state.target.profile
    client = state.client(profile, "writer")
    try:
        findings = probe(client, profile.namespace)
    except (httpx.HTTPError, UsageError) as error:
        raise UsageError(f"--probe: the target at {profile.url} could not be probed: {error}") from None
    values, notes = apply(profile.features, findings)
    state.target.profile = dataclasses.replace(profile, features=profile.features.with_flags(values))
    state.target.notes += notes


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or state.target is None:
        return []
    profile = state.target.profile
    lines = [f"keelhaul target: {profile.name} ({profile.kind}) at {profile.url}; run {state.run_id}"]
    lines += [f"keelhaul note: {note}" for note in state.target.notes]
    return lines


def new_run_id() -> str:
    """Lowercase and name-grammar safe, so it can sit inside repository names."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dt%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def _valid_run_id(run_id: str) -> bool:
    return is_valid_name(f"keelhaul-{run_id}-1")


def _keep_hypothesis_out_of_cwd() -> None:
    """hypothesis keeps a cache in ./.hypothesis (rebuilding it costs ~30 s here); a conformance run must
    leave nothing in the user's directory, so the cache lives in $XDG_CACHE_HOME/keelhaul/hypothesis
    unless the user chose a place."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    set_hypothesis_home_dir(Path(base) / "keelhaul" / "hypothesis")
