"""The flat-memory promise: a worker's peak RSS does not grow with the layer it pushes.

A master and one worker process (`keelhaul load --processes 1`) push one small layer, then one
multi-GB layer, into bench/load_sink.py (a registry-shaped sink that stores nothing, so the disk and
the target stay out of it). The worker's peak RSS (the kernel's VmHWM, reported in summary.json)
must be the same within a small margin. Nothing is timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SINK = REPO / "bench" / "load_sink.py"
READY = "load sink: listening on "
SMALL, LARGE = "256MiB", "3GiB"
MARGIN = 24 * 10**6  # allocator noise; a layer held in memory would add gigabytes
CEILING = 200 * 10**6  # README: a worker stays well under this whatever the layer size


@pytest.fixture(scope="module")
def sink_url() -> Iterator[str]:
    sink = subprocess.Popen([sys.executable, str(SINK)], stdout=subprocess.PIPE, text=True)
    assert sink.stdout is not None
    line = sink.stdout.readline()
    try:
        assert line.startswith(READY), line
        yield line[len(READY) :].strip()
    finally:
        sink.terminate()
        sink.wait(10)


def worker_peak_rss(sink_url: str, layer: str, report_dir: Path) -> int:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "keelhaul",
            "load",
            "--host",
            sink_url,
            "--headless",
            "--processes",
            "1",
            "--users",
            "1",
            "--layer-size",
            layer,
            "--stop-after",
            layer,
            "--run-time",
            "10m",
            "--report-dir",
            str(report_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (summary_path,) = report_dir.glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    (worker,) = summary["resources"]["workers"]
    assert worker["name"] != "local"  # measured in the worker process, reported to the master
    assert worker["bytes_moved"] >= summary["uploads"]["bytes"] > 0
    assert "peak RSS" in done.stdout  # the console shows it too
    return int(worker["peak_rss_bytes"])


def test_worker_memory_stays_flat_through_a_multi_gb_layer(sink_url: str, tmp_path: Path) -> None:
    small = worker_peak_rss(sink_url, SMALL, tmp_path / "small")
    large = worker_peak_rss(sink_url, LARGE, tmp_path / "large")
    assert large < CEILING, f"peak RSS {large / 1e6:.0f} MB through a {LARGE} layer"
    assert large - small < MARGIN, (
        f"peak RSS grew from {small / 1e6:.0f} MB ({SMALL}) to {large / 1e6:.0f} MB ({LARGE})"
    )
