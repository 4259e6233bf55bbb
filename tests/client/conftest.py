"""Registries for the client's tests: the reference server (in-process) and Debian's docker-registry
(distribution 2.8.2, a child process with its own storage; tests using it skip when it is missing)."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keelhaul.client import ExchangeRecorder, RegistryClient

_counter = itertools.count()

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-500:]}")
        try:
            if httpx.get(url + "/v2/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError("docker-registry did not answer within 20 s")


@pytest.fixture(scope="session")
def reference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`keelhaul serve --no-auth` as a child process. Not EmbeddedServer: once tests/load is collected,
    Locust's gevent monkey-patching turns the server thread into a greenlet and the process hangs."""
    from keelhaul.reference_server.config import ServerConfig
    from keelhaul.reference_server.embedded import ServerProcess

    config = ServerConfig(listen_port=0, data_dir=tmp_path_factory.mktemp("reference") / "data", auth=False)
    with ServerProcess(config) as server:
        assert server.url is not None
        yield server.url


@pytest.fixture(scope="session")
def distribution_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry (distribution 2.8, Debian package docker-registry) is not installed")
    workdir = tmp_path_factory.mktemp("distribution")
    port = _free_port()
    config = workdir / "config.yml"
    config.write_text(DISTRIBUTION_CONFIG.format(root=workdir / "storage", port=port))
    log = workdir / "registry.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["reference", "distribution"])
def registry_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once against each registry."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def recorder() -> ExchangeRecorder:
    return ExchangeRecorder(limit=None)


@pytest.fixture
def client(registry_url: str, recorder: ExchangeRecorder) -> Iterator[RegistryClient]:
    with RegistryClient(registry_url, recorder=recorder) as registry_client:
        yield registry_client


@pytest.fixture
def repo() -> str:
    return f"keelhaul-client/t{next(_counter)}-{int(time.time() * 1000) % 10**8}"
