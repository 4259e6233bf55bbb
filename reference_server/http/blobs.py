"""HTTP handlers for blobs and blob uploads. Rules live in registry/uploads.py and
registry/services.py; these functions only translate between HTTP and those calls, and build every
header (Location, Range, Docker-Upload-UUID) the upload answers carry."""

from __future__ import annotations

import re

from aiohttp import web

from reference_server.access import RequestAccess, Route
from reference_server.http.direct_body import upload_body
from reference_server.http.sendfile_response import SendfileResponse
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.grammar import parse_digest, validate_name
from reference_server.registry.services import Registry
from reference_server.registry.uploads import ChunkOutOfOrder, Session

# One byte range (RFC 9110 §14.1.2). Positions may have any number of digits: a last position past
# the end is clamped to the end, however it is written; the header's length is capped instead.
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII | re.IGNORECASE)
MAX_RANGE_HEADER = 100


def unsatisfiable_range(header: str | None, size: int) -> OCIError | None:
    """An OCI 416 error when a blob GET's Range cannot be served, else None (RFC 9110 §14.1.2).

    Satisfiable: a first position below the size (the last position, if larger than the blob or
    absent, means "to the end"), or a suffix of non-zero length. `bytes=-0`, a first position at or
    past the end, a last position before the first and anything unparsable are answered 416.

    The spec's error-code table has no code for a read range, and BLOB_UNKNOWN would tell the
    client the blob is missing when it is not. SIZE_INVALID is the closest honest code: the
    requested positions do not fit the blob's length, which the detail and Content-Range give."""
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip()) if len(header) <= MAX_RANGE_HEADER else None
    ok = False
    if match is not None:
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            ok = start < size and (not last or int(last) >= start)
        elif last:
            ok = int(last) > 0  # a suffix of zero bytes selects nothing
    if ok:
        return None
    return OCIError(
        ErrorCode.SIZE_INVALID,
        "requested range not satisfiable",
        status=416,
        detail={"range": header[:MAX_RANGE_HEADER], "size": size},
        headers={"Content-Range": f"bytes */{size}"},
    )


async def get_blob(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    digest = parse_digest(route.argument)
    text = str(digest)
    size = registry.metadata.linked_blob_size(route.name, text)
    if size is None or registry.blobs.size(digest) is None:
        raise OCIError(ErrorCode.BLOB_UNKNOWN, detail={"digest": text})
    error = unsatisfiable_range(request.headers.get("Range"), size)
    if error is not None:
        raise error
    headers = {"Docker-Content-Digest": text, "Content-Type": "application/octet-stream", "ETag": f'"{text}"'}
    return SendfileResponse(registry.blobs.path(digest), chunk_size=1024 * 1024, headers=headers)


async def delete_blob(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    digest = str(parse_digest(route.argument))
    if not registry.metadata.unlink_blob(route.name, digest):
        raise OCIError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
    return web.Response(status=202, headers={"Docker-Content-Digest": digest})


def range_header(offset: int) -> str:
    """The `Range` header for `offset` bytes received (distribution's convention: 0-0 when empty)."""
    return f"0-{max(offset - 1, 0)}"


def _upload_headers(route_name: str, upload_id: str, offset: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{route_name}/blobs/uploads/{upload_id}",
        "Range": range_header(offset),
        "Docker-Upload-UUID": upload_id,
    }


def _created(route_name: str, digest: str) -> web.Response:
    return web.Response(
        status=201,
        headers={"Location": f"/v2/{route_name}/blobs/{digest}", "Docker-Content-Digest": digest},
    )


def _check_octet_stream(request: web.Request) -> None:
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return
    if content_type.split(";", 1)[0].strip().lower() not in ("application/octet-stream", ""):
        raise OCIError(
            ErrorCode.BLOB_UPLOAD_INVALID,
            "blob data must be sent as application/octet-stream",
            detail={"Content-Type": content_type[:100]},
        )


def _has_body(request: web.Request) -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


async def _append(registry: Registry, session: Session, request: web.Request) -> int:
    """Append the request body to the upload; a chunk out of order gets the upload's headers."""
    try:
        with upload_body(request) as body:
            return await registry.uploads.append(
                session,
                body,
                content_range=request.headers.get("Content-Range"),
                content_length=request.content_length,
            )
    except ChunkOutOfOrder as error:
        error.headers.update(_upload_headers(error.repository, error.upload_id, error.offset))
        raise


async def start_upload(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    query = request.query
    mount = query.get("mount")
    if mount is not None:
        digest = str(parse_digest(mount))
        source = query.get("from")
        if source is not None:
            validate_name(source)
        if registry.readable_source(digest, source, access.may_read) is not None:
            size = registry.blobs.size(parse_digest(digest))
            if size is not None:
                registry.metadata.link_blob(route.name, digest, size)
                return _created(route.name, digest)
        # Not mountable (unknown, unreadable or absent): a fresh session, the same answer in
        # every case so the response reveals nothing about other repositories.
    elif "digest" in query:
        digest_value = parse_digest(query["digest"])
        _check_octet_stream(request)
        with upload_body(request) as body:
            await registry.uploads.upload_whole(route.name, digest_value, body, request.content_length)
        return _created(route.name, str(digest_value))
    if mount is None and _has_body(request):
        raise OCIError(
            ErrorCode.BLOB_UPLOAD_INVALID,
            "a POST with a body needs ?digest= (single-request upload)",
        )
    upload_id = registry.uploads.create(route.name)
    return web.Response(status=202, headers=_upload_headers(route.name, upload_id, 0))


async def upload_status(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    session = registry.uploads.session(route.name, route.argument)
    offset = registry.uploads.offset(session)
    return web.Response(status=204, headers=_upload_headers(route.name, session.id, offset))


async def upload_chunk(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    session = registry.uploads.session(route.name, route.argument)
    _check_octet_stream(request)
    async with registry.uploads.lock(session.id):
        session = registry.uploads.session(route.name, route.argument)
        offset = await _append(registry, session, request)
    return web.Response(status=202, headers=_upload_headers(route.name, session.id, offset))


async def finish_upload(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    session = registry.uploads.session(route.name, route.argument, allow_done=True)
    raw_digest = request.query.get("digest")
    if raw_digest is None:
        raise OCIError(ErrorCode.DIGEST_INVALID, "the final PUT needs ?digest=")
    digest = parse_digest(raw_digest)
    if session.state == "done":
        if session.digest == str(digest) and not _has_body(request):
            return _created(route.name, str(digest))  # a retried final PUT: same answer again
        raise OCIError(
            ErrorCode.BLOB_UPLOAD_UNKNOWN, "upload already completed", detail={"upload": session.id}
        )
    _check_octet_stream(request)
    async with registry.uploads.lock(session.id):
        session = registry.uploads.session(route.name, route.argument)
        if _has_body(request) or request.headers.get("Content-Range"):
            await _append(registry, session, request)
        await registry.uploads.finish(session, digest)
    return _created(route.name, str(digest))


async def cancel_upload(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    session = registry.uploads.session(route.name, route.argument)
    registry.uploads.discard(session.id)
    return web.Response(status=204)
