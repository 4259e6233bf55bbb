"""Assertions on registry answers, h2spec style: each failure says what the spec requires, what
was sent, and what came back. Every helper also checks what the spec says of the rest of the
response (error body shape, Docker-Content-Digest, Content-Type, Content-Length, digest of bytes),
not only the one thing a check is named after."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import httpx

from conformance.oci.schemas import IMAGE_INDEX, IMAGE_MANIFEST, OCI_ERROR, TAG_LIST, schema_errors
from keelhaul.client import digest_of
from keelhaul.client import media_types as mt
from keelhaul.client.images import Built

# OCI §Error Codes, code-1 … code-14. tests/robustness checks the reference server against this set.
OCI_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)
# The two legacy Docker schema1 codes the spec says a client MAY still meet: a target may send them.
KNOWN_ERROR_CODES = OCI_ERROR_CODES | {"TAG_INVALID", "MANIFEST_UNVERIFIED"}
BODY_EXCERPT = 300


def sent(response: httpx.Response) -> str:
    """`PATCH /v2/x/blobs/uploads/… (Content-Range: 0-9)`: what a check sent, for messages."""
    request = response.request
    url = urlsplit(str(request.url))
    query = url.query if len(url.query) <= 80 else url.query[:40] + "…"  # upload state tokens are long
    target = unquote(url.path) + (f"?{query}" if query else "")
    shown = [
        f"{name}: {request.headers[name]}"
        for name in ("content-range", "content-type")
        if name in request.headers
    ]
    return f"{request.method} {target}" + (f" ({', '.join(shown)})" if shown else "")


def got(response: httpx.Response) -> str:
    text = ""
    if response.request.method != "HEAD":
        try:
            text = response.text[:BODY_EXCERPT].strip()
        except (httpx.ResponseNotRead, UnicodeDecodeError):
            text = ""
    return f"{response.status_code}" + (f" {text}" if text else "")


def fail(
    requirement: str, response: httpx.Response | None, expected: str, actual: str | None = None
) -> NoReturn:
    """Raise with the h2spec triple: requirement, what was sent, expected vs got."""
    where = f"; sent {sent(response)}" if response is not None else ""
    what = actual if actual is not None else (got(response) if response is not None else "nothing")
    raise AssertionError(f"{requirement}{where}: expected {expected}, got {what}")


def json_body(response: httpx.Response, requirement: str, expected: str = "a JSON body") -> Any:
    """The parsed body; a body that is not JSON fails `requirement`."""
    try:
        return json.loads(response.content)
    except ValueError:
        fail(requirement, response, expected, got(response))


# ---- error bodies ------------------------------------------------------------------------------------
def error_codes(response: httpx.Response) -> list[str] | None:
    """The OCI error codes of a JSON error body (None when the body is not JSON). A JSON 4xx body
    that does not match §Error Codes fails OCI-ERR-1 here, whatever the check is about."""
    if response.request.method == "HEAD" or not response.content:
        return None
    try:
        document = json.loads(response.content)
    except ValueError:
        return None
    problems = schema_errors(document, OCI_ERROR)
    if problems:
        fail(
            'OCI-ERR-1: a JSON 4xx body has the form {"errors":[{"code",...}]}',
            response,
            "a body matching §Error Codes",
            f"{got(response)} ({problems[0]})",
        )
    codes = [entry["code"] for entry in document["errors"]]
    unknown = [code for code in codes if code not in KNOWN_ERROR_CODES]
    if unknown:
        fail(
            "OCI-ERR-1: error codes are those of §Error Codes",
            response,
            f"codes among {sorted(KNOWN_ERROR_CODES)}",
            f"{got(response)}",
        )
    return codes


def check_answer(response: httpx.Response) -> None:
    """What holds for any answer: no 5xx to a client request, 4xx JSON bodies well formed,
    `Warning` headers in the form OCI §Warnings prescribes."""
    if response.status_code >= 500:
        fail(
            "OCI-ERR-2: a request is answered with a 2xx or a 4xx OCI error, never a 5xx",
            response,
            "a 2xx, or a 4xx with an OCI error code",
        )
    if 400 <= response.status_code < 500:
        error_codes(response)
    warnings = response.headers.get_list("warning")
    if warnings:
        total = sum(len(w.encode()) for w in warnings)
        bad = [w for w in warnings if not (w.startswith('299 - "') and w.endswith('"'))]
        if bad or total > 4096:
            fail(
                'OCI-ERR-3: Warning headers are `299 - "text"`, at most 4096 bytes',
                response,
                "well-formed warnings",
                f"{warnings!r}",
            )


def expect_status(response: httpx.Response, statuses: int | Iterable[int], requirement: str) -> int:
    """One of `statuses`, judged by `requirement` (a 5xx where the spec demands a 404 breaks that MUST,
    not only robustness); an allowed answer must also be well formed (check_answer)."""
    allowed = {statuses} if isinstance(statuses, int) else set(statuses)
    if response.status_code not in allowed:
        fail(requirement, response, _statuses(allowed))
    check_answer(response)
    return response.status_code


def _statuses(allowed: set[int]) -> str:
    if allowed == set(range(400, 500)):
        return "a 4xx"
    return " or ".join(str(s) for s in sorted(allowed))


def expect_error(
    response: httpx.Response, statuses: Iterable[int], codes: Iterable[str] | None, requirement: str
) -> list[str] | None:
    """A refusal: one of `statuses`; when the body is JSON, at least one code among `codes`."""
    allowed = set(statuses)
    wanted = set(codes) if codes is not None else None
    expected = _statuses(allowed) + (f" with {'/'.join(sorted(wanted))}" if wanted else "")
    if response.status_code not in allowed:
        fail(requirement, response, expected)
    found = error_codes(response)
    if wanted and found is not None and not wanted.intersection(found):
        fail(requirement, response, expected)
    return found


def expect_upload_gone(response: httpx.Response, requirement: str) -> None:
    """What an unknown, cancelled or committed upload session answers: 404 BLOB_UPLOAD_UNKNOWN
    (or 400 BLOB_UPLOAD_INVALID)."""
    expect_error(response, (404, 400), {"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"}, requirement)


# ---- content -----------------------------------------------------------------------------------------
def _digest_header(response: httpx.Response, digest: str, requirement: str) -> None:
    header = response.headers.get("docker-content-digest")
    if header is not None and header != digest:
        fail(requirement, response, f"Docker-Content-Digest {digest}", f"Docker-Content-Digest {header}")


def _length_header(response: httpx.Response, size: int, requirement: str) -> None:
    header = response.headers.get("content-length")
    if header is not None and header != str(size):
        fail(requirement, response, f"Content-Length {size}", f"Content-Length {header}")


def expect_blob(response: httpx.Response, blob: Built | bytes, requirement: str) -> None:
    """200 with exactly the blob's bytes (GET) or none (HEAD), matching digest and length headers."""
    data = blob.body if isinstance(blob, Built) else blob
    digest = digest_of(data)
    expect_status(response, 200, requirement)
    _digest_header(response, digest, requirement)
    _length_header(response, len(data), requirement)
    if response.request.method == "GET" and response.content != data:
        fail(
            requirement,
            response,
            f"the {len(data)} bytes pushed ({digest})",
            f"{len(response.content)} bytes hashing to {digest_of(response.content)}",
        )


def media_type_of(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip()


def expect_manifest(
    response: httpx.Response, manifest: Built, requirement: str, *, validate: bool = True
) -> None:
    """200 with the exact manifest bytes (GET), its media type as Content-Type, matching digest and
    length headers, and a body valid against the image-spec schema."""
    expect_status(response, 200, requirement)
    _digest_header(response, manifest.digest, f"{requirement} (OCI-PULL-3/PULL-2: Docker-Content-Digest)")
    _length_header(response, manifest.size, requirement)
    content_type = media_type_of(response)
    if content_type != manifest.media_type:
        fail(
            "OCI-PULL-9: Content-Type is the media type the manifest was pushed with",
            response,
            f"Content-Type {manifest.media_type}",
            f"Content-Type {response.headers.get('content-type')!r}",
        )
    if response.request.method != "GET":
        return
    if response.content != manifest.body:
        fail(
            f"{requirement} (OCI-PUSH-14: stored byte for byte)",
            response,
            f"the {manifest.size} bytes pushed ({manifest.digest})",
            f"{len(response.content)} bytes hashing to {digest_of(response.content)}",
        )
    if validate:
        expect_valid_manifest(response)


def expect_valid_manifest(response: httpx.Response) -> dict:
    """The body parses and, for OCI types, validates against the image-spec schema."""
    document = json_body(response, "OCI-PULL-1: a manifest is JSON", "a JSON manifest")
    schema = {mt.OCI_MANIFEST: IMAGE_MANIFEST, mt.OCI_INDEX: IMAGE_INDEX}.get(media_type_of(response))
    if schema:
        problems = schema_errors(document, schema)
        if problems:
            fail(
                "image-spec: a served manifest is valid against its schema",
                response,
                f"a body valid against {schema}",
                problems[0],
            )
    return document


def expect_upload_session(response: httpx.Response, repo: str, requirement: str, status: int = 202) -> str:
    """An open upload session: `status` (202) and a Location under /v2/<repo>/blobs/uploads/."""
    expect_status(response, status, requirement)
    location = response.headers.get("location")
    if not location:
        fail(requirement, response, "a Location header", "no Location")
    path = unquote(urlsplit(location).path)
    if not path.startswith(f"/v2/{repo}/blobs/uploads/"):
        fail(requirement, response, f"a Location under /v2/{repo}/blobs/uploads/", f"Location {location}")
    return str(httpx.URL(str(response.request.url)).join(location))


def expect_range(response: httpx.Response, last_byte: int, requirement: str) -> None:
    value = response.headers.get("range")
    if value != f"0-{last_byte}":
        fail(requirement, response, f"Range: 0-{last_byte}", f"Range: {value}")


def expect_created(response: httpx.Response, requirement: str, location_path: str | None = None) -> str:
    """201 with a Location (exactly `location_path` when given)."""
    expect_status(response, 201, requirement)
    location = response.headers.get("location")
    if not location:
        fail(requirement, response, "a Location header", "no Location")
    if location_path is not None and unquote(urlsplit(location).path) != location_path:
        fail(requirement, response, f"Location {location_path}", f"Location {location}")
    return str(httpx.URL(str(response.request.url)).join(location))


def expect_tag_list(response: httpx.Response, repo: str, requirement: str) -> list[str]:
    expect_status(response, 200, requirement)
    document = json_body(response, requirement, "a JSON tag list")
    problems = schema_errors(document, TAG_LIST)
    if problems:
        fail(
            f'{requirement} (body {{"name","tags"}})', response, "a body matching §Listing Tags", problems[0]
        )
    if document["name"] != repo:
        fail(requirement, response, f"name {repo!r}", f"name {document['name']!r}")
    return list(document["tags"])


def expect_referrers(response: httpx.Response, requirement: str) -> list[dict]:
    """200, Content-Type exactly the image index type (the spec says "MUST be set to", so a parameter
    such as `; charset=utf-8` fails, as in the official suite), a body valid against the image-index
    schema; its descriptors."""
    expect_status(response, 200, requirement)
    if response.headers.get("content-type") != mt.OCI_INDEX:
        fail(
            f"OCI-DISC-14: the referrers Content-Type MUST be set to {mt.OCI_INDEX}",
            response,
            f"Content-Type {mt.OCI_INDEX}",
            f"Content-Type {response.headers.get('content-type')!r}",
        )
    document = json_body(response, requirement, "a JSON image index")
    problems = schema_errors(document, IMAGE_INDEX)
    if problems:
        fail(f"{requirement} (an image index)", response, f"a body valid against {IMAGE_INDEX}", problems[0])
    return list(document.get("manifests") or [])
