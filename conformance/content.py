"""Test content with exactly known bytes, built per check (small, so the OCI run stays fast).

Manifests here are crafted on purpose the way the official suite crafts them (pretty-printed,
with an unknown field) so byte-exact storage is checked, not assumed. Blobs, manifests and images
are keelhaul.client.images' `Built` and `Image`, the types the ghcr checks build with.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from keelhaul.client import digest_of
from keelhaul.client import media_types as mt
from keelhaul.client.images import EMPTY_CONFIG, Built, Image, descriptor, tar_layer

UNKNOWN_FIELD = "keelhaulUnspecifiedField"  # registries must keep unknown fields byte for byte
PADDING_KEY = "org.keelhaul.padding"  # the annotation that grows a manifest to a wanted size


def layer(seed: str, size: int = 256) -> Built:
    """A small real tar.gz layer whose bytes depend only on `seed`."""
    payload = (seed.encode() * (size // max(len(seed), 1) + 1))[:size]
    return tar_layer({f"keelhaul/{seed}.txt": payload})


def config(seed: str, labels: dict[str, str] | None = None) -> Built:
    document = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"org.keelhaul.seed": seed, **(labels or {})}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return Built.of(json.dumps(document, sort_keys=True).encode(), mt.OCI_CONFIG)


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
    cfg = config(seed)
    layers = [layer(f"{seed}-{i}") for i in range(layer_count)]
    if media_type == mt.DOCKER_MANIFEST:
        cfg = replace(cfg, media_type=mt.DOCKER_CONFIG)
        layers = [replace(item, media_type=mt.DOCKER_LAYER_GZIP) for item in layers]
    body = manifest_body(descriptor(cfg), [descriptor(item) for item in layers], media_type=media_type)
    return Image(Built.of(body, media_type), (cfg, *layers))


def artifact(
    seed: str,
    subject: Built | dict[str, Any],
    *,
    artifact_type: str | None = None,
    config_media_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Image:
    """A referrer: an artifact manifest whose `subject` is the given manifest (pushed or not)."""
    cfg = EMPTY_CONFIG if config_media_type is None else Built.of(mt.EMPTY_JSON, config_media_type)
    payload = Built.of(f"artifact {seed}".encode(), "application/vnd.keelhaul.payload")
    subject_descriptor = descriptor(subject) if isinstance(subject, Built) else subject
    body = manifest_body(
        descriptor(cfg),
        [descriptor(payload)],
        subject=subject_descriptor,
        artifact_type=artifact_type,
        annotations=annotations,
    )
    return Image(Built.of(body, mt.OCI_MANIFEST), (cfg, payload))


def index_body(
    manifests: list[dict[str, Any]],
    *,
    media_type: str = mt.OCI_INDEX,
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Built:
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["manifests"] = manifests
    if subject:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    return Built.of(json.dumps(document, indent=2).encode(), media_type)


def missing_digest(seed: str) -> str:
    """The digest of content no registry holds (deterministic per seed)."""
    return digest_of(f"keelhaul: never pushed: {seed}".encode())


def padded_to(body: bytes, size: int, filler: bytes) -> bytes:
    """`body`, a JSON document holding an empty PADDING_KEY value, grown to exactly `size` bytes by
    filling that value with `filler` (one ASCII byte that needs no escape). The bytes are spliced in,
    as the document's encoder would write them, so a 4 MB manifest is not encoded twice."""
    pad = size - len(body)
    if pad < 0:
        raise ValueError(f"cannot make a {size}-byte document: the smallest is {len(body)}")
    key_end = body.index(f'"{PADDING_KEY}"'.encode()) + len(PADDING_KEY) + 2
    value = body.index(b'""', key_end) + 1  # between the empty value's quotes
    return body[:value] + filler * pad + body[value:]
