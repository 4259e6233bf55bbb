"""LIM-1…3 with the ghcr.io model on: the limits hold for authenticated pushes, and are configurable.

A server with tiny limits (1000-byte layers, 1 s upload expiry, 4096-byte manifests) stands in for
the real ones (10 GB, 600 s, 4 MiB), which the core's own slow tests exercise at full size.
"""

from __future__ import annotations

import time

import pytest

from keelhaul.client.images import sample_image

from .world import World, start_world

REPO = "alice/limits"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    world = start_world(
        tmp_path_factory.mktemp("limits"),
        max_layer_bytes=1000,
        upload_timeout_seconds=1,
        max_manifest_bytes=4096,
    )
    yield world
    world.server.stop()
    world.admin.close()


def test_layer_over_the_limit_is_refused(small: World) -> None:
    """LIM-1: a blob above the layer limit is refused, and nothing of it is kept."""
    with small.client("owner") as client:
        result = client.upload_monolithic(REPO, b"x" * 1001)
        response = result.responses[-1]
        assert response.status_code in (400, 413), response.text
        assert client.head_blob(REPO, result.digest).status_code == 404
        assert client.upload_monolithic(REPO, b"y" * 1000).responses[-1].status_code == 201


def test_upload_session_expires(small: World) -> None:
    """LIM-2: expiry counts from the session's start (the reference server's declared choice)."""
    with small.client("owner") as client:
        started = client.request("POST", f"/v2/{REPO}/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["Location"]
        time.sleep(1.5)
        late = client.request(
            "PATCH", location, content=b"abc", headers={"Content-Type": "application/octet-stream"}
        )
    assert late.status_code == 404 and late.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_manifest_over_the_limit_is_refused(small: World) -> None:
    """LIM-3: above the configured manifest size: 413 with a clear error."""
    image = sample_image("limits-small")
    assert small.push("owner", REPO, "v1", image).status_code == 201
    with small.client("owner") as client:
        response = client.put_manifest(REPO, "big", b"{" + b" " * 5000 + b"}", image.media_type)
    assert response.status_code == 413
