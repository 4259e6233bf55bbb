"""Fixtures for testing the reference registry core (reusable by other test folders: import them
by listing this file in their own conftest: `pytest_plugins = ["reference_server.conftest"]` is
not portable across rootdirs, so prefer copying the few lines of `registry_server`).

- `registry_server`: one EmbeddedServer per test session, no auth (OpenAccess), fresh data folder.
- `registry_url`: its base URL, e.g. "http://127.0.0.1:41234".
- `repo`: a repository name unique to the test, so tests never see each other's data.
- `http`: an httpx.Client bound to `registry_url` (raw single requests).
- `client`: a keelhaul.client.RegistryClient for multi-step flows.
- `make_registry(**config)`: a separate server with its own settings (limits, timeouts).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import httpx
import pytest

from keelhaul.client import RegistryClient
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer

_counter = itertools.count()


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    config = ServerConfig(listen_port=0, data_dir=tmp_path_factory.mktemp("registry"), auth=False)
    with EmbeddedServer(config) as server:
        yield server


@pytest.fixture(scope="session")
def registry_url(registry_server: EmbeddedServer) -> str:
    assert registry_server.url is not None
    return registry_server.url


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    test_name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:60]
    return f"t{next(_counter)}/{test_name.replace('--', '-').strip('-') or 'x'}"


@pytest.fixture
def http(registry_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry_url, timeout=30) as session:
        yield session


@pytest.fixture
def client(registry_url: str) -> Iterator[RegistryClient]:
    with RegistryClient(registry_url) as session:
        yield session


@pytest.fixture
def make_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., EmbeddedServer]]:
    started: list[EmbeddedServer] = []

    def start(**settings: object) -> EmbeddedServer:
        config = ServerConfig(listen_port=0, data_dir=tmp_path_factory.mktemp("registry"), auth=False)
        for key, value in settings.items():
            setattr(config, key, value)
        server = EmbeddedServer(config)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
