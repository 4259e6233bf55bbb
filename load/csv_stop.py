"""Stops Locust's CSV writer before Locust closes the CSV files under it.

Since locustio/locust#3486 (merged July 2026) Locust's shutdown closes the `--csv` files, but the
greenlet that rewrites them every second keeps running. When that greenlet wakes while the exit
handlers yield (atexit kills the input listener with `block=True`), it seeks a closed file and the
user sees "ValueError: I/O operation on closed file" with a traceback at the end of a clean run
(seen in CI on a headless master/worker run). Here each writer greenlet is remembered when it
starts and killed, at its sleep, before the files are closed; the files keep the last full rows.
"""

from __future__ import annotations

import gevent
from locust import stats

_MARK = "_keelhaul_stops_writer_first"


def install() -> None:
    """Wraps StatsCSVFileWriter once; a second call changes nothing."""
    writer_class = stats.StatsCSVFileWriter
    if getattr(writer_class, _MARK, False):
        return
    write_until_killed = writer_class.stats_writer
    close_files = writer_class.close_files

    def stats_writer(self: stats.StatsCSVFileWriter) -> None:
        self._keelhaul_writer = gevent.getcurrent()  # type: ignore[attr-defined]
        write_until_killed(self)

    def close_files_after_writer(self: stats.StatsCSVFileWriter) -> None:
        writer = getattr(self, "_keelhaul_writer", None)
        if writer is not None and writer is not gevent.getcurrent():
            writer.kill(block=True)
        close_files(self)

    writer_class.stats_writer = stats_writer  # type: ignore[method-assign]
    writer_class.close_files = close_files_after_writer  # type: ignore[method-assign]
    setattr(writer_class, _MARK, True)
