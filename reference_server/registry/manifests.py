"""Manifest parsing and validation: Docker v2 schema 2, Docker manifest list, OCI image manifest,
OCI image index. Pure functions over bytes, so they can be fuzzed without a server.

The registry stores and serves the exact bytes it received; parsing only decides whether to accept
them and extracts what the registry needs (references to check, subject, artifactType, annotations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.grammar import try_parse_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES

# Layers that may live elsewhere (`urls`) and so need not exist in the registry.
FOREIGN_LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
MAX_DESCRIPTORS = 10_000
MAX_MEDIA_TYPE_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()


@dataclass(slots=True)
class ParsedManifest:
    """What the registry needs from an accepted manifest."""

    media_type: str
    document: dict[str, Any]
    config: Descriptor | None = None
    blobs: list[Descriptor] = field(default_factory=list)  # config and layers that must be linked here
    foreign_layers: list[Descriptor] = field(default_factory=list)  # exempt: live at their urls
    children: list[Descriptor] = field(default_factory=list)  # index entries: manifests of this repo
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def invalid(message: str, **detail: object) -> OCIError:
    return OCIError(ErrorCode.MANIFEST_INVALID, message, detail=detail or None)


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise invalid(f"duplicate JSON key {key[:100]!r}: parsers would disagree on its value")
        result[key] = value
    return result


def _strict_constant(name: str) -> object:
    raise invalid(f"{name} is not valid JSON")


def decode_json(body: bytes) -> dict[str, Any]:
    """Strict JSON: UTF-8 without BOM, no duplicate keys, no NaN/Infinity, an object at the top."""
    if body.startswith(b"\xef\xbb\xbf"):
        raise invalid("manifest starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise invalid(f"manifest is not UTF-8 (byte {error.start})") from None
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_strict_constant)
    except OCIError:
        raise
    except RecursionError:
        raise invalid("manifest JSON is nested too deeply") from None
    except ValueError as error:
        raise invalid(f"manifest is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise invalid("manifest must be a JSON object")
    return document


def strip_media_type_parameters(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object")
    media_type = value.get("mediaType")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(media_type, str) or not media_type or len(media_type) > MAX_MEDIA_TYPE_LENGTH:
        raise invalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise invalid(f"{where}.digest must be a string")
    parsed = try_parse_digest(digest)
    if parsed is None:
        raise OCIError(
            ErrorCode.DIGEST_INVALID, f"{where}.digest is not a valid digest", detail={"digest": digest[:200]}
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise invalid(f"{where}.size must be a non-negative integer")
    urls = value.get("urls")
    url_list: tuple[str, ...] = ()
    if urls is not None:
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise invalid(f"{where}.urls must be a list of strings")
        for url in urls:
            _check_url(url, where)
        url_list = tuple(urls)
    annotations = value.get("annotations")
    if annotations is not None:
        _check_annotations(annotations, f"{where}.annotations")
    return Descriptor(media_type, digest, size, url_list)


def _check_url(url: str, where: str) -> None:
    """Foreign-layer URLs are recorded, never fetched; still only plain http(s) is accepted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise invalid(f"{where}.urls holds an unparsable URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment or len(url) > 2048:
        raise invalid(f"{where}.urls must be http(s) URLs without a fragment", url=url[:200])


def _check_annotations(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise invalid(f"{where} must map strings to strings")
    return value


def _descriptor_list(document: dict[str, Any], key: str, *, required: bool) -> list[Any]:
    value = document.get(key)
    if value is None:
        if required:
            raise invalid(f"manifest needs a {key!r} array")
        return []
    if not isinstance(value, list):
        raise invalid(f"{key!r} must be an array")
    if len(value) > MAX_DESCRIPTORS:
        raise invalid(f"{key!r} holds more than {MAX_DESCRIPTORS} entries")
    return value


def resolve_media_type(document: dict[str, Any], content_type: str | None) -> str:
    """The manifest's media type from its body and the request's Content-Type (CVE-2021-41190 rules)."""
    declared = document.get("mediaType")
    header = strip_media_type_parameters(content_type)
    if declared is not None and not isinstance(declared, str):
        raise invalid("mediaType must be a string")
    if declared in DOCKER_SCHEMA1 or header in DOCKER_SCHEMA1:
        raise invalid("Docker schema 1 manifests are not supported; push schema 2 or OCI")
    if declared and header and header != declared:
        raise invalid(
            "Content-Type does not match the manifest's mediaType",
            content_type=header,
            media_type=declared,
        )
    media_type = declared or header
    if not media_type:
        raise invalid("manifest media type unknown: send a Content-Type or a mediaType field")
    if media_type not in MANIFEST_TYPES:
        raise invalid(
            f"unsupported manifest media type {media_type[:100]!r}", supported=sorted(MANIFEST_TYPES)
        )
    if declared is None and media_type in (DOCKER_MANIFEST, DOCKER_LIST):
        raise invalid("Docker manifests must carry their mediaType field")
    return media_type


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Accept or reject one manifest body (MANIFEST_INVALID / DIGEST_INVALID with the reason)."""
    document = decode_json(body)
    media_type = resolve_media_type(document, content_type)
    schema_version = document.get("schemaVersion")
    if schema_version != 2 or isinstance(schema_version, bool):
        raise invalid("schemaVersion must be 2")
    parsed = ParsedManifest(media_type, document)
    artifact_type = document.get("artifactType")
    if artifact_type is not None and (not isinstance(artifact_type, str) or not artifact_type):
        raise invalid("artifactType must be a non-empty string")
    annotations = document.get("annotations")
    if annotations is not None:
        parsed.annotations = dict(_check_annotations(annotations, "annotations")) or None
    if document.get("subject") is not None:
        parsed.subject = _descriptor(document["subject"], "subject")

    if media_type in IMAGE_TYPES:
        if "manifests" in document:
            raise invalid("an image manifest must not carry 'manifests' (ambiguous document)")
        parsed.config = _descriptor(document.get("config"), "config")
        parsed.blobs.append(parsed.config)
        for i, value in enumerate(
            _descriptor_list(document, "layers", required=media_type == DOCKER_MANIFEST)
        ):
            layer = _descriptor(value, f"layers[{i}]")
            if layer.urls and layer.media_type in FOREIGN_LAYER_TYPES:
                parsed.foreign_layers.append(layer)
            else:
                parsed.blobs.append(layer)
        parsed.artifact_type = artifact_type or parsed.config.media_type
    else:
        if "config" in document or "layers" in document:
            raise invalid("an index must not carry 'config' or 'layers' (ambiguous document)")
        parsed.children = [
            _descriptor(value, f"manifests[{i}]")
            for i, value in enumerate(_descriptor_list(document, "manifests", required=True))
        ]
        parsed.artifact_type = artifact_type
    return parsed
