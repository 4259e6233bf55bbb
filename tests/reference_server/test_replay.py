"""The replay of answers to repeated identical manifest reads (reference_server/http/replay.py):
exact bytes but the Date, never across a change of what the answer shows, never on a connection
whose bytes aiohttp has not fully parsed, and never for a request that differs in any byte."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reference_server import serve_cli
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer
from reference_server.http.app import REGISTRY_KEY, REPLAY_KEY
from reference_server.http.replay import ReplayCache, is_lone_head, leaves_parser_empty
from reference_server.storage.metadata import MetadataStore
from tests.support.raw_http import RawConnection

from .helpers import OCI_MANIFEST, push_blob, push_image

ACCEPT = f"Accept: {OCI_MANIFEST}"


@pytest.fixture
def server(make_registry: Callable[..., EmbeddedServer]) -> EmbeddedServer:
    return make_registry()


def replay_of(server: EmbeddedServer) -> ReplayCache:
    assert server.app is not None
    return server.app[REPLAY_KEY]


def pushed(server: EmbeddedServer, repo: str, tag: str, seed: str = "x") -> str:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        digest, _ = push_image(http, repo, tag, seed=seed)
    return digest


def test_a_repeated_read_is_replayed_byte_for_byte_but_the_date(server: EmbeddedServer) -> None:
    digest = pushed(server, "o/app", "v1")
    replay = replay_of(server)
    with RawConnection(server.url) as connection:
        first = connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT)
        assert replay.replayed == 0
        again = [connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT) for _ in range(3)]
    assert replay.replayed == 3
    assert first.status == 200 and first.headers["docker-content-digest"] == digest
    assert "date" in first.headers
    for answer in again:
        assert answer.without_date() == first.without_date()
        assert "date" in answer.headers


def test_head_is_replayed_without_a_body_and_the_connection_stays_in_step(server: EmbeddedServer) -> None:
    digest = pushed(server, "o/app", "v1")
    with RawConnection(server.url) as connection:
        heads = [connection.exchange("HEAD", f"/v2/o/app/manifests/{digest}", ACCEPT) for _ in range(3)]
        after = connection.exchange("GET", f"/v2/o/app/manifests/{digest}", ACCEPT)
    assert replay_of(server).replayed == 2
    for head in heads:
        assert head.status == 200 and head.body == b""
        assert int(head.headers["content-length"]) == len(after.body)
    assert after.status == 200 and after.headers["docker-content-digest"] == digest


def test_a_retag_delete_or_other_process_write_ends_the_replay_at_once(server: EmbeddedServer) -> None:
    pushed(server, "o/app", "v1", seed="one")
    replay = replay_of(server)
    with RawConnection(server.url) as connection:
        read = lambda: connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT)  # noqa: E731
        read(), read()
        assert replay.replayed == 1
        moved_to = pushed(server, "o/app", "v1", seed="two")  # the tag now names another manifest
        assert read().headers["docker-content-digest"] == moved_to
        assert read().headers["docker-content-digest"] == moved_to
        assert replay.replayed == 2
        with httpx.Client(base_url=server.url) as http:
            assert http.delete("/v2/o/app/manifests/v1").status_code == 202
        assert read().status == 404
        pushed(server, "o/app", "v1", seed="three")
        read(), read()
        replayed = replay.replayed
        assert server.app is not None
        other = MetadataStore(server.app[REGISTRY_KEY].config.data_dir / "registry.db")
        try:
            assert other.delete_tag("o/app", "v1")  # as `keelhaul admin` or a second server would
        finally:
            other.close()
        assert read().status == 404
        assert replay.replayed == replayed


def test_a_request_differing_in_any_byte_is_its_own(server: EmbeddedServer) -> None:
    pushed(server, "o/app", "v1")
    replay = replay_of(server)
    with RawConnection(server.url) as connection:
        connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT)
        other = connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT, "X-Trace: 1")
        assert replay.replayed == 0 and other.status == 200
        missing = connection.exchange("GET", "/v2/o/app/manifests/v2", ACCEPT)
        missing_again = connection.exchange("GET", "/v2/o/app/manifests/v2", ACCEPT)
    assert missing.status == missing_again.status == 404  # only 200 answers are kept
    assert replay.replayed == 0


def test_pipelined_split_or_bodied_requests_go_through_aiohttp(server: EmbeddedServer) -> None:
    digest = pushed(server, "o/app", "v1")
    replay = replay_of(server)
    with RawConnection(server.url) as connection:
        one = connection.request_bytes("GET", "/v2/o/app/manifests/v1", ACCEPT)
        connection.send(one)
        connection.read_answer()  # kept
        connection.send(one + one)  # two requests at once: not one lone head
        pipelined = [connection.read_answer(), connection.read_answer()]
        assert replay.replayed == 0
        assert [answer.headers["docker-content-digest"] for answer in pipelined] == [digest, digest]
        connection.send(one[:20])
        connection.send(one[20:])  # a head in two pieces: aiohttp held a part, so never again here
        assert connection.read_answer().status == 200
        assert connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT).status == 200
        assert replay.replayed == 0
    with RawConnection(server.url) as connection:
        connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT)
        assert replay.replayed == 1  # a fresh connection: kept answers serve it
        body = b"not a manifest"
        connection.send(
            connection.request_bytes(
                "POST", "/v2/o/app/blobs/uploads/?digest=sha256:" + "0" * 64, f"Content-Length: {len(body)}"
            )
            + body
        )
        assert connection.read_answer().status == 400  # digest mismatch
        assert connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT).status == 200
    assert replay.replayed == 1  # a body went through aiohttp's parser there: not replayed on


def test_replay_can_be_turned_off(make_registry: Callable[..., EmbeddedServer], tmp_path: Path) -> None:
    """`keelhaul serve --no-replay`: every read through the full request path."""
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False, replay=False)
    parser = argparse.ArgumentParser()
    serve_cli.register(parser.add_subparsers())
    assert "--no-replay" in config.to_cli_args()
    assert serve_cli.config_from_args(parser.parse_args(["serve", *config.to_cli_args()])) == config
    server = make_registry(replay=False)
    pushed(server, "o/app", "v1")
    with RawConnection(server.url) as connection:
        answers = [connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT) for _ in range(3)]
    assert [answer.status for answer in answers] == [200] * 3
    assert replay_of(server).replayed == 0 and len(replay_of(server)) == 0


def test_the_budget_bounds_what_is_kept(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry()
    replay = replay_of(server)
    replay.budget_bytes = 24 * 1024  # room for a few entries of ~1.5 KB (one eighth each at most)
    with httpx.Client(base_url=server.url) as http:
        for index in range(40):
            push_blob(http, "o/app", b"{}")
            push_image(http, "o/app", f"t{index}", seed=str(index))
    with RawConnection(server.url) as connection:
        for index in range(40):
            assert connection.exchange("GET", f"/v2/o/app/manifests/t{index}", ACCEPT).status == 200
    assert 0 < len(replay) < 40
    assert replay._used <= replay.budget_bytes


@pytest.mark.parametrize(
    ("data", "lone", "clean"),
    [
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", True, True),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n", False, False),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n", False, False),
        (b"PUT /v2/a/manifests/b HTTP/1.1\r\nHost: x\r\ncontent-LENGTH: 0\r\n\r\n", True, False),
        (b"POST /v2/a/blobs/uploads/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", True, False),
        (b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", True, False),
        (b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", True, False),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nX", False, False),
    ],
    ids=["one-get", "pipelined", "partial", "content-length", "chunked", "upgrade", "connect", "trailing"],
)
def test_what_counts_as_a_lone_head_and_a_clean_parser(data: bytes, lone: bool, clean: bool) -> None:
    assert is_lone_head(data) is lone
    assert leaves_parser_empty(data) is clean


def test_replayed_requests_keep_the_connection_alive(make_registry: Callable[..., EmbeddedServer]) -> None:
    """aiohttp closes a connection idle for the keep-alive timeout; replayed requests count as activity."""
    server = make_registry(idle_timeout_seconds=0.5)
    pushed(server, "o/app", "v1")
    with RawConnection(server.url) as connection:
        deadline = time.monotonic() + 1.5
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(connection.exchange("GET", "/v2/o/app/manifests/v1", ACCEPT).status)
            time.sleep(0.1)
    assert set(statuses) == {200}
    assert replay_of(server).replayed == len(statuses) - 1
