"""A full disk is named, retriable and logged once (issue 15, finding 3), on a real 64 MiB tmpfs.

Needs root (mount). Before the fix this answered 500 UNSUPPORTED with a traceback per request."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer

from .helpers import OCI_MANIFEST, assert_oci_error, oci_manifest, push_blob, sha256

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Write a filler file until the filesystem says ENOSPC; returns it (delete it to free space)."""
    filler = disk / "filler"
    block = b"\0" * (1024 * 1024)
    with open(filler, "wb", buffering=0) as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(block)
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
    probe = disk / "probe"
    with pytest.raises(OSError) as error, open(probe, "wb", buffering=0) as handle:
        handle.write(b"\0" * 8192)
    assert error.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


def assert_insufficient_storage(response: httpx.Response, storage: str) -> None:
    body = assert_oci_error(response, 507, "UNAVAILABLE")
    assert body["errors"][0]["detail"]["storage"] == storage, body
    assert "full" in body["errors"][0]["message"]
    assert int(response.headers["Retry-After"]) > 0


def test_full_disk_answers_507_naming_the_store_and_recovers(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = ServerConfig(listen_port=0, data_dir=small_disk / "data", auth=False, direct_io=False)
    config_blob = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    layer = os.urandom(2 * 1024 * 1024)
    # A manifest big enough that SQLite must grow its files to store it.
    manifest = oci_manifest(config_blob, [b"x"], annotations={"pad": "p" * (2 * 1024 * 1024)})
    with EmbeddedServer(config) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        push_blob(http, "full/disk", config_blob)
        push_blob(http, "full/disk", b"x")
        filler = fill(small_disk)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="reference_server"):
            for _ in range(5):
                response = http.post(f"/v2/full/disk/blobs/uploads/?digest={sha256(layer)}", content=layer)
                assert_insufficient_storage(response, "blob store")
            for _ in range(3):
                response = http.put(
                    "/v2/full/disk/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
                )
                assert_insufficient_storage(response, "metadata database")
            # Nothing half-written is visible.
            assert http.get(f"/v2/full/disk/blobs/{sha256(layer)}").status_code == 404
            assert http.get("/v2/full/disk/manifests/v1").status_code == 404
            exhausted = [r for r in caplog.records if "storage exhausted" in r.getMessage()]
            assert len(exhausted) == 1, [r.getMessage() for r in caplog.records]
            assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"

            filler.unlink()
            response = http.post(f"/v2/full/disk/blobs/uploads/?digest={sha256(layer)}", content=layer)
            assert response.status_code == 201, response.text
            response = http.put(
                "/v2/full/disk/manifests/v1", content=manifest, headers={"Content-Type": OCI_MANIFEST}
            )
            assert response.status_code == 201, response.text
            assert http.get("/v2/full/disk/manifests/v1").content == manifest
            assert any("storage writable again" in r.getMessage() for r in caplog.records)
