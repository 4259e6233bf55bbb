"""Fixtures several test folders share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`keelhaul serve` with auth (a child process): user alice, her source repository alice/app
    (https://github.com/alice/app, for packages linked by their source label), a `writer` and a
    `reader` PAT."""
    admin_module = pytest.importorskip("reference_server.ghcr.admin")
    from reference_server.config import ServerConfig
    from reference_server.embedded import ServerProcess

    data: Path = tmp_path_factory.mktemp("auth-server") / "data"
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        admin = admin_module.Admin(data)
        try:
            admin.create_user("alice")
            admin.create_repository("alice/app", url="https://github.com/alice/app")
            tokens = {
                "writer": admin.create_token("alice", ["write:packages"]).token,
                "reader": admin.create_token("alice", ["read:packages"]).token,
            }
        finally:
            admin.close()
        assert server.url is not None
        yield server.url, tokens


@pytest.fixture
def headless_chromium() -> Callable[[Path], list[str]]:
    """The Chromium command line (without URL and output flags) for rendering a page here: headless,
    as root, and with nothing that reaches for the network on its own."""

    def command(profile: Path) -> list[str]:
        return [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
        ]

    return command
