"""Debian's `docker-registry` (CNCF distribution 2.8) as a second, independent target.

The tests, the benchmarks and CI all compare the reference server with a registry nobody here wrote;
this is the one place that knows how to start it: its own storage folder, a free loopback port,
deletes enabled (so the management checks can run), and a clean stop.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from keelhaul.errors import UsageError

# No access log: the reference server writes none either, so neither pays for a line per request.
CONFIG_TEMPLATE = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
{cache}  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
# distribution's own in-memory blob descriptor cache (as in Debian's default config): the benchmarks
# turn it on so distribution is measured at its best; the tests leave it off.
BLOB_CACHE = """\
  cache:
    blobdescriptor: inmemory
"""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_binary() -> str | None:
    """The `docker-registry` executable, or None when the Debian package is not installed."""
    return shutil.which("docker-registry")


class DistributionRegistry:
    """A running `docker-registry serve` with its own storage; use as a context manager."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        port: int | None = None,
        blob_cache: bool = False,
        startup_timeout: float = 20.0,
    ) -> None:
        """`workdir` (kept after stop when given, else a temp folder that is removed) holds the config,
        `storage/` and `registry.log`; `port` None means any free loopback port."""
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="keelhaul-distribution-")) if workdir is None else workdir
        self.port = port
        self.blob_cache = blob_cache
        self.startup_timeout = startup_timeout
        self.url: str | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def start(self) -> str:
        binary = find_binary()
        if binary is None:
            raise UsageError("docker-registry is not installed (Debian package docker-registry)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = self.port or free_port()
        config = self.workdir / "config.yml"
        cache = BLOB_CACHE if self.blob_cache else ""
        config.write_text(CONFIG_TEMPLATE.format(cache=cache, root=self.workdir / "storage", port=port))
        with self.log_path.open("wb") as sink:
            # its own session: a Ctrl-C meant for the caller does not kill it before stop() runs
            self.process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"
        try:
            self._wait_ready()
        except BaseException:  # a timeout, an early exit or a Ctrl-C: leave nothing running
            self.stop()
            raise
        return self.url

    def _wait_ready(self) -> None:
        assert self.process is not None and self.url is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text()[-300:].strip()
                raise UsageError(f"docker-registry exited at start: {tail}")
            try:
                if httpx.get(self.url + "/v2/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise UsageError(f"docker-registry did not answer within {self.startup_timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DistributionRegistry:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
