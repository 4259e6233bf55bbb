"""Images on disk in the formats real clients read and write: OCI image layouts and skopeo `dir:`.

Used to hand images built by keelhaul.client.images to skopeo/podman and to read back what they
wrote, byte for byte, so round trips can be compared by digest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keelhaul.client import media_types as mt
from keelhaul.client.content import digest_of
from keelhaul.client.images import Built, Image, ImageIndex, SourceBlob, descriptor, encode_json

REF_NAME = "org.opencontainers.image.ref.name"
DIR_VERSION = "Directory Transport Version: 1.1\n"


def _write_blob(blobs_dir: Path, body: bytes) -> str:
    digest = digest_of(body)
    algorithm, _, encoded = digest.partition(":")
    target = blobs_dir / algorithm / encoded
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes(body)
    return digest


def _blob_bytes(blob: Built | SourceBlob) -> bytes:
    if isinstance(blob, Built):
        return blob.body
    return b"".join(blob.source.iter_range(0, blob.source.size))


def _write_image(blobs_dir: Path, image: Image | ImageIndex) -> None:
    if isinstance(image, ImageIndex):
        for child in image.children:
            _write_image(blobs_dir, child)
    else:
        for blob in image.blobs:
            _write_blob(blobs_dir, _blob_bytes(blob))
    _write_blob(blobs_dir, image.manifest.body)


def write_oci_layout(path: Path, images: dict[str, Image | ImageIndex]) -> Path:
    """An OCI image layout at `path` holding `images` by tag (for `oci:PATH:TAG`)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}))
    manifests = []
    for tag, image in images.items():
        _write_image(path / "blobs", image)
        manifests.append(descriptor(image, annotations={REF_NAME: tag}))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
    (path / "index.json").write_bytes(encode_json(index))
    return path


def read_blob(layout: Path, digest: str) -> bytes:
    algorithm, _, encoded = digest.partition(":")
    return (layout / "blobs" / algorithm / encoded).read_bytes()


def layout_manifest(layout: Path, tag: str) -> Built:
    """The manifest (or index) tagged `tag` in an OCI layout, as stored bytes."""
    index = json.loads((layout / "index.json").read_bytes())
    for entry in index.get("manifests", []):
        if entry.get("annotations", {}).get(REF_NAME) == tag:
            body = read_blob(layout, entry["digest"])
            return Built(body, entry["digest"], entry["mediaType"])
    raise KeyError(f"no manifest tagged {tag!r} in {layout}")


def referenced_digests(manifest: dict[str, Any]) -> list[str]:
    """Digests of the config and layers of an image manifest, or the children of an index."""
    if "manifests" in manifest:
        return [entry["digest"] for entry in manifest["manifests"]]
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest.get("layers", []))]


def write_dir_image(path: Path, image: Image) -> Path:
    """skopeo's `dir:` transport: manifest.json, a version file and blobs named by encoded digest."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "version").write_text(DIR_VERSION)
    for blob in image.blobs:
        (path / blob.digest.partition(":")[2]).write_bytes(_blob_bytes(blob))
    (path / "manifest.json").write_bytes(image.manifest.body)
    return path


def read_dir_image(path: Path) -> tuple[Built, dict[str, bytes]]:
    """(manifest, {digest: bytes}) of a `dir:` image."""
    body = (path / "manifest.json").read_bytes()
    manifest = json.loads(body)
    blobs = {
        digest: (path / digest.partition(":")[2]).read_bytes() for digest in referenced_digests(manifest)
    }
    return Built(body, digest_of(body), manifest.get("mediaType", mt.OCI_MANIFEST)), blobs
