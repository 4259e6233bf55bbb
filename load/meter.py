"""What a load run costs the machine: each generator process's MB/s, CPU and memory, and the target's
memory when it runs here (the embedded reference server).

A load test is only as honest as its generator: a worker that uses a whole core is measuring itself,
not the registry. So every Locust process that runs users (the local runner, or each worker) meters
itself and sends its figures with Locust's periodic worker report; the master keeps the latest per
process plus a short history for the web UI's plots. Memory comes from /proc (RSS now and the
kernel's lifetime peak, VmHWM, so no sampling can miss a spike); CPU from getrusage.
"""

from __future__ import annotations

import resource
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from load.ledger import MEGABYTE, Ledger

BOTTLENECK_CPU_SHARE = 0.85  # a process above this share of one core is the limit, not the target
HISTORY_SAMPLES = 300  # the web UI plots this many samples (10 minutes at one sample per 2 s)
SAMPLE_SECONDS = 2.0


def memory_of(pid: int | str = "self") -> tuple[int, int]:
    """(RSS now, peak RSS) in bytes of process `pid`; (0, 0) when it is gone or /proc is missing."""
    rss = peak = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
    except OSError:
        pass
    if pid == "self" and not peak:  # no /proc: getrusage knows the peak (kilobytes on Linux)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return rss, peak


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class ProcessFigures:
    """One generator process, since its test started."""

    name: str
    bytes_moved: int = 0
    active_seconds: float = 0.0  # from the test's start to this report
    cpu_seconds: float = 0.0
    rss_bytes: int = 0
    peak_rss_bytes: int = 0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_moved / MEGABYTE / self.active_seconds if self.active_seconds > 0 else 0.0

    @property
    def cpu_share(self) -> float:
        """Share of one core (1.0 = a full core) while the test ran."""
        return self.cpu_seconds / self.active_seconds if self.active_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "mb_per_s": round(self.mb_per_s, 1),
            "cpu_share": round(self.cpu_share, 2),
        }


class SelfMeter:
    """Meters the process it runs in; `start()` when its test starts, `figures()` for each report."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.cpu_at_start = own_cpu_seconds()
        self.bytes_at_start = 0

    def start(self, ledger: Ledger) -> None:
        self.started = time.monotonic()
        self.cpu_at_start = own_cpu_seconds()
        self.bytes_at_start = ledger.total_bytes()

    def figures(self, ledger: Ledger, name: str) -> ProcessFigures:
        rss, peak = memory_of()
        return ProcessFigures(
            name=name,
            bytes_moved=ledger.total_bytes() - self.bytes_at_start,
            active_seconds=round(time.monotonic() - self.started, 3),
            cpu_seconds=round(own_cpu_seconds() - self.cpu_at_start, 3),
            rss_bytes=rss,
            peak_rss_bytes=peak,
        )


@dataclass
class Sample:
    """One point of the web UI's plots."""

    at: float
    mb_per_s: float
    rss_bytes: dict[str, int]  # per generator process, plus "target" when it runs here


@dataclass
class Resources:
    """On the master (or the local runner): the latest figures of every generator process, the
    target's memory when its process is known, and a history for plots."""

    target_pid: int | None = None
    processes: dict[str, ProcessFigures] = field(default_factory=dict)
    history: deque[Sample] = field(default_factory=lambda: deque(maxlen=HISTORY_SAMPLES))
    target_peak_rss_bytes: int = 0

    def reset(self) -> None:
        self.processes.clear()
        self.history.clear()

    def update(self, figures: ProcessFigures | dict[str, Any]) -> None:
        if isinstance(figures, dict):
            known = ProcessFigures.__dataclass_fields__
            figures = ProcessFigures(**{key: value for key, value in figures.items() if key in known})
        self.processes[figures.name] = figures

    def target_memory(self) -> tuple[int, int]:
        if self.target_pid is None:
            return 0, 0
        rss, peak = memory_of(self.target_pid)
        self.target_peak_rss_bytes = max(self.target_peak_rss_bytes, peak)
        return rss, self.target_peak_rss_bytes

    def sample(self, mb_per_s: float, now: float | None = None) -> Sample:
        memory = {name: figures.rss_bytes for name, figures in sorted(self.processes.items())}
        if self.target_pid is not None:
            memory["target"] = self.target_memory()[0]
        point = Sample(time.time() if now is None else now, round(mb_per_s, 1), memory)
        self.history.append(point)
        return point

    def bottlenecks(self) -> list[str]:
        """One warning per generator process that used (nearly) a whole core: it, not the target,
        set the pace, and more processes (--processes, workers) would load the target harder."""
        return [
            f"generator process {figures.name} used {figures.cpu_share:.0%} of a core "
            f"({figures.mb_per_s:.0f} MB/s): the load generator, not the target, may be the limit; "
            "add processes (--processes N) or machines"
            for figures in sorted(self.processes.values(), key=lambda f: f.name)
            if figures.cpu_share >= BOTTLENECK_CPU_SHARE
        ]

    def to_dict(self) -> dict[str, object]:
        """The summary's `resources` section."""
        workers = [figures.to_dict() for _, figures in sorted(self.processes.items())]
        target = None
        if self.target_pid is not None:
            rss, peak = self.target_memory()
            target = {"pid": self.target_pid, "rss_bytes": rss, "peak_rss_bytes": peak}
        return {
            "workers": workers,
            "peak_rss_bytes": max((w["peak_rss_bytes"] for w in workers), default=0),  # type: ignore[type-var]
            "target": target,
            "warnings": self.bottlenecks(),
        }


def process_name(runner) -> str:  # type: ignore[no-untyped-def]
    """`local` for a local runner; for a worker its host and the start of its Locust id
    (`<host>_<32 hex digits>` in full), enough to tell workers apart in a table."""
    from locust.runners import WorkerRunner

    if not isinstance(runner, WorkerRunner):
        return "local"
    host, _, unique = str(runner.client_id).rpartition("_")
    return f"{host}_{unique[:6]}" if host else unique[:12]
