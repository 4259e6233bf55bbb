"""Registries for the client's tests: the reference server (in-process) and Debian's docker-registry
(distribution 2.8.2, a child process with its own storage; tests using it skip when it is missing)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest

from keelhaul.client import ExchangeRecorder, RegistryClient
from tests.support.distribution import DistributionRegistry, find_binary

_counter = itertools.count()


@pytest.fixture(scope="session")
def reference_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`keelhaul serve --no-auth` as a child process. Not EmbeddedServer: once tests/load is collected,
    Locust's gevent monkey-patching turns the server thread into a greenlet and the process hangs."""
    from reference_server.config import ServerConfig
    from reference_server.embedded import ServerProcess

    config = ServerConfig(listen_port=0, data_dir=tmp_path_factory.mktemp("reference") / "data", auth=False)
    with ServerProcess(config) as server:
        assert server.url is not None
        yield server.url


@pytest.fixture(scope="session")
def distribution_url() -> Iterator[str]:
    if find_binary() is None:
        pytest.skip("docker-registry (distribution 2.8, Debian package docker-registry) is not installed")
    with DistributionRegistry() as registry:
        assert registry.url is not None
        yield registry.url


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
