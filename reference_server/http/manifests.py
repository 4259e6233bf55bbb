"""HTTP handlers for manifests: GET/HEAD/PUT/DELETE by tag or digest."""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from reference_server.access import RequestAccess, Route, StoredManifest
from reference_server.http.body_budget import MANIFEST_BUDGET_KEY, Reservation
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.grammar import is_valid_tag, looks_like_digest, parse_digest
from reference_server.registry.manifests import parse_manifest
from reference_server.registry.services import Registry, check_references
from reference_server.storage.metadata import ManifestRecord

MAX_TAGS_PER_PUT = 64
MAX_WARNING_BYTES = 4096
MANIFEST_READ_SECONDS = 60  # spec: no more than 4096 bytes of warning data


def _unknown(reference: str) -> OCIError:
    return OCIError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": reference[:200]})


def lookup_manifest(registry: Registry, repository: str, reference: str) -> ManifestRecord:
    """The manifest a GET/HEAD names. Malformed digest: 400; invalid tag or absent: 404."""
    if looks_like_digest(reference):
        digest = str(parse_digest(reference))
        record = registry.metadata.get_manifest(repository, digest)
    elif is_valid_tag(reference):
        record = registry.metadata.resolve_tag(repository, reference)
    else:
        record = None
    if record is None:
        raise _unknown(reference)
    return record


async def get_manifest(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    record = lookup_manifest(registry, route.name, route.argument)
    return web.Response(
        body=record.body,
        headers={
            "Content-Type": record.media_type,
            "Docker-Content-Digest": record.digest,
            "ETag": f'"{record.digest}"',
        },
    )


async def _read_limited(request: web.Request, limit: int, reservation: Reservation) -> bytes:
    """The whole body, at most `limit` bytes, within MANIFEST_READ_SECONDS, each byte covered by
    the server-wide `reservation` first (503 when the budget is spent)."""
    too_big = OCIError(
        ErrorCode.MANIFEST_INVALID,
        f"manifest larger than the registry's limit of {limit} bytes",
        status=413,
        detail={"limit": limit},
    )
    if request.content_length is not None:
        if request.content_length > limit:
            raise too_big
        reservation.cover(request.content_length)
    parts: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(MANIFEST_READ_SECONDS):
            while True:
                chunk = await request.content.readany()
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise too_big
                reservation.cover(total)
                parts.append(chunk)
    except TimeoutError:
        raise OCIError(
            ErrorCode.MANIFEST_INVALID,
            f"manifest body not received within {MANIFEST_READ_SECONDS} s",
            status=408,
        ) from None
    return b"".join(parts)


def _tags_to_apply(request: web.Request, reference: str) -> tuple[list[str], str | None]:
    """(tags, expected digest) for a PUT: by tag → that tag; by digest → the `?tag=` parameters."""
    if looks_like_digest(reference):
        expected = str(parse_digest(reference))
        tags = request.query.getall("tag", [])
        if len(tags) > MAX_TAGS_PER_PUT:
            raise OCIError(
                ErrorCode.MANIFEST_INVALID, f"at most {MAX_TAGS_PER_PUT} tag parameters per PUT", status=414
            )
    else:
        expected = None
        tags = [reference]
    for tag in tags:
        if not is_valid_tag(tag):
            raise OCIError(
                ErrorCode.MANIFEST_INVALID,
                "invalid tag: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
                detail={"tag": tag[:200]},
            )
    return list(dict.fromkeys(tags)), expected


def _warning_headers(warnings: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    used = 0
    for text in warnings:
        value = (
            '299 - "'
            + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
            + '"'
        )
        if used + len(value) > MAX_WARNING_BYTES:
            break
        used += len(value)
        headers.append(("Warning", value))
    return headers


async def put_manifest(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    tags, expected = _tags_to_apply(request, route.argument)
    with request.app[MANIFEST_BUDGET_KEY].reservation() as reservation:
        body = await _read_limited(request, registry.config.max_manifest_bytes, reservation)
        return await _store_manifest(request, registry, route, access, body, tags, expected)


async def _store_manifest(
    request: web.Request,
    registry: Registry,
    route: Route,
    access: RequestAccess,
    body: bytes,
    tags: list[str],
    expected: str | None,
) -> web.StreamResponse:
    algorithm = expected.split(":", 1)[0] if expected else "sha256"
    digest = f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"
    if expected is not None and digest != expected:
        raise OCIError(
            ErrorCode.DIGEST_INVALID,
            "the manifest body does not match the digest in the URL",
            detail={"expected": expected, "actual": digest},
        )
    parsed = parse_manifest(body, request.headers.get("Content-Type"))
    check_references(registry.metadata, route.name, parsed)
    record = ManifestRecord(
        route.name,
        digest,
        parsed.media_type,
        body,
        subject=parsed.subject.digest if parsed.subject else None,
        artifact_type=parsed.artifact_type,
        annotations=parsed.annotations,
    )
    # The policy's writes (its own database, which an admin command may hold locked for seconds)
    # run off the event loop, so other requests go on meanwhile. Before and after the core's
    # commit: see AccessPolicy.manifest_storing.
    stored = StoredManifest(
        route.name,
        digest,
        parsed.media_type,
        parsed.document,
        registry.read_config(parsed),
        tags[0] if tags else None,
    )
    await asyncio.to_thread(access.manifest_storing, stored)
    registry.metadata.put_manifest(record, tags)
    warnings = await asyncio.to_thread(access.manifest_stored, stored)
    response = web.Response(status=201)
    response.headers["Location"] = f"/v2/{route.name}/manifests/{digest}"
    response.headers["Docker-Content-Digest"] = digest
    if parsed.subject is not None:
        response.headers["OCI-Subject"] = parsed.subject.digest
    if expected is not None:
        for tag in tags:
            response.headers.add("OCI-Tag", tag)
    for name, value in _warning_headers(warnings):
        response.headers.add(name, value)
    return response


async def delete_manifest(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    reference = route.argument
    if looks_like_digest(reference):
        digest = str(parse_digest(reference))
        if registry.metadata.delete_manifest(route.name, digest) is None:
            raise _unknown(reference)
    elif not (is_valid_tag(reference) and registry.metadata.delete_tag(route.name, reference)):
        raise _unknown(reference)
    return web.Response(status=202)
