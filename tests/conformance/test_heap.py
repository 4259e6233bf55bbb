"""The run's long-lived objects leave the collector's walks for the session only (harness/heap.py),
and the `keelhaul` command exits with main()'s code without a last walk (keelhaul.cli.run)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.harness.heap import pytest_collection_finish
from keelhaul import cli


def test_objects_are_frozen_after_collection_and_given_back_when_the_session_ends() -> None:
    cleanups: list[Callable[[], None]] = []
    session: Any = SimpleNamespace(config=SimpleNamespace(add_cleanup=cleanups.append))
    gc.unfreeze()
    try:
        pytest_collection_finish(session)
        assert gc.get_freeze_count() > 1000  # this process's modules, pytest's own objects among them
        assert len(cleanups) == 1
        cleanups[0]()
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("code", [0, 2])
def test_the_command_exits_with_mains_code(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    monkeypatch.setattr(cli, "main", lambda: code)
    try:
        with pytest.raises(SystemExit) as exited:
            cli.run()
        assert exited.value.code == code
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
