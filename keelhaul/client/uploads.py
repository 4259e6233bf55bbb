"""Blob uploads in every shape the distribution spec allows, streaming from a BlobSource.

Each helper returns an `UploadResult` holding every response, and stops at the first answer it did
not expect instead of raising: conformance checks assert on that answer, load scenarios count it.
`UploadResult.raise_for_status()` turns a failure into an `UploadError` for callers that just need
the blob in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from keelhaul.client import media_types
from keelhaul.client.content import BlobSource, RangeHasher, as_source
from keelhaul.client.ledger import BlobLedger
from keelhaul.client.requester import Requester
from keelhaul.client.urls import add_query

_RANGE_RE = re.compile(r"^\s*(?:bytes=)?0-(\d+)\s*$")
OCTET = {"Content-Type": media_types.OCTET_STREAM}


class UploadError(Exception):
    """An upload got an answer it could not go on from."""

    def __init__(self, message: str, result: UploadResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class UploadResult:
    digest: str
    size: int
    location: str | None  # the blob's Location after success, else the last upload Location
    responses: list[httpx.Response] = field(default_factory=list, repr=False)
    resumes: int = 0  # times the upload went back to the server's Range (416 or dropped connection)

    @property
    def response(self) -> httpx.Response | None:
        return self.responses[-1] if self.responses else None

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.status_code == 201

    def raise_for_status(self) -> UploadResult:
        if not self.ok:
            last = self.response
            what = f"{last.request.method} -> {last.status_code} {last.text[:200]}" if last else "no response"
            raise UploadError(f"upload of {self.digest} failed: {what}", self)
        return self


def location_of(response: httpx.Response) -> str | None:
    """The response's `Location`, made absolute against the request URL (it may be relative)."""
    location = response.headers.get("location")
    return urljoin(str(response.request.url), location) if location else None


def next_offset(range_header: str | None, confirmed: int = 0) -> int | None:
    """First byte the server still needs, from `Range: 0-<last>`; None if absent or unreadable.

    `0-0` is ambiguous (distribution sends it for 0 and for 1 byte): keep `confirmed` if that is 0.
    """
    match = _RANGE_RE.match(range_header or "")
    if match is None:
        return None
    last = int(match.group(1))
    return 0 if last == 0 and confirmed == 0 else last + 1


def start_upload(client: Requester, repo: str, query: str = "") -> httpx.Response:
    """POST an upload session (`query` like `?digest=…` or `?mount=…` is appended as is)."""
    return client.request("POST", f"/v2/{repo}/blobs/uploads/{query}", content=b"")


def upload_status(client: Requester, location: str) -> httpx.Response:
    return client.request("GET", location)


def cancel_upload(client: Requester, location: str) -> httpx.Response:
    return client.request("DELETE", location)


def _begin(client: Requester, repo: str, source: BlobSource, digest: str) -> tuple[UploadResult, str | None]:
    post = start_upload(client, repo)
    result = UploadResult(digest, source.size, location_of(post), [post])
    if post.status_code != 202 or result.location is None:
        return result, None
    return result, result.location


def _keep(result: UploadResult, response: httpx.Response, keep: bool) -> None:
    if keep:
        result.responses.append(response)
    else:
        result.responses[:] = [response]


def _body(
    source: BlobSource, start: int, size: int, hasher: RangeHasher | None = None
) -> Callable[[], Iterator[bytes]]:
    """A replayable request body: the bytes [start, start+size), hashed on the way when `hasher` is set."""

    def pieces() -> Iterator[bytes]:
        chunk = source.iter_range(start, size)
        return hasher.tee(start, chunk) if hasher else chunk

    return pieces


def _closed(result: UploadResult, put: httpx.Response, location: str, keep: bool) -> UploadResult:
    """Record the closing PUT; after a 201 the result's location is the blob's."""
    _keep(result, put, keep)
    result.location = location_of(put) if put.status_code == 201 else location
    return result


def _finish(
    client: Requester,
    result: UploadResult,
    location: str,
    source: BlobSource,
    hasher: RangeHasher | None,
    keep: bool,
) -> UploadResult:
    """Close a session whose bytes are all sent; the digest is the source's, or the one hashed on the way."""
    digest = source.known_digest or (hasher.hexdigest_complete() if hasher else source.digest)
    source.remember_digest(digest)
    result.digest = digest
    put = client.request("PUT", add_query(location, digest=digest), content=b"")
    return _closed(result, put, location, keep)


def upload_monolithic(
    client: Requester, repo: str, data: bytes | BlobSource, *, keep_responses: bool = True
) -> UploadResult:
    """POST a session, then PUT the whole blob with `?digest=` (the digest is needed up front)."""
    source = as_source(data)
    digest = source.digest
    result, location = _begin(client, repo, source, digest)
    if location is None:
        return result
    put = client.request(
        "PUT",
        add_query(location, digest=digest),
        headers=OCTET,
        content=_body(source, 0, source.size),
        content_length=source.size,
    )
    return _closed(result, put, location, keep_responses)


def upload_single_post(client: Requester, repo: str, data: bytes | BlobSource) -> UploadResult:
    """One POST carrying the blob and `?digest=` (optional in the spec: 202 means unsupported)."""
    source = as_source(data)
    digest = source.digest
    response = client.request(
        "POST",
        add_query(f"/v2/{repo}/blobs/uploads/", digest=digest),
        headers=OCTET,
        content=_body(source, 0, source.size),
        content_length=source.size,
    )
    return UploadResult(digest, source.size, location_of(response), [response])


def upload_chunked(
    client: Requester,
    repo: str,
    data: bytes | BlobSource,
    chunk_size: int,
    *,
    max_resumes: int = 3,
    honor_min_chunk: bool = True,
    keep_responses: bool = True,
) -> UploadResult:
    """POST, PATCH each chunk with `Content-Range` and `Content-Length`, PUT `?digest=`.

    After a 416 (or a dropped connection) it asks where the server is (its `Range`) and resumes
    from there, at most `max_resumes` times. The digest is computed while the chunks stream when
    the source does not know it yet.
    """
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    source = as_source(data)
    hasher = RangeHasher(source) if source.known_digest is None else None
    result, location = _begin(client, repo, source, source.known_digest or "")
    if location is None:
        return result
    minimum = result.responses[0].headers.get("oci-chunk-min-length", "")
    if honor_min_chunk and minimum.isdigit():
        chunk_size = max(chunk_size, int(minimum))
    offset = 0
    while offset < source.size:
        length = min(chunk_size, source.size - offset)
        headers = {**OCTET, "Content-Range": f"{offset}-{offset + length - 1}"}
        body = _body(source, offset, length, hasher)
        try:
            patch = client.request("PATCH", location, headers=headers, content=body, content_length=length)
        except httpx.TransportError:
            if result.resumes >= max_resumes:
                raise
            result.resumes += 1
            status = upload_status(client, location)
            _keep(result, status, keep_responses)
            resumed = next_offset(status.headers.get("range"), offset)
            if status.status_code != 204 or resumed is None:
                return result
            location, offset = location_of(status) or location, resumed
            continue
        _keep(result, patch, keep_responses)
        if patch.status_code == 202:
            location = location_of(patch) or location
            offset += length
        elif patch.status_code == 416 and result.resumes < max_resumes:
            result.resumes += 1
            resumed = next_offset(patch.headers.get("range"), offset)
            if resumed is None:
                status = upload_status(client, location)
                _keep(result, status, keep_responses)
                resumed = next_offset(status.headers.get("range"), offset)
                if resumed is None:
                    return result
            location, offset = location_of(patch) or location, resumed
        else:
            result.location = location
            return result
    return _finish(client, result, location, source, hasher, keep_responses)


def upload_streamed(
    client: Requester,
    repo: str,
    data: bytes | BlobSource,
    *,
    chunked_encoding: bool = False,
    keep_responses: bool = True,
) -> UploadResult:
    """POST, one PATCH with the whole blob and no `Content-Range`, PUT `?digest=`.

    `chunked_encoding=True` omits `Content-Length` (Transfer-Encoding: chunked), as Docker does.
    """
    source = as_source(data)
    hasher = RangeHasher(source) if source.known_digest is None else None
    result, location = _begin(client, repo, source, source.known_digest or "")
    if location is None:
        return result
    patch = client.request(
        "PATCH",
        location,
        headers=OCTET,
        content=_body(source, 0, source.size, hasher),
        content_length=None if chunked_encoding else source.size,
    )
    _keep(result, patch, keep_responses)
    if patch.status_code != 202:
        return result
    location = location_of(patch) or location
    return _finish(client, result, location, source, hasher, keep_responses)


def push_blob(client: Requester, repo: str, data: bytes | BlobSource, *, skip_existing: bool = True) -> str:
    """Make sure the blob is in `repo` (monolithic upload unless HEAD finds it); returns its digest.
    No HEAD where the client's BlobLedger knows the blob is absent. Raises UploadError when it cannot."""
    source = as_source(data)
    ledger: BlobLedger | None = getattr(client, "blob_ledger", None)
    known_absent = ledger is not None and ledger.surely_absent(repo, source.digest)
    if (
        skip_existing
        and not known_absent
        and client.request("HEAD", f"/v2/{repo}/blobs/{source.digest}").status_code == 200
    ):
        return source.digest
    digest = upload_monolithic(client, repo, source).raise_for_status().digest
    if ledger is not None:
        ledger.record(repo, digest)
    return digest
