"""Each generator process's cost: figures from /proc and getrusage, the bottleneck warning, the
console lines and the web UI's sparklines."""

from __future__ import annotations

import os

from load.ledger import Ledger
from load.meter import BOTTLENECK_CPU_SHARE, ProcessFigures, Resources, SelfMeter, memory_of
from load.summary import resource_lines
from load.webui import SPARK_BLOCKS, resource_rows, sparkline


def test_memory_of_this_process_and_of_a_gone_one() -> None:
    rss, peak = memory_of()
    assert 10**6 < rss <= peak
    assert memory_of(os.getpid())[1] >= rss
    assert memory_of(2**22 + 12345) == (0, 0)  # no such process


def test_self_meter_counts_bytes_and_cpu_since_the_test_started() -> None:
    ledger = Ledger()
    ledger.add_bytes("chunked", 5_000_000)
    meter = SelfMeter()
    meter.start(ledger)
    ledger.add_bytes("chunked", 3_000_000)
    sum(range(2_000_000))  # some CPU
    figures = meter.figures(ledger, "local")
    assert figures.bytes_moved == 3_000_000 and figures.cpu_seconds > 0 and figures.peak_rss_bytes > 0


def busy(name: str, share: float) -> ProcessFigures:
    return ProcessFigures(
        name,
        bytes_moved=10**9,
        active_seconds=2.0,
        cpu_seconds=2.0 * share,
        rss_bytes=60 * 10**6,
        peak_rss_bytes=70 * 10**6,
    )


def test_a_worker_at_a_full_core_is_named_the_bottleneck() -> None:
    resources = Resources()
    resources.update(busy("w1", BOTTLENECK_CPU_SHARE + 0.1))
    resources.update(busy("w2", 0.3).to_dict())  # as it arrives in a worker report
    document = resources.to_dict()
    assert [w["name"] for w in document["workers"]] == ["w1", "w2"]
    assert document["workers"][1]["mb_per_s"] == 500.0 and document["workers"][1]["cpu_share"] == 0.3
    assert document["peak_rss_bytes"] == 70 * 10**6
    (warning,) = document["warnings"]
    assert warning.startswith("generator process w1 used 95% of a core") and "--processes" in warning
    lines = resource_lines({"resources": document})
    assert lines[0] == "keelhaul load:   worker w1: 500.0 MB/s, 95% of a core, peak RSS 70 MB"
    assert lines[-1].startswith("keelhaul load: WARNING: generator process w1")


def test_target_memory_and_history_feed_the_web_ui() -> None:
    resources = Resources(target_pid=os.getpid())
    resources.update(busy("local", 0.2))
    for step in range(5):
        resources.sample(mb_per_s=100.0 * step, now=1000.0 + step)
    assert len(resources.history) == 5 and resources.history[-1].rss_bytes["target"] > 0
    rows = resource_rows(resources)
    assert [row["process"] for row in rows] == ["generator local", f"target (pid {os.getpid()})"]
    assert rows[1]["peak"].endswith(" MB") and len(rows[1]["memory"]) == 5
    assert resources.to_dict()["target"]["peak_rss_bytes"] > 0


def test_sparkline_scales_to_its_maximum() -> None:
    assert sparkline([0, 50, 100]) == SPARK_BLOCKS[0] + SPARK_BLOCKS[4] + SPARK_BLOCKS[-1]
    assert sparkline([0, 0]) == SPARK_BLOCKS[0] * 2
    assert sparkline([]) == ""
    assert len(sparkline(list(range(100)))) == 40
