"""Test content with exactly known bytes, built per check (small, so the OCI run stays fast).

Manifests here are crafted on purpose the way the official suite crafts them (pretty-printed,
with an unknown field) so byte-exact storage is checked, not assumed. Real-image builders for the
ghcr checks live in keelhaul.client.images.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from keelhaul.client import digest_of
from keelhaul.client import media_types as mt

UNKNOWN_FIELD = "keelhaulUnspecifiedField"  # registries must keep unknown fields byte for byte


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str = mt.OCTET_STREAM

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Manifest:
    body: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digest_of(self.body)

    @property
    def size(self) -> int:
        return len(self.body)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size, **extra}


@dataclass(frozen=True)
class Image:
    """A config, its layers and the manifest naming them."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: Manifest
    blobs: tuple[Blob, ...] = field(default=())

    @property
    def all_blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


def layer(seed: str, size: int = 256) -> Blob:
    """A small real tar.gz layer whose bytes depend only on `seed`."""
    payload = (seed.encode() * (size // max(len(seed), 1) + 1))[:size]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(f"keelhaul/{seed}.txt")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    import gzip

    return Blob(gzip.compress(raw.getvalue(), mtime=0), mt.OCI_LAYER_GZIP)


def config(seed: str, labels: dict[str, str] | None = None) -> Blob:
    document = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.keelhaul.seed": seed, **(labels or {})}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return Blob(json.dumps(document, sort_keys=True).encode(), mt.OCI_CONFIG)


def manifest_body(
    config_descriptor: dict[str, Any],
    layers: list[dict[str, Any]],
    *,
    media_type: str | None = mt.OCI_MANIFEST,
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
    pretty: bool = True,
) -> bytes:
    document: dict[str, Any] = {"schemaVersion": 2}
    if media_type:
        document["mediaType"] = media_type
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = config_descriptor
    document["layers"] = layers
    if subject:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    document[UNKNOWN_FIELD] = None
    return json.dumps(document, indent=3 if pretty else None).encode()


def image(seed: str, layer_count: int = 1, media_type: str = mt.OCI_MANIFEST) -> Image:
    """An OCI (or Docker v2) image: one config, `layer_count` small layers, a pretty manifest."""
    docker = media_type == mt.DOCKER_MANIFEST
    cfg = config(seed)
    if docker:
        cfg = Blob(cfg.data, mt.DOCKER_CONFIG)
    layers = tuple(layer(f"{seed}-{i}") for i in range(layer_count))
    if docker:
        layers = tuple(Blob(item.data, mt.DOCKER_LAYER_GZIP) for item in layers)
    body = manifest_body(cfg.descriptor(), [item.descriptor() for item in layers], media_type=media_type)
    return Image(cfg, layers, Manifest(body, media_type))


EMPTY_CONFIG = Blob(mt.EMPTY_JSON, mt.OCI_EMPTY)


def artifact(
    seed: str,
    subject: Manifest | dict[str, Any],
    *,
    artifact_type: str | None = None,
    config_media_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    """A referrer: an artifact manifest whose `subject` is the given manifest (pushed or not)."""
    cfg = EMPTY_CONFIG if config_media_type is None else Blob(mt.EMPTY_JSON, config_media_type)
    payload = Blob(f"artifact {seed}".encode(), "application/vnd.keelhaul.payload")
    subject_descriptor = subject.descriptor() if isinstance(subject, Manifest) else subject
    body = manifest_body(
        cfg.descriptor(),
        [payload.descriptor()],
        subject=subject_descriptor,
        artifact_type=artifact_type,
        annotations=annotations,
    )
    return Image(cfg, (payload,), Manifest(body, mt.OCI_MANIFEST))


def index_body(
    manifests: list[dict[str, Any]],
    *,
    media_type: str = mt.OCI_INDEX,
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["manifests"] = manifests
    if subject:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    return Manifest(json.dumps(document, indent=2).encode(), media_type)


def missing_digest(seed: str) -> str:
    """The digest of content no registry holds (deterministic per seed)."""
    return digest_of(f"keelhaul: never pushed: {seed}".encode())
