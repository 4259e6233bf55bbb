"""Fixtures for the ghcr.io model: a fresh data directory with accounts, and a clock to move."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_server.ghcr.admin import Admin
from reference_server.ghcr.data.store import AccountsStore, accounts_path


class FakeClock:
    """Wall-clock time that tests can move forward (token expiry, restore windows)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def admin(data_dir: Path, clock: FakeClock) -> Admin:
    api = Admin(store=AccountsStore(accounts_path(data_dir), clock=clock))
    yield api
    api.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """One running server per test module (see world.py for the cast)."""
    from .world import start_world

    started = start_world(tmp_path_factory.mktemp("ghcr"))
    yield started
    started.server.stop()
    started.admin.close()
