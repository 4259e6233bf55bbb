"""What the harness keeps for one session, stored in `config.stash` (never in module globals)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.catalogue import Catalogue
from conformance.harness.clients import make_client
from conformance.harness.repos import CleanupOutcome, RepoNamer
from conformance.harness.selection import RunOptions
from conformance.harness.target import Target
from conformance.reports.model import TestResult
from keelhaul.client import ExchangeRecorder, RegistryClient
from keelhaul.client.auth import ScopeForms
from keelhaul.client.ledger import BlobLedger
from keelhaul.client.transport import PooledTransport
from keelhaul.profile import TargetProfile


def process_started() -> float:
    """When this process started (epoch seconds), so a run's wall time includes the interpreter's start
    and the imports, as `time keelhaul check` sees it; now, where the system does not say (no /proc)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: start time since boot
        with open("/proc/uptime", encoding="ascii") as uptime:
            since_boot = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.time()
    return time.time() - since_boot + ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class HarnessState:
    """The run's catalogue, options, target, per-check results and cleanup ledger."""

    catalogue: Catalogue
    options: RunOptions
    run_id: str
    report_root: Path | None
    target: Target | None = None
    started: float = field(default_factory=time.time)
    process_started: float = field(default_factory=process_started)
    results: dict[str, TestResult] = field(default_factory=dict)
    cleanup: list[CleanupOutcome] = field(default_factory=list)
    report_dir: Path | None = None
    selection: str | None = None
    fail_on: tuple[str, ...] = ()
    lane: int = 0  # this process's lane when checks run in several processes (lanes.py)
    lanes: int = 1  # how many processes run checks
    lock_path: Path | None = None  # the file `alone` checks lock (parallel.py)
    shipped_cleanup: int = 0  # cleanup outcomes a lane already sent to lane 0
    checks_started: float | None = None  # when the first check started (lanes.py)
    checks_duration: float | None = None  # from then to the end of the last, as the reports say it
    _transport: PooledTransport | None = None
    # what the target's auth challenges showed, shared by every client of the run (RegistryClient)
    scope_forms: ScopeForms = field(default_factory=ScopeForms)
    # the blobs the run put into the repositories it named (keelhaul.client.ledger)
    blob_ledger: BlobLedger = field(default_factory=BlobLedger)
    # waits for work a fixture left running in the background (conformance/ghcr/expiry.py): an `alone`
    # check first waits for all of it
    background: list[Callable[[], None]] = field(default_factory=list)

    def repo_namer(self, namespace: str | None, suffix: str = "") -> RepoNamer:
        """Unique repository names for this process's lane of the run (see RepoNamer)."""
        return RepoNamer(namespace, self.run_id + suffix, self.lane, self.lanes, self.blob_ledger)

    def client(
        self, profile: TargetProfile, role: str, recorder: ExchangeRecorder | None = None
    ) -> RegistryClient:
        """A client for `role` on what every client of the run shares: the connection pool, what the
        target's challenges showed, and the blobs the run put into its fresh repositories
        (clients.make_client)."""
        return make_client(profile, role, recorder, self.transport, self.scope_forms, self.blob_ledger)

    @property
    def transport(self) -> PooledTransport:
        """The connection pool every client of the run shares (see clients.make_client)."""
        if self._transport is None:
            verify = self.target.profile.tls_verify if self.target is not None else True
            self._transport = PooledTransport(verify=verify)
        return self._transport

    def forget_transport(self) -> None:
        """A forked lane: leave the connections it inherited to the process that opened them (closing
        them here only closes this process's copies) and open its own from now on."""
        self._transport = None

    def close(self) -> None:
        """Close the shared pool and stop the embedded server, if any."""
        if self._transport is not None:
            self._transport.close()
        if self.target is not None:
            self.target.close()


STATE = pytest.StashKey[HarnessState]()
RECORDER = pytest.StashKey[ExchangeRecorder]()
SKIP_CLASS = pytest.StashKey[str]()  # N/A or SKIP, as selection decided at collection


def harness_state(config: pytest.Config) -> HarnessState:
    return config.stash[STATE]
