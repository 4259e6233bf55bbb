"""Start the two registries the benchmark compares, each with its own temp storage, and watch their memory.

Both run as separate processes so that their CPU and RSS are their own, never the benchmark's: the
reference server through `keelhaul serve --no-auth` (via `ServerProcess` when the core provides it),
distribution through Debian's `docker-registry serve CONFIG.yml`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

READY_TIMEOUT_SECONDS = 30.0

# Quiet logging: the reference server writes no access log either, so distribution is not slowed down
# by a per-request log line that the other side does not pay for (this makes its figures a little better).
DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@dataclass
class RunningServer:
    """A registry under test: where to reach it, which process to watch, how to stop it."""

    name: str
    url: str
    pid: int
    log_path: Path | None
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        self._stop()


def free_port(port_base: int | None, offset: int) -> int:
    """A TCP port on 127.0.0.1: `port_base + offset` when a fixed range is asked for, else any free one."""
    if port_base is not None:
        return port_base + offset
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen[bytes] | None, log_path: Path | None) -> None:
    """Poll `GET /v2/` until the registry answers (any HTTP status counts: it is listening)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}; {_log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/v2/", timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: not answering after {READY_TIMEOUT_SECONDS:.0f} s; {_log_tail(log_path)}")


def _log_tail(log_path: Path | None) -> str:
    if log_path is None or not log_path.exists():
        return "no log"
    return "log tail: " + log_path.read_text(errors="replace")[-600:].strip()


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_distribution(workdir: Path, port: int) -> RunningServer:
    """Debian's docker-registry (distribution 2.8) on filesystem storage under `workdir`."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed (Debian package docker-registry)")
    root = workdir / "storage"
    root.mkdir(parents=True)
    config_path = workdir / "config.yml"
    config_path.write_text(DISTRIBUTION_CONFIG.format(root=root, port=port))
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path)
    except BaseException:
        _stop_process(process)
        raise
    return RunningServer("distribution", url, process.pid, log_path, lambda: _stop_process(process))


def start_reference(workdir: Path, port: int) -> RunningServer:
    """`keelhaul serve --no-auth` in its own process, with its data under `workdir`."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    embedded = _start_with_server_process(data_dir, port, workdir / "server.log")
    if embedded is not None:
        return embedded
    log_path = workdir / "server.log"
    command = [sys.executable, "-m", "keelhaul", "serve", "--listen", f"127.0.0.1:{port}"]
    command += ["--data", str(data_dir), "--no-auth"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path)
    except BaseException:
        _stop_process(process)
        raise
    return RunningServer("keelhaul", url, process.pid, log_path, lambda: _stop_process(process))


def _start_with_server_process(data_dir: Path, port: int, log_path: Path) -> RunningServer | None:
    """Use the core's own `ServerProcess` launcher when it exists; None means: launch it by hand."""
    try:
        from keelhaul.reference_server.config import ServerConfig
        from keelhaul.reference_server.embedded import ServerProcess
    except ImportError:
        return None
    config = ServerConfig(listen_host="127.0.0.1", listen_port=port, data_dir=data_dir, auth=False)
    server = ServerProcess(config, log_path=log_path)
    url = server.start().rstrip("/")
    if server.pid is None:
        server.stop()
        raise RuntimeError("ServerProcess started without a process id")
    wait_until_ready(url, None, log_path)
    return RunningServer("keelhaul", url, server.pid, log_path, server.stop)


def _proc_status_kib(pid: int, key: str) -> int:
    """One `kB` field of /proc/PID/status (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a server may fork workers; their memory is the server's too)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry.name}/stat") as stat:
            # The command name may hold spaces; the fields after the closing parenthesis do not.
            parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def tree_rss_bytes(pid: int, key: str = "VmRSS") -> int:
    """Resident memory of the tree; `key="RssAnon"` leaves out file pages a server merely maps."""
    return sum(_proc_status_kib(member, key) for member in process_tree(pid)) * 1024


def tree_hwm_bytes(pid: int) -> int:
    """Sum of each process's lifetime peak RSS (VmHWM): an upper bound of the tree's peak."""
    return sum(_proc_status_kib(member, "VmHWM") for member in process_tree(pid)) * 1024


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by the tree (all threads): a cost that, unlike throughput,
    barely changes when other work competes for the cores."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{member}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / _CLOCK_TICKS


class RssSampler:
    """Polls the RSS of a process tree in a background thread and keeps the highest value seen."""

    def __init__(self, pid: int, interval_seconds: float = 0.02) -> None:
        self.pid = pid
        self.interval_seconds = interval_seconds
        self.peak_bytes = 0
        self.peak_anon_bytes = 0
        self.samples = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            self._sample()
            self._done.wait(self.interval_seconds)

    def _sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self.pid))
        self.peak_anon_bytes = max(self.peak_anon_bytes, tree_rss_bytes(self.pid, "RssAnon"))
        self.samples += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[RssSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._done.set()
            self._thread.join()
            self._sample()
