"""Small raw-HTTP helpers for the reference server's tests (single requests, exact bytes)."""

from __future__ import annotations

import json

import httpx

from keelhaul.client import digest_of as sha256
from keelhaul.client.media_types import (
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)
from keelhaul.client.media_types import DOCKER_MANIFEST_LIST as DOCKER_LIST
from keelhaul.client.media_types import OCI_LAYER_GZIP as OCI_LAYER

__all__ = [
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "OCI_CONFIG",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_MANIFEST",
    "assert_oci_error",
    "descriptor",
    "oci_manifest",
    "push_blob",
    "push_image",
    "sha256",
]


def assert_oci_error(response: httpx.Response, status: int, code: str) -> dict:
    """The response has `status` and an OCI error body whose first code is `code`."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert isinstance(body.get("errors"), list) and body["errors"], body
    codes = [entry["code"] for entry in body["errors"]]
    assert codes[0] == code, codes
    assert all(isinstance(entry.get("message"), str) for entry in body["errors"])
    return body


def push_blob(http: httpx.Client, repo: str, data: bytes) -> str:
    """POST + PUT ?digest= (monolithic); returns the digest."""
    digest = sha256(data)
    start = http.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    done = http.put(
        f"{location}?digest={digest}", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert done.status_code == 201, done.text
    return digest


def descriptor(media_type: str, data: bytes, **extra: object) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def oci_manifest(config: bytes, layers: list[bytes], **extra: object) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
        **extra,
    }
    return json.dumps(document, indent=1).encode()


def push_image(
    http: httpx.Client, repo: str, reference: str, *, seed: str = "x", **extra: object
) -> tuple[str, bytes]:
    """Push a small OCI image (config + one layer) under `reference`; returns (digest, manifest bytes)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer {seed}".encode()
    push_blob(http, repo, config)
    push_blob(http, repo, layer)
    body = oci_manifest(config, [layer], **extra)
    response = http.put(
        f"/v2/{repo}/manifests/{reference}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    return sha256(body), body
