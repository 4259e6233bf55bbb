"""How many lanes (processes running checks) a run has: decided before pytest starts when `keelhaul
check` launches the embedded server (one server instance per lane), and again at configure time in a
plain `pytest conformance` run. Imports nothing heavy, so the launch stays ahead of pytest's imports."""

from __future__ import annotations

import os
import threading

from keelhaul.errors import UsageError

AUTO_LANES_MOST = 4  # past that the machine's cores, not the lanes, are what the run waits for


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def lane_count(asked: int | None, embedded: bool) -> int:
    """How many processes run the checks: as asked (--workers), else one per core against the embedded
    server (at most AUTO_LANES_MOST) and one against a --target, whose owner decides how hard it is
    pushed. Lanes are forked; a process with other threads running cannot fork safely (a lock one of
    them holds would stay held in the lane), so it runs the checks itself, or refuses an explicit ask."""
    threads = threading.active_count()
    if asked is not None:
        if asked > 1 and threads > 1:
            raise UsageError(
                f"--workers {asked}: this process runs {threads} threads, and forking it could leave a "
                "lane waiting forever on a lock one of them held; run without --workers"
            )
        return asked
    if not embedded or threads > 1:
        return 1
    return max(1, min(usable_cores(), AUTO_LANES_MOST))
