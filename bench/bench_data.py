"""Files the benchmark pushes: big blobs (written once, hashed while written), their chunks, and one
small OCI image (config, layer, manifest) for the manifest-GET phase."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

WRITE_BLOCK = 16 * 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class BlobFile:
    path: Path
    size: int
    digest: str


def write_blob_file(path: Path, size: int, seed: int) -> BlobFile:
    """`size` incompressible bytes: one random block, each copy stamped with the seed and its index so
    no two blocks (and no two files) are equal; far cheaper than `os.urandom` for gigabytes."""
    block = bytearray(os.urandom(WRITE_BLOCK))
    digest = hashlib.sha256()
    written, index = 0, 0
    with path.open("wb") as out:
        while written < size:
            block[:16] = seed.to_bytes(8, "big") + index.to_bytes(8, "big")
            piece = memoryview(block)[: min(WRITE_BLOCK, size - written)]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
            index += 1
        _flush_to_disk(out)
    return BlobFile(path, size, "sha256:" + digest.hexdigest())


def _flush_to_disk(out: BinaryIO) -> None:
    """Write our test files back now, so the kernel's writeback of them does not compete with the
    first timed push for the disk."""
    out.flush()
    os.fsync(out.fileno())


def split_into_chunks(blob: BlobFile, chunk_size: int, directory: Path) -> list[Path]:
    """The blob as consecutive chunk files, so curl can stream each PATCH body with `-T`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with blob.path.open("rb") as source:
        while piece := source.read(chunk_size):
            chunk = directory / f"chunk-{len(paths):05d}"
            with chunk.open("wb") as out:
                out.write(piece)
                _flush_to_disk(out)
            paths.append(chunk)
    return paths


@dataclass(frozen=True)
class ImageFixture:
    """A one-layer OCI image ready to push: blobs first, then the manifest by tag."""

    config: BlobFile
    layer: BlobFile
    manifest_path: Path
    manifest_digest: str
    media_type: str = OCI_MANIFEST


def _blob_from_bytes(path: Path, content: bytes) -> BlobFile:
    path.write_bytes(content)
    return BlobFile(path, len(content), "sha256:" + hashlib.sha256(content).hexdigest())


def write_image_fixture(directory: Path) -> ImageFixture:
    """A real (tiny) image: a gzipped tar layer, a config whose diff_id matches it, a manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as archive:
        content = b"keelhaul benchmark\n"
        member = tarfile.TarInfo("bench.txt")
        member.size = len(content)
        archive.addfile(member, io.BytesIO(content))
    uncompressed = tar_bytes.getvalue()
    layer = _blob_from_bytes(directory / "layer.tar.gz", gzip.compress(uncompressed, mtime=0))
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()]},
    }
    config = _blob_from_bytes(directory / "config.json", json.dumps(config_doc).encode())
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
    }
    manifest = _blob_from_bytes(directory / "manifest.json", json.dumps(manifest_doc, indent=2).encode())
    return ImageFixture(config, layer, manifest.path, manifest.digest)
