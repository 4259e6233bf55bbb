"""Locust's CSV writer must be stopped before its files are closed (load.csv_stop)."""

from __future__ import annotations

from pathlib import Path

import gevent
import locust
from locust import stats
from locust.env import Environment

from load import csv_stop


def test_closing_the_files_stops_the_writer_so_it_never_touches_a_closed_file(
    tmp_path: Path,
) -> None:
    csv_stop.install()
    csv_stop.install()  # a second call wraps nothing twice
    environment = Environment(events=locust.events)
    environment.create_local_runner()
    writer = stats.StatsCSVFileWriter(environment, stats.PERCENTILES_TO_REPORT, str(tmp_path / "run"))
    greenlet = gevent.spawn(writer.stats_writer)
    gevent.sleep(0.1)  # the writer has written its first rows and sleeps

    writer.close_files()
    gevent.sleep(stats.CSV_STATS_INTERVAL_SEC * 1.5)  # past the writer's next wake-up

    assert greenlet.dead
    assert greenlet.exception is None  # unwrapped: ValueError, I/O operation on closed file
    assert "Type,Name" in (tmp_path / "run_stats.csv").read_text()
    environment.runner.quit()
