"""OCI §Push, blobs (end-4a, end-4b, end-5, end-6, end-13): monolithic POST+PUT, single POST,
streamed and chunked PATCH (416 on out-of-order and repeated chunks), upload status, digest checks."""

from __future__ import annotations

import pytest

from conformance.content import missing_digest
from conformance.oci.expect import (
    expect_blob,
    expect_created,
    expect_error,
    expect_range,
    expect_status,
    expect_upload_session,
    fail,
)
from keelhaul.client import digest_of
from keelhaul.client.uploads import OCTET, start_upload, upload_status
from keelhaul.client.urls import add_query

# Two chunks like the official suite's testBlobB (sizes it would grow to honour OCI-Chunk-Min-Length).
CHUNK_1 = b"keelhaul chunk one: 22"
CHUNK_2 = b"keelhaul chunk two: 20"


def _chunks(post) -> tuple[bytes, bytes]:
    """The two chunks, grown when the registry announces OCI-Chunk-Min-Length."""
    minimum = post.headers.get("oci-chunk-min-length", "")
    if minimum.isdigit() and int(minimum) > len(CHUNK_1):
        size = int(minimum)
        return (b"1" * size, b"2" * size)
    return CHUNK_1, CHUNK_2


def _patch(client, location, data, start, requirement=None):
    headers = {**OCTET, "Content-Range": f"{start}-{start + len(data) - 1}"}
    return client.request("PATCH", location, headers=headers, content=data)


@pytest.mark.req("OCI-PUSH-1", "OCI-PUSH-2", "OCI-PULL-5")
def test_monolithic_post_then_put(client, new_repo):
    """POST opens a session (202 + Location); PUT ?digest= with the blob answers 201 with a pullable
    Location that returns exactly those bytes."""
    repo = new_repo()
    data = b"keelhaul monolithic blob"
    post = start_upload(client, repo)
    location = expect_upload_session(
        post, repo, "OCI-PUSH-1: POST blobs/uploads/ MUST answer 202 with a Location"
    )
    put = client.request("PUT", add_query(location, digest=digest_of(data)), headers=OCTET, content=data)
    blob_url = expect_created(put, "OCI-PUSH-2: PUT <location>?digest= MUST answer 201 with a Location")
    header = put.headers.get("docker-content-digest")
    if header is not None and header != digest_of(data):
        fail("OCI-PUSH-2: Docker-Content-Digest names the stored blob", put, digest_of(data), header)
    expect_blob(client.request("GET", blob_url), data, "OCI-PUSH-2: the Location MUST be a pullable blob URL")
    expect_blob(
        client.get_blob(repo, digest_of(data)), data, "OCI-PULL-5: GET blob MUST return the bytes pushed"
    )


@pytest.mark.req("OCI-PUSH-2", "OCI-PULL-5")
def test_monolithic_layer_upload(client, new_repo):
    """A gzip layer pushed by POST+PUT is pullable byte for byte (the official suite's layer push)."""
    from conformance.content import layer

    repo = new_repo()
    blob = layer("monolithic-layer", 2048)
    result = client.upload_monolithic(repo, blob.body)
    expect_created(result.response, "OCI-PUSH-2: PUT <location>?digest= MUST answer 201")
    expect_blob(client.get_blob(repo, blob.digest), blob, "OCI-PULL-5: GET blob MUST return the layer pushed")


@pytest.mark.req("OCI-PUSH-3")
def test_single_post_upload(client, new_repo):
    """POST ?digest= with the blob answers 201 (then the blob is there) or 202 with a Location (then it
    is not, and the client goes on with PUT)."""
    repo = new_repo()
    data = b"keelhaul single post"
    post = client.upload_single_post(repo, data).response
    status = expect_status(post, (201, 202), "OCI-PUSH-3: a single POST ?digest= MUST answer 201 or 202")
    if status == 201:
        location = expect_created(post, "OCI-PUSH-3: 201 MUST carry a pullable Location")
        expect_blob(client.request("GET", location), data, "OCI-PUSH-3: the blob is pullable after 201")
        return
    location = expect_upload_session(post, repo, "OCI-PUSH-3: 202 MUST carry an upload Location")
    expect_error(
        client.head_blob(repo, digest_of(data)),
        [404],
        None,
        "OCI-PUSH-3: after a 202 the blob is not stored yet (GET MUST answer 404)",
    )
    put = client.request("PUT", add_query(location, digest=digest_of(data)), headers=OCTET, content=data)
    expect_created(put, "OCI-PUSH-2: the PUT that follows a 202 MUST answer 201")


@pytest.mark.req("OCI-PUSH-4")
def test_streamed_upload(client, new_repo):
    """One PATCH with the whole blob and no Content-Range answers 202; PUT ?digest= with no body 201."""
    repo = new_repo()
    data = b"keelhaul streamed blob " * 8
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    patch = client.request("PATCH", location, headers=OCTET, content=data)
    location = expect_upload_session(
        patch, repo, "OCI-PUSH-4: a streamed PATCH MUST answer 202 with a Location"
    )
    put = client.request("PUT", add_query(location, digest=digest_of(data)), content=b"")
    expect_created(put, "OCI-PUSH-4: PUT ?digest= closing a streamed upload MUST answer 201")
    expect_blob(client.get_blob(repo, digest_of(data)), data, "OCI-PULL-5: the streamed blob is pullable")


@pytest.mark.req("OCI-PUSH-5")
def test_chunked_upload_in_order(client, new_repo):
    """Each in-order chunk answers 202 with `Range: 0-<end>`; the closing PUT 201; the blob holds both."""
    repo = new_repo()
    post = client.request("POST", f"/v2/{repo}/blobs/uploads/", content=b"")
    location = expect_upload_session(post, repo, "OCI-PUSH-1: POST MUST answer 202")
    first, second = _chunks(post)
    patch = _patch(client, location, first, 0)
    location = expect_upload_session(
        patch, repo, "OCI-PUSH-5: an in-order chunk MUST answer 202 with a Location"
    )
    expect_range(patch, len(first) - 1, "OCI-PUSH-5: a chunk's 202 MUST carry Range: 0-<end>")
    patch = _patch(client, location, second, len(first))
    location = expect_upload_session(patch, repo, "OCI-PUSH-5: the second chunk MUST answer 202")
    expect_range(patch, len(first) + len(second) - 1, "OCI-PUSH-5: Range covers everything uploaded")
    data = first + second
    put = client.request("PUT", add_query(location, digest=digest_of(data)), content=b"")
    expect_created(put, "OCI-PUSH-5: the closing PUT ?digest= MUST answer 201")
    expect_blob(
        client.get_blob(repo, digest_of(data)), data, "OCI-PUSH-5: the blob holds every chunk in order"
    )


@pytest.mark.req("OCI-PUSH-5")
def test_chunked_upload_final_chunk_in_put(client, new_repo):
    """The last chunk MAY travel in the closing PUT (with Content-Range); the result is 201."""
    repo = new_repo()
    post = client.request("POST", f"/v2/{repo}/blobs/uploads/", content=b"")
    location = expect_upload_session(post, repo, "OCI-PUSH-1: POST MUST answer 202")
    first, second = _chunks(post)
    patch = _patch(client, location, first, 0)
    location = expect_upload_session(patch, repo, "OCI-PUSH-5: an in-order chunk MUST answer 202")
    data = first + second
    headers = {**OCTET, "Content-Range": f"{len(first)}-{len(data) - 1}"}
    put = client.request("PUT", add_query(location, digest=digest_of(data)), headers=headers, content=second)
    expect_created(put, "OCI-PUSH-5: a closing PUT carrying the final chunk MUST answer 201")
    expect_blob(client.get_blob(repo, digest_of(data)), data, "OCI-PUSH-5: the blob holds every chunk")


@pytest.mark.req("OCI-PUSH-6")
def test_out_of_order_chunk_is_416(client, new_repo):
    """A first PATCH whose Content-Range does not start at 0 answers 416."""
    repo = new_repo()
    post = client.request("POST", f"/v2/{repo}/blobs/uploads/", content=b"", headers={"Content-Length": "0"})
    location = expect_upload_session(post, repo, "OCI-PUSH-1: POST MUST answer 202")
    first, second = _chunks(post)
    patch = _patch(client, location, second, len(first))
    expect_status(
        patch, 416, "OCI-PUSH-6: an out-of-order chunk MUST answer 416 Requested Range Not Satisfiable"
    )
    status = upload_status(client, location)
    expect_status(status, 204, "OCI-PUSH-8: the session survives a 416 (GET MUST answer 204)")
    if status.headers.get("range") not in (None, "0-0", "bytes=0-0"):
        fail(
            "OCI-PUSH-6: a refused chunk appends nothing",
            status,
            "Range 0-0 or none",
            f"Range {status.headers.get('range')}",
        )


def _first_chunk_accepted(client, repo):
    """POST, PATCH chunk 1; returns (the POST's Location, chunk 1, chunk 2)."""
    post = client.request("POST", f"/v2/{repo}/blobs/uploads/", content=b"")
    original = expect_upload_session(post, repo, "OCI-PUSH-1: POST MUST answer 202")
    first, second = _chunks(post)
    patch = _patch(client, original, first, 0)
    expect_upload_session(patch, repo, "OCI-PUSH-5: the first chunk MUST answer 202")
    return original, first, second


@pytest.mark.req("OCI-PUSH-7")
def test_repeated_chunk_is_416(client, new_repo):
    """After chunk 1 is accepted, re-sending it to the POST's Location answers 416."""
    repo = new_repo()
    original, first, _ = _first_chunk_accepted(client, repo)
    again = _patch(client, original, first, 0)
    expect_status(again, 416, "OCI-PUSH-7: re-sending an accepted chunk MUST answer 416")


@pytest.mark.req("OCI-PUSH-8")
def test_stale_session_location_reports_progress(client, new_repo):
    """After chunk 1, GET on the POST's (now stale) Location answers 204 with a Location and
    `Range: 0-<end>`; the upload completes from the Location it gives."""
    repo = new_repo()
    original, first, second = _first_chunk_accepted(client, repo)
    status = upload_status(client, original)
    expect_status(status, 204, "OCI-PUSH-8: GET on the upload's (first) Location MUST answer 204")
    location = expect_upload_session(status, repo, "OCI-PUSH-8: the 204 MUST carry a Location", status=204)
    expect_range(status, len(first) - 1, "OCI-PUSH-8: the 204 MUST carry Range: 0-<end of data received>")
    patch = _patch(client, location, second, len(first))
    location = expect_upload_session(
        patch, repo, "OCI-PUSH-5: the next chunk at the reported offset MUST answer 202"
    )
    data = first + second
    put = client.request("PUT", add_query(location, digest=digest_of(data)), content=b"")
    expect_created(put, "OCI-PUSH-5: the closing PUT MUST answer 201")
    expect_blob(client.get_blob(repo, digest_of(data)), data, "OCI-PUSH-5: the blob holds each chunk once")


@pytest.mark.req("OCI-PUSH-19", "OCI-NEG-DIGEST-1")
def test_wrong_digest_on_close_is_refused(client, new_repo):
    """PUT ?digest= naming other content answers 400 DIGEST_INVALID; nothing is stored under either digest."""
    repo = new_repo()
    data = b"keelhaul digest mismatch"
    wrong = missing_digest("wrong-digest")
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    put = client.request("PUT", add_query(location, digest=wrong), headers=OCTET, content=data)
    expect_error(
        put, [400], {"DIGEST_INVALID"}, "OCI-PUSH-19: a digest that does not match the bytes MUST be refused"
    )
    for digest in (wrong, digest_of(data)):
        expect_error(
            client.head_blob(repo, digest), [404], None, "OCI-PUSH-19: a refused upload stores nothing"
        )
