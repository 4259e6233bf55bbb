"""Upload helpers against real registries: the reference server and distribution 2.8."""

from __future__ import annotations

import gc

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keelhaul.client import BytesBlob, GeneratedBlob, RegistryClient, UploadError
from keelhaul.client.content import BLOCK_SIZE
from keelhaul.client.ledger import BlobLedger
from keelhaul.client.uploads import cancel_upload, location_of, next_offset, push_blob, start_upload


def assert_stored(client: RegistryClient, repo: str, blob) -> None:
    head = client.head_blob(repo, blob.digest)
    assert head.status_code == 200, head.text
    assert int(head.headers["content-length"]) == blob.size
    assert head.headers.get("docker-content-digest") == blob.digest
    body = client.get_blob(repo, blob.digest)
    assert body.content == b"".join(blob.iter_range(0, blob.size))


def test_monolithic(client, repo):
    blob = GeneratedBlob(2 * BLOCK_SIZE + 3, f"{repo}-mono")
    result = client.upload_monolithic(repo, blob)
    assert result.ok, result.response.text
    assert [r.request.method for r in result.responses] == ["POST", "PUT"]
    assert result.location and result.location.endswith(blob.digest)
    assert_stored(client, repo, blob)


def test_monolithic_from_bytes_and_push_blob_skips_existing(client, repo, recorder):
    data = b"small config blob " + repo.encode()
    result = client.upload_monolithic(repo, data)
    assert result.ok
    mark = recorder.mark()
    assert push_blob(client, repo, data) == result.digest
    assert [e.method for e in recorder.since(mark)] == ["HEAD"]


def test_push_blob_into_a_fresh_repository_asks_no_head_until_the_blob_is_there(client, repo, recorder):
    ledger = BlobLedger()
    ledger.add_fresh(repo)
    fresh = client.with_credentials(client.credentials)
    fresh.blob_ledger = ledger
    data = b"config blob for a fresh repository " + repo.encode()
    mark = recorder.mark()
    digest = push_blob(fresh, repo, data)
    assert "HEAD" not in [e.method for e in recorder.since(mark)]
    assert client.head_blob(repo, digest).status_code == 200
    mark = recorder.mark()
    assert push_blob(fresh, repo, data) == digest  # now recorded as present: HEAD finds it, no upload
    assert [e.method for e in recorder.since(mark)] == ["HEAD"]


def test_blob_ledger_only_vouches_for_absence_in_fresh_repositories():
    ledger = BlobLedger()
    assert not ledger.surely_absent("someone/else", "sha256:" + "a" * 64)  # not named by the run
    ledger.add_fresh("run/fresh")
    assert ledger.surely_absent("run/fresh", "sha256:" + "a" * 64)
    ledger.record("run/fresh", "sha256:" + "a" * 64)
    assert not ledger.surely_absent("run/fresh", "sha256:" + "a" * 64)
    assert ledger.surely_absent("run/fresh", "sha256:" + "b" * 64)
    ledger.record("someone/else", "sha256:" + "a" * 64)  # ignored: the ledger knows nothing there
    assert not ledger.surely_absent("someone/else", "sha256:" + "b" * 64)


def test_chunked_with_digest_computed_while_streaming(client, repo, recorder):
    blob = GeneratedBlob(3 * BLOCK_SIZE + 1000, f"{repo}-chunked")
    result = client.upload_chunked(repo, blob, chunk_size=BLOCK_SIZE + 7)
    assert result.ok, result.response.text
    assert blob.known_digest == result.digest == GeneratedBlob(blob.size, blob.seed).digest
    patches = [e for e in recorder.exchanges if e.method == "PATCH"]
    assert [e.request_headers["content-range"] for e in patches] == [
        f"{start}-{min(start + BLOCK_SIZE + 7, blob.size) - 1}"
        for start in range(0, blob.size, BLOCK_SIZE + 7)
    ]
    assert all(e.request_body_size == int(e.request_headers["content-length"]) for e in patches)
    assert_stored(client, repo, blob)


@pytest.mark.parametrize("chunked_encoding", [False, True])
def test_streamed(client, repo, chunked_encoding, recorder):
    blob = GeneratedBlob(BLOCK_SIZE + 11, f"{repo}-streamed-{chunked_encoding}")
    result = client.upload_streamed(repo, blob, chunked_encoding=chunked_encoding)
    assert result.ok, result.response.text
    patch = next(e for e in recorder.exchanges if e.method == "PATCH")
    assert "content-range" not in patch.request_headers
    assert ("content-length" in patch.request_headers) is not chunked_encoding
    assert_stored(client, repo, blob)


def test_single_post(client, repo):
    blob = BytesBlob(b"single post " + repo.encode())
    result = client.upload_single_post(repo, blob)
    if result.response.status_code == 202:
        # optional in the spec; distribution 2.8 opens a session instead
        assert location_of(result.response)
        cancel_upload(client, location_of(result.response))
        return
    assert result.ok, result.response.text
    assert_stored(client, repo, blob)


def test_wrong_digest_is_not_hidden(client, repo):
    blob = GeneratedBlob(1000, f"{repo}-wrong")
    blob.remember_digest("sha256:" + "0" * 64)  # a lie: the helper must pass the registry's answer on
    result = client.upload_monolithic(repo, blob)
    assert not result.ok
    assert result.response.status_code == 400
    assert result.response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    with pytest.raises(UploadError):
        result.raise_for_status()


def test_mount_from_another_repository(client, repo):
    source = f"{repo}-source"
    digest = client.upload_monolithic(source, b"mount me " + repo.encode()).raise_for_status().digest
    response = client.mount_blob(repo, digest, from_repo=source)
    assert response.status_code == 201
    assert client.head_blob(repo, digest).status_code == 200


def test_listing_helpers_build_queries(client, repo, recorder):
    assert client.list_tags(repo, n=2, last="a").request.url.query == b"n=2&last=a"
    assert client.catalog(n=5).request.url.path == "/v2/_catalog"


def test_chunked_resumes_after_416(reference_url, repo):
    """A chunk lost on the way (a lying proxy answers 202 for it) makes the next PATCH out of order:
    the registry says 416 with its true Range and the helper resumes from there."""
    dropped = {"done": False}
    real = httpx.HTTPTransport()

    def lossy(request: httpx.Request) -> httpx.Response:
        content_range = request.headers.get("content-range", "")
        if request.method == "PATCH" and content_range.startswith(f"{BLOCK_SIZE}-") and not dropped["done"]:
            dropped["done"] = True
            request.read()
            end = content_range.split("-")[1]
            return httpx.Response(202, headers={"Location": str(request.url), "Range": f"0-{end}"})
        return real.handle_request(request)

    blob = GeneratedBlob(4 * BLOCK_SIZE, f"{repo}-resume")
    with RegistryClient(reference_url, transport=httpx.MockTransport(lossy)) as lossy_client:
        result = lossy_client.upload_chunked(repo, blob, chunk_size=BLOCK_SIZE)
        assert dropped["done"]
        assert result.ok, result.response.text
        assert result.resumes == 1
        assert 416 in [r.status_code for r in result.responses]
        assert_stored(lossy_client, repo, blob)


def test_chunked_resumes_after_dropped_connection(reference_url, repo):
    failed = {"done": False}
    real = httpx.HTTPTransport()

    def flaky(request: httpx.Request) -> httpx.Response:
        third_chunk = request.headers.get("content-range", "").startswith(f"{2 * BLOCK_SIZE}-")
        if request.method == "PATCH" and third_chunk and not failed["done"]:
            failed["done"] = True
            raise httpx.WriteError("connection reset by peer")
        return real.handle_request(request)

    blob = GeneratedBlob(3 * BLOCK_SIZE + 5, f"{repo}-reset")
    with RegistryClient(reference_url, transport=httpx.MockTransport(flaky)) as flaky_client:
        result = flaky_client.upload_chunked(repo, blob, chunk_size=BLOCK_SIZE)
        assert result.ok, result.response.text
        assert result.resumes == 1
        assert any(r.request.method == "GET" and r.status_code == 204 for r in result.responses)
        assert_stored(flaky_client, repo, blob)


def test_relative_and_absolute_locations(reference_url, repo):
    with RegistryClient(reference_url) as plain:
        post = start_upload(plain, repo)
        assert post.status_code == 202
        absolute = location_of(post)
        assert absolute and absolute.startswith(reference_url)
        relative = absolute[len(reference_url) :]
        assert plain.request("GET", relative).status_code == 204
        assert plain.request("GET", absolute).status_code == 204
        assert cancel_upload(plain, relative).status_code == 204


@pytest.mark.parametrize(
    ("header", "confirmed", "expected"),
    [
        ("0-99", 50, 100),
        ("bytes=0-9", 0, 10),
        ("0-0", 0, 0),
        ("0-0", 1, 1),
        (None, 0, None),
        ("5-9", 0, None),
    ],
)
def test_next_offset(header, confirmed, expected):
    assert next_offset(header, confirmed) == expected


def test_streaming_does_not_hold_the_blob(reference_url, repo):
    """A 64 MiB chunked upload never holds more than a chunk: the bytes objects alive afterwards and
    the largest one built while sending stay near one 1 MiB block (no bytes(size) anywhere)."""
    sizes: list[int] = []

    class Watching(httpx.HTTPTransport):
        """Sees each body piece as it goes to the socket (MockTransport would read the body whole)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            stream = request.stream

            class Tap(httpx.SyncByteStream):
                def __iter__(self):
                    for piece in stream:  # type: ignore[union-attr]
                        sizes.append(len(piece))
                        yield piece

            request.stream = Tap()
            return super().handle_request(request)

    blob = GeneratedBlob(64 * BLOCK_SIZE, f"{repo}-flat")
    with RegistryClient(reference_url, transport=Watching()) as client:
        result = client.upload_chunked(repo, blob, chunk_size=16 * BLOCK_SIZE)
        assert result.ok
    assert max(sizes) <= BLOCK_SIZE
    gc.collect()
    big = [o for o in gc.get_objects() if isinstance(o, bytes) and len(o) >= 4 * BLOCK_SIZE]
    assert big == []


def test_query_values_are_escaped_but_readable(client, repo):
    digest = "sha256:" + "0" * 64
    response = client.referrers(repo, digest, artifact_type="application/spdx+json")
    assert response.request.url.query == b"artifactType=application/spdx%2Bjson"
    assert client.mount_blob(repo, digest, from_repo="a/b").request.url.query == (
        b"mount=sha256:" + b"0" * 64 + b"&from=a/b"
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 3 * BLOCK_SIZE), chunk=st.integers(1, 2 * BLOCK_SIZE), seed=st.integers())
def test_chunked_any_size_and_chunk(reference_url, size, chunk, seed):
    """Whatever the sizes (empty blob, one byte, chunks not aligned to blocks), the registry ends up
    with exactly the generated bytes under the digest computed while streaming."""
    blob = GeneratedBlob(size, seed)
    with RegistryClient(reference_url) as client:
        chunk_size = max(chunk, size // 8 or 1)  # at most ~8 chunks per example: bounded time
        result = client.upload_chunked("keelhaul-client/any-size", blob, chunk_size=chunk_size)
        assert result.ok, result.response.text
        assert result.digest == GeneratedBlob(size, seed).digest
        head = client.head_blob("keelhaul-client/any-size", result.digest)
        assert int(head.headers["content-length"]) == size
