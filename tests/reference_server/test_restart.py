"""Upload sessions and content survive a restart, including a kill -9 (ServerProcess)."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import httpx

from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess

from .helpers import push_image, sha256

OCTET = {"Content-Type": "application/octet-stream"}


def test_upload_session_survives_kill_and_restart(tmp_path: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    data = b"first half|" * 1000 + b"second half|" * 1000
    cut = 11_000
    server = ServerProcess(config)
    url = server.start()
    try:
        with httpx.Client(base_url=url) as http:
            digest, manifest = push_image(http, "restart/app", "v1")
            location = http.post("/v2/restart/app/blobs/uploads/").headers["Location"]
            response = http.patch(
                location, content=data[:cut], headers={**OCTET, "Content-Range": f"0-{cut - 1}"}
            )
            assert response.status_code == 202
    finally:
        server.kill()

    again = ServerProcess(config)
    url = again.start()
    try:
        with httpx.Client(base_url=url) as http:
            status = http.get(location)
            assert status.status_code == 204
            assert status.headers["Range"] == f"0-{cut - 1}"
            # The in-memory hash state is gone: the server re-hashes the file and carries on.
            response = http.patch(
                location, content=data[cut:], headers={**OCTET, "Content-Range": f"{cut}-{len(data) - 1}"}
            )
            assert response.status_code == 202
            done = http.put(f"{location}?digest={sha256(data)}")
            assert done.status_code == 201, done.text
            assert http.get(f"/v2/restart/app/blobs/{sha256(data)}").content == data
            got = http.get("/v2/restart/app/manifests/v1")
            assert got.content == manifest and got.headers["Docker-Content-Digest"] == digest
    finally:
        again.stop()


def test_graceful_stop_and_restart_keeps_finished_blobs(tmp_path: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    with ServerProcess(config) as server, httpx.Client(base_url=server.url) as http:
        response = http.post(
            f"/v2/keep/me/blobs/uploads/?digest={sha256(b'kept')}", content=b"kept", headers=OCTET
        )
        assert response.status_code == 201
    with ServerProcess(config) as server, httpx.Client(base_url=server.url) as http:
        assert http.get(f"/v2/keep/me/blobs/{sha256(b'kept')}").content == b"kept"


def test_kill_during_a_chunk_leaves_a_resumable_prefix(tmp_path: Path) -> None:
    """kill -9 while a PATCH streams: after restart the session reports how much arrived, and the
    upload completes from there with the right digest (no partial blob is ever visible)."""
    piece = bytes(range(256)) * 4096  # 1 MiB
    data = piece * 24
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    server = ServerProcess(config)
    url = server.start()
    with httpx.Client(base_url=url) as http:
        location = http.post("/v2/crash/app/blobs/uploads/").headers["Location"]
    sent = threading.Event()

    def slow_body():  # type: ignore[no-untyped-def]
        for index in range(24):
            if index == 8:
                sent.set()
            yield piece
            time.sleep(0.05)

    def stream() -> None:
        with httpx.Client(base_url=url) as http, contextlib.suppress(httpx.HTTPError):
            http.patch(location, content=slow_body(), headers=OCTET)

    worker = threading.Thread(target=stream)
    worker.start()
    sent.wait(30)
    time.sleep(0.2)
    server.kill()
    worker.join(30)

    again = ServerProcess(config)
    url = again.start()
    try:
        with httpx.Client(base_url=url) as http:
            assert http.head(f"/v2/crash/app/blobs/{sha256(data)}").status_code == 404
            status = http.get(location)
            assert status.status_code == 204
            received = int(status.headers["Range"].split("-")[1]) + 1
            assert 0 < received < len(data)
            rest = http.patch(
                location,
                content=data[received:],
                headers={**OCTET, "Content-Range": f"{received}-{len(data) - 1}"},
            )
            assert rest.status_code == 202, rest.text
            assert http.put(f"{location}?digest={sha256(data)}").status_code == 201
            assert http.get(f"/v2/crash/app/blobs/{sha256(data)}").content == data
    finally:
        again.stop()
