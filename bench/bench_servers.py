"""Start the two registries the benchmark compares, each with its own temp storage, and watch their memory.

Both run as separate processes so that their CPU and RSS are their own, never the benchmark's: the
reference server through `keelhaul serve --no-auth` (the core's `ServerProcess`), distribution through
Debian's `docker-registry serve CONFIG.yml` (the suite's one starter, tests/support/distribution.py). A
third, nginx serving the same blob as a plain file, is the practical limit for pulls.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keelhaul.errors import UsageError

# The docker-registry launcher is test support (tests/support, never installed); the benchmarks share it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.distribution import DistributionRegistry
from tests.support.distribution import free_port as any_free_port

READY_TIMEOUT_SECONDS = 30.0


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
    return port_base + offset if port_base is not None else any_free_port()


def start_distribution(workdir: Path, port: int) -> RunningServer:
    """Debian's docker-registry (distribution 2.8) on filesystem storage under `workdir`, with its
    in-memory blob descriptor cache on (distribution at its best). RuntimeError when it cannot start."""
    registry = DistributionRegistry(
        workdir, port=port, blob_cache=True, startup_timeout=READY_TIMEOUT_SECONDS
    )
    try:
        url = registry.start()
    except UsageError as error:
        raise RuntimeError(str(error)) from None
    assert registry.pid is not None
    return RunningServer("distribution", url, registry.pid, registry.log_path, registry.stop)


def start_reference(workdir: Path, port: int) -> RunningServer:
    """`keelhaul serve --no-auth` in its own process (the core's `ServerProcess`, which returns once the
    server is listening), with its data under `workdir`. RuntimeError when it cannot start."""
    from reference_server.config import ServerConfig
    from reference_server.embedded import ServerProcess

    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    config = ServerConfig(listen_host="127.0.0.1", listen_port=port, data_dir=data_dir, auth=False)
    server = ServerProcess(config, log_path=workdir / "server.log")
    url = server.start(timeout=READY_TIMEOUT_SECONDS).rstrip("/")
    if server.pid is None:
        server.stop()
        raise RuntimeError("ServerProcess started without a process id")
    return RunningServer("keelhaul", url, server.pid, server.log_path, server.stop)


# No `tcp_nopush` (TCP_CORK with sendfile), the usual production setting: on loopback here it halved
# nginx's speed on a cached 1 GiB file (0.69-1.07 s against 0.38-0.48 s, 5 GETs each; the same
# as a plain blocking sendfile loop), and the static column is meant to be the practical limit.
NGINX_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path {workdir}/client-body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark process dies, even by SIGKILL (a timeout),
    so no server outlives the run that started it (Linux prctl PR_SET_PDEATHSIG; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def start_static(workdir: Path, port: int, root: Path) -> RunningServer:
    """nginx (Debian's nginx-light) serving the files under `root` with sendfile, one process: what a
    pull of the same bytes costs without a registry, the practical limit for a blob GET. RuntimeError
    when nginx is missing or does not come up."""
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )
    if nginx is None:
        raise RuntimeError("nginx is not installed (Debian: nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(workdir=workdir, port=port, root=root))
    log = (workdir / "stderr.log").open("w")
    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", str(workdir), "-e", str(workdir / "error.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    log.close()

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {(workdir / 'error.log').read_text()[-500:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return RunningServer(
                "static", f"http://127.0.0.1:{port}", process.pid, workdir / "error.log", stop
            )
        time.sleep(0.05)
    stop()
    raise RuntimeError(f"nginx did not listen on port {port} within {READY_TIMEOUT_SECONDS:.0f} s")


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


def wait_until_idle(
    pids: Iterable[int], quiet_cpu_seconds: float = 0.01, window_seconds: float = 0.2, timeout: float = 20.0
) -> bool:
    """Block until the process trees of `pids` together use less than `quiet_cpu_seconds` of CPU in
    `window_seconds` (5% of a core by default), or `timeout` passed; True when they went quiet. A
    server's work after its answer (keelhaul caching a blob it served past the page cache, a Go
    collector) must not land in the next round, another server's."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    before = sum(tree_cpu_seconds(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(window_seconds)
        now = sum(tree_cpu_seconds(pid) for pid in pids)
        if now - before < quiet_cpu_seconds:
            return True
        before = now
    return False


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
