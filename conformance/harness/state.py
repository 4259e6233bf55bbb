"""What the harness keeps for one session, stored in `config.stash` (never in module globals)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from conformance.catalogue import Catalogue
from conformance.harness.repos import CleanupOutcome, RepoNamer
from conformance.harness.selection import RunOptions
from conformance.harness.target import Target
from conformance.reports.model import TestResult
from keelhaul.client import ExchangeRecorder


@dataclass
class HarnessState:
    """The run's catalogue, options, target, per-check results and cleanup ledger."""

    catalogue: Catalogue
    options: RunOptions
    run_id: str
    report_root: Path | None
    target: Target | None = None
    started: float = field(default_factory=time.time)
    results: dict[str, TestResult] = field(default_factory=dict)
    cleanup: list[CleanupOutcome] = field(default_factory=list)
    report_dir: Path | None = None
    selection: str | None = None
    fail_on: tuple[str, ...] = ()
    lane: int = 0  # this process's worker index when checks run in worker processes (parallel.py)
    lanes: int = 1  # how many worker processes share the run
    lock_path: Path | None = None  # the file `alone` checks lock (parallel.py)
    shipped_cleanup: int = 0  # cleanup outcomes a worker already sent to the controller
    _transport: httpx.HTTPTransport | None = None

    def repo_namer(self, namespace: str | None, suffix: str = "") -> RepoNamer:
        """Unique repository names for this process's lane of the run (see RepoNamer)."""
        return RepoNamer(namespace, self.run_id + suffix, self.lane, self.lanes)

    @property
    def transport(self) -> httpx.HTTPTransport:
        """The connection pool every client of the run shares (see clients.make_client)."""
        if self._transport is None:
            verify = self.target.profile.tls_verify if self.target is not None else True
            self._transport = httpx.HTTPTransport(verify=verify)
        return self._transport

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
