"""Real image content: tar layers, configs, OCI/Docker manifests and indexes, artifacts, and a pusher.

Real clients (skopeo, podman, buildah) unpack what they pull, so layers are real gzip'd tars and
configs list the layers' diff_ids. Everything is deterministic (fixed mtimes, sorted entries, gzip
without timestamp), so the same inputs always give the same digests.
"""

from __future__ import annotations

import gzip as gzip_module
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from keelhaul.client import media_types as mt
from keelhaul.client.content import BlobSource, digest_of
from keelhaul.client.uploads import push_blob

if TYPE_CHECKING:
    import httpx

    from keelhaul.client.registry import RegistryClient

FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z: any fixed value keeps layers reproducible
FIXED_CREATED = "2023-11-14T22:13:20Z"

DOCKER_EQUIVALENT = {
    mt.OCI_LAYER_GZIP: mt.DOCKER_LAYER_GZIP,
    mt.OCI_CONFIG: mt.DOCKER_CONFIG,
    mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP: mt.DOCKER_FOREIGN_LAYER_GZIP,
}


class Describable(Protocol):
    """Anything a descriptor can point at."""

    @property
    def digest(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def media_type(self) -> str: ...


@dataclass(frozen=True)
class Built:
    """Exact bytes of a blob or manifest, with their digest and media type."""

    body: bytes = field(repr=False)
    digest: str
    media_type: str
    diff_id: str | None = None  # layers: digest of the uncompressed tar (for the config's rootfs)

    @classmethod
    def of(cls, body: bytes, media_type: str, diff_id: str | None = None) -> Built:
        return cls(body, digest_of(body), media_type, diff_id)

    @property
    def size(self) -> int:
        return len(self.body)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class SourceBlob:
    """A blob streamed from a BlobSource (e.g. a multi-GB GeneratedBlob layer) instead of bytes."""

    source: BlobSource
    media_type: str = mt.OCI_LAYER_GZIP

    @property
    def digest(self) -> str:
        return self.source.digest

    @property
    def size(self) -> int:
        return self.source.size


def upload_data(blob: Built | SourceBlob) -> bytes | BlobSource:
    """What an upload sends for a blob: its bytes, or the source that streams them."""
    return blob.body if isinstance(blob, Built) else blob.source


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def to_dict(self) -> dict[str, str]:
        result = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            result["variant"] = self.variant
        return result


def encode_json(document: Mapping[str, Any]) -> bytes:
    """Stable compact JSON; the bytes are what gets digested, so never re-serialize a manifest."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def descriptor(
    item: Describable,
    *,
    media_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    platform: Platform | None = None,
    artifact_type: str | None = None,
    urls: Sequence[str] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "mediaType": media_type or item.media_type,
        "digest": item.digest,
        "size": item.size,
    }
    if urls:
        result["urls"] = list(urls)
    if artifact_type:
        result["artifactType"] = artifact_type
    if annotations:
        result["annotations"] = dict(annotations)
    if platform:
        result["platform"] = platform.to_dict()
    return result


EMPTY_CONFIG = Built.of(mt.EMPTY_JSON, mt.OCI_EMPTY)


# ---- layers and configs ------------------------------------------------------------------------
def tar_layer(files: Mapping[str, bytes], gzip: bool = True, media_type: str | None = None) -> Built:
    """A real layer tar holding `files` (path -> content), parent directories included."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        directories: set[str] = set()
        for path in sorted(files):
            clean = path.strip("/")
            parts = clean.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    archive.addfile(_tar_info(directory + "/", tarfile.DIRTYPE, 0o755, 0))
            data = files[path]
            archive.addfile(_tar_info(clean, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    tar_bytes = raw.getvalue()
    diff_id = digest_of(tar_bytes)
    if not gzip:
        return Built.of(tar_bytes, media_type or mt.OCI_LAYER, diff_id)
    packed = io.BytesIO()
    with gzip_module.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as compressor:
        compressor.write(tar_bytes)
    return Built.of(packed.getvalue(), media_type or mt.OCI_LAYER_GZIP, diff_id)


def _tar_info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def image_config(
    layers: Sequence[Built] = (),
    *,
    labels: Mapping[str, str] | None = None,
    platform: Platform = Platform(),
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd: Sequence[str] | None = ("/bin/sh",),
    media_type: str = mt.OCI_CONFIG,
    extra: Mapping[str, Any] | None = None,
) -> Built:
    """An image config whose rootfs lists the layers' diff_ids (gzip'd layers need `diff_id`)."""
    diff_ids = [layer.diff_id or layer.digest for layer in layers]
    config: dict[str, Any] = {"Env": list(env)}
    if cmd is not None:
        config["Cmd"] = list(cmd)
    if labels:
        config["Labels"] = dict(labels)
    document: dict[str, Any] = {
        "created": FIXED_CREATED,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": FIXED_CREATED, "created_by": "keelhaul"} for _ in diff_ids],
    }
    if platform.variant:
        document["variant"] = platform.variant
    document.update(extra or {})
    return Built.of(encode_json(document), media_type)


# ---- manifests ---------------------------------------------------------------------------------
def oci_manifest(
    config: Describable,
    layers: Sequence[Describable],
    *,
    annotations: Mapping[str, str] | None = None,
    subject: Describable | None = None,
    artifact_type: str | None = None,
    layer_annotations: Sequence[Mapping[str, str] | None] | None = None,
) -> Built:
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = descriptor(config)
    document["layers"] = [
        descriptor(layer, annotations=(layer_annotations[i] if layer_annotations else None))
        for i, layer in enumerate(layers)
    ]
    if subject is not None:
        document["subject"] = descriptor(subject)
    if annotations:
        document["annotations"] = dict(annotations)
    return Built.of(encode_json(document), mt.OCI_MANIFEST)


def docker_manifest(config: Describable, layers: Sequence[Describable]) -> Built:
    """Docker image manifest v2 schema 2 (OCI media types are mapped to Docker's)."""
    document = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": descriptor(config, media_type=mt.DOCKER_CONFIG),
        "layers": [
            descriptor(layer, media_type=DOCKER_EQUIVALENT.get(layer.media_type, layer.media_type))
            for layer in layers
        ],
    }
    return Built.of(encode_json(document), mt.DOCKER_MANIFEST)


def oci_index(
    manifests: Sequence[tuple[Describable, Platform | None]],
    *,
    annotations: Mapping[str, str] | None = None,
    subject: Describable | None = None,
    artifact_type: str | None = None,
) -> Built:
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["manifests"] = [descriptor(child, platform=platform) for child, platform in manifests]
    if subject is not None:
        document["subject"] = descriptor(subject)
    if annotations:
        document["annotations"] = dict(annotations)
    return Built.of(encode_json(document), mt.OCI_INDEX)


def docker_manifest_list(manifests: Sequence[tuple[Describable, Platform]]) -> Built:
    document = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [descriptor(child, platform=platform) for child, platform in manifests],
    }
    return Built.of(encode_json(document), mt.DOCKER_MANIFEST_LIST)


def artifact_manifest(
    *,
    subject: Describable | None,
    artifact_type: str,
    blobs: Sequence[Describable] = (),
    config: Describable | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Built:
    """An OCI artifact per the image spec's guidance: empty config (unless given) and, without
    blobs, the empty descriptor as its single layer."""
    return oci_manifest(
        config or EMPTY_CONFIG,
        list(blobs) or [EMPTY_CONFIG],
        annotations=annotations,
        subject=subject,
        artifact_type=artifact_type,
    )


# ---- whole images ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Manifested:
    """What is pushed by one manifest: it is described (digest, size, media type) by that manifest."""

    manifest: Built

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def size(self) -> int:
        return self.manifest.size

    @property
    def media_type(self) -> str:
        return self.manifest.media_type


@dataclass(frozen=True)
class Image(_Manifested):
    """A manifest with the blobs it references (config first), ready to push."""

    blobs: tuple[Built | SourceBlob, ...]

    @property
    def config(self) -> Built | SourceBlob:
        return self.blobs[0]

    @property
    def layers(self) -> tuple[Built | SourceBlob, ...]:
        return self.blobs[1:]


@dataclass(frozen=True)
class ImageIndex(_Manifested):
    """An index (or Docker manifest list) with its child images."""

    children: tuple[Image, ...]


def build_image(
    layer_files: Sequence[Mapping[str, bytes]],
    *,
    labels: Mapping[str, str] | None = None,
    platform: Platform = Platform(),
    docker: bool = False,
    annotations: Mapping[str, str] | None = None,
    subject: Describable | None = None,
) -> Image:
    """An image with one real gzip'd tar layer per mapping in `layer_files`."""
    layers = [tar_layer(files) for files in layer_files]
    config_type = mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG
    config = image_config(layers, labels=labels, platform=platform, media_type=config_type)
    if docker:
        manifest = docker_manifest(config, layers)
    else:
        manifest = oci_manifest(config, layers, annotations=annotations, subject=subject)
    return Image(manifest, (config, *layers))


def sample_image(
    seed: str | int,
    *,
    layers: int = 2,
    docker: bool = False,
    platform: Platform = Platform(),
    labels: Mapping[str, str] | None = None,
) -> Image:
    """A small, real, unique-per-seed image (tests and smoke runs)."""
    files = [
        {f"keelhaul/{seed}/layer-{i}.txt": f"seed {seed} layer {i}\n".encode() * (i + 1)}
        for i in range(layers)
    ]
    return build_image(files, labels=labels, platform=platform, docker=docker)


def build_index(
    images: Sequence[Image],
    platforms: Sequence[Platform],
    *,
    docker: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> ImageIndex:
    pairs = list(zip(images, platforms, strict=True))
    manifest = docker_manifest_list(pairs) if docker else oci_index(pairs, annotations=annotations)
    return ImageIndex(manifest, tuple(images))


def multi_arch_sample(
    seed: str | int,
    platforms: Iterable[Platform] = (Platform("linux", "amd64"), Platform("linux", "arm64", "v8")),
    docker: bool = False,
) -> ImageIndex:
    platforms = list(platforms)
    images = [sample_image(f"{seed}-{p.architecture}", docker=docker, platform=p) for p in platforms]
    return build_index(images, platforms, docker=docker)


class PushError(Exception):
    """A manifest PUT was refused (or answered with another digest) while pushing an image."""

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response


def push_referenced(client: RegistryClient, repo: str, image: Image | ImageIndex) -> None:
    """Push what the manifest references: an image's blobs, or an index's child images (by digest).
    Raises UploadError/PushError on any refusal."""
    if isinstance(image, ImageIndex):
        for child in image.children:
            push_image(client, repo, None, child)
    else:
        for blob in image.blobs:
            push_blob(client, repo, upload_data(blob))


def push_image(client: RegistryClient, repo: str, tag: str | None, image: Image | ImageIndex) -> str:
    """Push blobs, child manifests (by digest) and the manifest (by `tag`, or by digest when None).
    Returns the pushed manifest digest, checked against the registry's `Docker-Content-Digest`
    when it sends one. Raises UploadError/PushError on any refusal."""
    push_referenced(client, repo, image)
    manifest = image.manifest
    response = client.put_manifest(repo, tag or manifest.digest, manifest.body, manifest.media_type)
    if response.status_code != 201:
        raise PushError(
            f"PUT manifest {repo}:{tag or manifest.digest} -> {response.status_code} {response.text[:300]}",
            response,
        )
    announced = response.headers.get("docker-content-digest")
    if announced and announced != manifest.digest:
        raise PushError(f"registry says {announced} for manifest {manifest.digest}", response)
    return manifest.digest


def artifact_image(
    *,
    subject: Describable | None,
    artifact_type: str,
    blobs: Sequence[Built] = (),
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """`artifact_manifest` plus the blobs it references (the empty config included), ready to push."""
    manifest = artifact_manifest(
        subject=subject, artifact_type=artifact_type, blobs=blobs, annotations=annotations
    )
    return Image(manifest, (EMPTY_CONFIG, *blobs))
