"""Our aiohttp connection protocol (runtime.RegistryRequestHandler): requests aiohttp rejects before
any handler runs still get an OCI error body, and the foreign-write check of the manifest cache is
skipped only for requests that arrived before the last check (storage.metadata.REQUEST_RECEIVED_NS)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from reference_server.embedded import EmbeddedServer
from reference_server.http.app import REGISTRY_KEY
from reference_server.storage.metadata import REQUEST_RECEIVED_NS, ManifestRecord, MetadataStore

from .helpers import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _raw_exchange(url: str, raw: bytes) -> bytes:
    """Send `raw`, read until the server closes the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"GARBAGE\r\n\r\n", "Invalid method"),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "Invalid header token"),
        (b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "Content-Length"),
        (
            b"POST /v2/p/q/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"ZZZ\r\nabc\r\n0\r\n\r\n",
            "chunk size",
        ),
    ],
    ids=["request-line", "header", "content-length", "chunked-encoding"],
)
def test_unparsable_requests_get_an_oci_error_body(registry_url: str, raw: bytes, reason: str) -> None:
    response = _raw_exchange(registry_url, raw)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split(" ")[1] == "400"
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"].startswith("application/json")
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    errors = json.loads(body)["errors"]
    assert [entry["code"] for entry in errors] == ["UNSUPPORTED"]
    assert reason in errors[0]["message"] and errors[0]["message"].startswith("malformed HTTP request")


def test_server_still_answers_after_malformed_requests(registry_url: str) -> None:
    _raw_exchange(registry_url, b"GARBAGE\r\n\r\n")
    assert httpx.get(registry_url + "/v2/").status_code == 200


def _record(repo: str, body: bytes) -> ManifestRecord:
    return ManifestRecord(repo, sha256(body), OCI_MANIFEST, body)


def test_check_is_skipped_only_for_requests_received_before_it(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    server_side, admin = MetadataStore(path), MetadataStore(path)
    server_side.put_manifest(_record("o/app", b"one"), ["v1"])
    early = time.monotonic_ns()  # a request that arrived now...
    token = REQUEST_RECEIVED_NS.set(early)
    try:
        assert server_side.resolve_tag("o/app", "v1") is not None  # ...checks (and caches)
        assert admin.delete_tag("o/app", "v1")
        # Same request still: it arrived before that check began, so the check covers it (the
        # delete may be ordered after it).
        assert server_side.resolve_tag("o/app", "v1") is not None
        REQUEST_RECEIVED_NS.set(time.monotonic_ns())  # a request sent after the delete
        assert server_side.resolve_tag("o/app", "v1") is None
    finally:
        REQUEST_RECEIVED_NS.reset(token)
    assert REQUEST_RECEIVED_NS.get() is None


def test_running_server_sees_another_process_deleting_a_tag(
    make_registry: Callable[..., EmbeddedServer],
) -> None:
    """Writes through a second store on the same data folder (what `keelhaul admin` and a second
    server do) are visible to the very next request, even with the manifest cached."""
    server = make_registry()
    registry = server.app[REGISTRY_KEY]
    config_blob = b"{}"
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config_blob),
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    with httpx.Client(base_url=server.url) as http:
        assert (
            http.post(
                f"/v2/o/app/blobs/uploads/?digest={sha256(config_blob)}", content=config_blob
            ).status_code
            == 201
        )
        headers = {"Content-Type": OCI_MANIFEST}
        assert http.put("/v2/o/app/manifests/v1", content=body, headers=headers).status_code == 201
        for _ in range(3):
            assert http.get("/v2/o/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200
        other = MetadataStore(registry.config.data_dir / "registry.db")
        try:
            assert other.delete_tag("o/app", "v1")
        finally:
            other.close()
        assert http.get("/v2/o/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 404
