"""Keeps the garbage collector off the objects that live for the whole run.

After collection the process holds about 100,000 tracked objects (pytest, hypothesis, httpx, the
embedded server, every collected check) that stay alive until the end. Each full collection walked
them all again: hypothesis forces one per thread it runs in, the interpreter a few of its own. Moving
them to the permanent generation leaves the collector only what the checks create. They go back when
the session ends, so a process that runs the suite in-process (the tests) collects them as before.
"""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()
    session.config.add_cleanup(gc.unfreeze)
