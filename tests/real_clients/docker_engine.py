"""A private Docker engine for the tests: Debian's dockerd as root, without systemd, vfs storage,
no iptables and no bridge (no container is ever run; build and registry commands need none of it).

Each engine lives in its own short folder under /tmp (the socket path must stay short) and trusts
one plain-HTTP registry. The CLI runs with its own DOCKER_CONFIG per caller, so `docker login`
never touches the user's ~/.docker, and with the legacy builder (Debian's docker.io has no buildx).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .commands import COMMAND_TIMEOUT

START_TIMEOUT = 60.0


class EngineUnavailable(Exception):
    """dockerd cannot start here; the message says why (the tests skip with it)."""


class DockerEngine:
    def __init__(self, insecure_registry: str) -> None:
        self.insecure_registry = insecure_registry
        self.root = Path(tempfile.mkdtemp(prefix="kh-dk-", dir="/tmp"))
        self.socket = self.root / "s"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None or shutil.which("docker") is None:
            raise EngineUnavailable("dockerd/docker are not installed (Debian package docker.io)")
        if os.geteuid() != 0:
            raise EngineUnavailable("dockerd needs root here (no rootless setup)")
        log = (self.root / "dockerd.log").open("wb")
        command = [
            dockerd,
            "--data-root", str(self.root / "d"), "--exec-root", str(self.root / "e"),
            "--pidfile", str(self.root / "p"), "-H", f"unix://{self.socket}",
            "--storage-driver", "vfs", "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--insecure-registry", self.insecure_registry,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited ({self.process.returncode}): {self.log_tail()}")
            probe = subprocess.run(
                ["docker", "version", "--format", "{{.Server.Version}}"],
                env=self.environment(self.root / "probe-config"),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.5)
        raise EngineUnavailable(f"dockerd did not answer within {START_TIMEOUT:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        path = self.root / "dockerd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def environment(self, config_dir: Path) -> dict[str, str]:
        """The CLI's environment: this engine, its own credential store, the legacy builder."""
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(config_dir),
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CLI_HINTS": "false",
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
