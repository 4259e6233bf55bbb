"""Real container clients against `keelhaul serve --no-auth` (issue 2 acceptance) and, in
test_token_auth.py, against `keelhaul serve` with its token service.

The server runs as a child process (ServerProcess: the same `keelhaul serve` a user runs). podman and
buildah run daemonless as root with vfs storage in temporary folders. A missing binary skips the
tests that need it, with the reason.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keelhaul.client import RegistryClient

from .commands import need, run


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from reference_server.config import ServerConfig
    from reference_server.embedded import ServerProcess

    data = tmp_path_factory.mktemp("serve") / "data"
    with ServerProcess(
        ServerConfig(listen_host="127.0.0.1", listen_port=0, data_dir=data, auth=False)
    ) as server:
        assert server.url is not None
        yield server.url


@pytest.fixture(scope="session")
def registry_host(registry_url: str) -> str:
    """host:port, as container clients name a registry."""
    return registry_url.split("://", 1)[1]


@pytest.fixture
def client(registry_url: str) -> Iterator[RegistryClient]:
    with RegistryClient(registry_url) as registry_client:
        yield registry_client


@pytest.fixture
def repo() -> str:
    return f"real-clients/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def skopeo() -> Callable[..., str]:
    binary = need("skopeo")

    def skopeo_run(*args: str) -> str:
        return run(binary, "--insecure-policy", *args)

    return skopeo_run


def _daemonless(binary: str, storage: Path, extra: tuple[str, ...] = ()) -> Callable[..., str]:
    base = (
        binary,
        "--storage-driver",
        "vfs",
        "--root",
        str(storage / "root"),
        "--runroot",
        str(storage / "run"),
    )

    def tool_run(*args: str) -> str:
        return run(*base, *extra, *args)

    return tool_run


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary folder: podman refuses a runroot longer than 50 characters."""
    path = Path(tempfile.mkdtemp(prefix="kh-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def podman(short_tmp: Path) -> Callable[..., str]:
    return _daemonless(
        need("podman"), short_tmp, ("--cgroup-manager", "cgroupfs", "--events-backend", "file")
    )


@pytest.fixture
def buildah(short_tmp: Path) -> Callable[..., str]:
    return _daemonless(need("buildah"), short_tmp)
