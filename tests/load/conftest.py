"""Fixtures for the load suite's tests: an embedded reference server and a Locust environment wired
with the keelhaul options and listeners, as `locust -f load/locustfile.py` would have it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import locust
import pytest
from locust import argument_parser
from locust.env import Environment

from load import hooks
from load.options import add_options
from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The reference server in a child process: Locust's gevent monkey-patching (active in every
    pytest run, through Locust's auto-loaded plugin) turns EmbeddedServer's thread into a greenlet,
    so its asyncio loop would block the test process."""
    config = ServerConfig(
        listen_port=0,
        data_dir=tmp_path_factory.mktemp("load-registry") / "data",
        auth=False,
        upload_timeout_seconds=2,
    )
    with ServerProcess(config) as server:
        assert server.url
        yield server.url


def parse_locust_options(args: list[str]):  # type: ignore[no-untyped-def]
    """Locust's own parser plus the keelhaul options, parsing `args` as a command line would."""
    parser = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(parser)
    add_options(parser)
    return parser.parse_args(["-f", str(Path(hooks.__file__).with_name("locustfile.py")), *args])


def make_environment(user_classes: list, args: list[str]) -> Environment:  # type: ignore[type-arg]
    options = parse_locust_options(args)
    environment = Environment(
        user_classes=user_classes,
        events=locust.events,
        host=options.host,
        parsed_options=options,
        stop_timeout=options.stop_timeout,
    )
    return environment
