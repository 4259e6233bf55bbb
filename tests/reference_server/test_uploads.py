"""Blob uploads: sessions, chunks, Content-Range rules, finishing, cancelling, mounting, limits
(spec end-4a/4b/5/6/11/13, "Pushing blobs in chunks"; failure-modes §4.3, §4.4)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from keelhaul.client import GeneratedBlob, RegistryClient
from reference_server.embedded import EmbeddedServer
from reference_server.http.app import REGISTRY_KEY
from reference_server.storage.blobs import BlobStore, Digest

from .helpers import assert_oci_error, push_blob, sha256

OCTET = {"Content-Type": "application/octet-stream"}


def _start(http: httpx.Client, repo: str) -> str:
    response = http.post(f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")
    assert response.headers["Docker-Upload-UUID"] in location
    return location


def _patch(
    http: httpx.Client, location: str, data: bytes, start: int | None = None, **headers: str
) -> httpx.Response:
    sent = dict(OCTET)
    if start is not None:
        sent["Content-Range"] = f"{start}-{start + len(data) - 1}"
    sent.update(headers)
    return http.patch(location, content=data, headers=sent)


def test_chunked_upload_follows_the_conformance_sequence(http: httpx.Client, repo: str) -> None:
    """The official suite's chunked flow: out-of-order 416, Range echo, stale location, status, finish."""
    first, second = b"a" * 22, b"b" * 20
    data = first + second
    location = _start(http, repo)
    out_of_order = _patch(http, location, second, start=len(first))
    assert_oci_error(out_of_order, 416, "BLOB_UPLOAD_INVALID")
    assert out_of_order.headers["Range"] == "0-0"
    assert out_of_order.headers["Location"] == location
    response = _patch(http, location, first, start=0)
    assert response.status_code == 202
    assert response.headers["Range"] == "0-21"
    assert response.headers["Location"].startswith(f"/v2/{repo}/blobs/uploads/")
    assert _patch(http, location, first, start=0).status_code == 416  # repeated chunk
    status = http.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == "0-21"
    next_location = status.headers["Location"]
    response = _patch(http, next_location, second, start=len(first))
    assert response.status_code == 202
    assert response.headers["Range"] == "0-41"
    done = http.put(f"{next_location}?digest={sha256(data)}")
    assert done.status_code == 201
    assert done.headers["Location"] == f"/v2/{repo}/blobs/{sha256(data)}"
    assert done.headers["Docker-Content-Digest"] == sha256(data)
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_streamed_patch_without_content_range(http: httpx.Client, repo: str) -> None:
    data = b"streamed bytes " * 1000
    location = _start(http, repo)
    response = http.patch(location, content=iter([data[:5000], data[5000:]]), headers=OCTET)
    assert response.status_code == 202
    assert response.headers["Range"] == f"0-{len(data) - 1}"
    assert http.put(f"{location}?digest={sha256(data)}").status_code == 201


def test_final_put_may_carry_the_last_chunk(http: httpx.Client, repo: str) -> None:
    data = b"0123456789" * 10
    location = _start(http, repo)
    assert _patch(http, location, data[:60], start=0).status_code == 202
    done = http.put(
        f"{location}?digest={sha256(data)}", content=data[60:], headers={**OCTET, "Content-Range": "60-99"}
    )
    assert done.status_code == 201, done.text
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_single_post_upload(http: httpx.Client, repo: str) -> None:
    data = b"one request"
    response = http.post(f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", content=data, headers=OCTET)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{repo}/blobs/{sha256(data)}"
    assert http.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_single_post_with_wrong_digest_links_nothing(http: httpx.Client, repo: str) -> None:
    claimed = sha256(b"something else")
    response = http.post(f"/v2/{repo}/blobs/uploads/?digest={claimed}", content=b"actual", headers=OCTET)
    assert_oci_error(response, 400, "DIGEST_INVALID")
    assert http.head(f"/v2/{repo}/blobs/{claimed}").status_code == 404
    assert http.head(f"/v2/{repo}/blobs/{sha256(b'actual')}").status_code == 404


def test_post_with_body_but_no_digest_is_refused(http: httpx.Client, repo: str) -> None:
    response = http.post(f"/v2/{repo}/blobs/uploads/", content=b"data", headers=OCTET)
    assert_oci_error(response, 400, "BLOB_UPLOAD_INVALID")


def test_empty_blob_with_its_digest_and_no_body(http: httpx.Client, repo: str) -> None:
    empty = sha256(b"")
    location = _start(http, repo)
    assert http.put(f"{location}?digest={empty}").status_code == 201
    got = http.get(f"/v2/{repo}/blobs/{empty}")
    assert got.status_code == 200 and got.content == b""


def test_non_empty_digest_with_no_body_is_digest_invalid(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    assert_oci_error(http.put(f"{location}?digest={sha256(b'x')}"), 400, "DIGEST_INVALID")


def test_wrong_digest_on_final_put_discards_session_and_links_nothing(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    assert _patch(http, location, b"real content", start=0).status_code == 202
    claimed = sha256(b"claimed content")
    assert_oci_error(http.put(f"{location}?digest={claimed}"), 400, "DIGEST_INVALID")
    assert http.head(f"/v2/{repo}/blobs/{claimed}").status_code == 404
    assert http.head(f"/v2/{repo}/blobs/{sha256(b'real content')}").status_code == 404
    assert_oci_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_final_put_needs_a_valid_digest(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    assert_oci_error(http.put(location), 400, "DIGEST_INVALID")
    for bad in ["sha256:123", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + "G" * 64]:
        assert_oci_error(http.put(f"{location}?digest={bad}"), 400, "DIGEST_INVALID")
    assert http.get(location).status_code == 204  # the session survives a malformed request


def test_repeated_final_put_is_idempotent(http: httpx.Client, repo: str) -> None:
    data = b"retry me"
    location = _start(http, repo)
    first = http.put(f"{location}?digest={sha256(data)}", content=data, headers=OCTET)
    again = http.put(f"{location}?digest={sha256(data)}")
    assert first.status_code == again.status_code == 201
    assert first.headers["Location"] == again.headers["Location"]
    assert_oci_error(http.patch(location, content=b"more", headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")


def test_bad_content_ranges(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    assert _patch(http, location, b"abcd", start=0).status_code == 202
    assert_oci_error(_patch(http, location, b"efgh", **{"Content-Range": "20-0"}), 416, "BLOB_UPLOAD_INVALID")
    assert_oci_error(_patch(http, location, b"efgh", **{"Content-Range": "4-2"}), 416, "BLOB_UPLOAD_INVALID")
    for bad in ["abc", "-1-3", "4-", "4-18446744073709551616000", "4 - 7", "4-7-9"]:
        response = _patch(http, location, b"efgh", **{"Content-Range": bad})
        assert_oci_error(response, 400, "BLOB_UPLOAD_INVALID")
    # Content-Length must equal the range's length.
    response = _patch(http, location, b"efgh", **{"Content-Range": "4-9"})
    assert_oci_error(response, 400, "SIZE_INVALID")
    assert http.get(location).headers["Range"] == "0-3"  # nothing was appended by the failures
    assert _patch(http, location, b"efgh", start=4).headers["Range"] == "0-7"


def test_content_range_with_chunked_body_of_wrong_length(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    response = http.patch(location, content=iter([b"abc"]), headers={**OCTET, "Content-Range": "0-9"})
    assert_oci_error(response, 400, "SIZE_INVALID")
    assert http.get(location).headers["Range"] == "0-0"


def test_patch_with_wrong_content_type_is_400(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    response = http.patch(location, content=b"data", headers={"Content-Type": "text/plain"})
    assert_oci_error(response, 400, "BLOB_UPLOAD_INVALID")


def test_unknown_and_foreign_upload_ids(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    upload_id = location.rsplit("/", 1)[1]
    other = repo + "-intruder"
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = http.request(method, f"/v2/{other}/blobs/uploads/{upload_id}?digest={sha256(b'')}")
        assert_oci_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
        garbage = http.request(method, f"/v2/{repo}/blobs/uploads/not-a-uuid;$(rm)")
        assert_oci_error(garbage, 404, "BLOB_UPLOAD_UNKNOWN")
    unknown = http.get(f"/v2/{repo}/blobs/uploads/00000000-0000-4000-8000-000000000000")
    assert_oci_error(unknown, 404, "BLOB_UPLOAD_UNKNOWN")
    assert http.get(location).status_code == 204  # the owner's session was not touched


def test_cancel_upload(http: httpx.Client, repo: str) -> None:
    location = _start(http, repo)
    assert _patch(http, location, b"partial", start=0).status_code == 202
    assert http.delete(location).status_code == 204
    assert_oci_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(http.delete(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_mount_from_another_repository(http: httpx.Client, repo: str) -> None:
    source = repo + "-src"
    digest = push_blob(http, source, b"mountable")
    response = http.post(f"/v2/{repo}/blobs/uploads/?mount={digest}&from={source}")
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{repo}/blobs/{digest}"
    assert response.headers["Docker-Content-Digest"] == digest
    assert http.get(f"/v2/{repo}/blobs/{digest}").content == b"mountable"


def test_mount_that_cannot_happen_opens_a_session(http: httpx.Client, repo: str) -> None:
    source = repo + "-src"
    digest = push_blob(http, source, b"only in source")
    unknown = sha256(b"nowhere")
    for query in [f"mount={unknown}&from={source}", f"mount={digest}&from={repo}-empty", f"mount={unknown}"]:
        response = http.post(f"/v2/{repo}/blobs/uploads/?{query}")
        assert response.status_code == 202, query
        assert response.headers["Location"].startswith(f"/v2/{repo}/blobs/uploads/")
    assert http.head(f"/v2/{repo}/blobs/{digest}").status_code == 404


def test_automatic_mount_without_from(http: httpx.Client, repo: str) -> None:
    """With OpenAccess every repository is readable, so a known digest mounts without `from`."""
    digest = push_blob(http, repo + "-src", b"auto mount me")
    response = http.post(f"/v2/{repo}/blobs/uploads/?mount={digest}")
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{repo}/blobs/{digest}"


def test_mount_with_bad_parameters(http: httpx.Client, repo: str) -> None:
    assert_oci_error(http.post(f"/v2/{repo}/blobs/uploads/?mount=sha256:zz&from=a/b"), 400, "DIGEST_INVALID")
    digest = sha256(b"x")
    assert_oci_error(
        http.post(f"/v2/{repo}/blobs/uploads/?mount={digest}&from=Bad..Name"), 400, "NAME_INVALID"
    )


def test_sha512_digest_is_verified_with_sha512(http: httpx.Client, repo: str) -> None:
    data = b"sha512 content"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = _start(http, repo)
    assert http.put(f"{location}?digest={digest}", content=data, headers=OCTET).status_code == 201
    assert http.get(f"/v2/{repo}/blobs/{digest}").content == data
    wrong = "sha512:" + hashlib.sha512(b"other").hexdigest()
    location = _start(http, repo)
    assert_oci_error(
        http.put(f"{location}?digest={wrong}", content=data, headers=OCTET), 400, "DIGEST_INVALID"
    )


def test_client_chunked_upload_of_a_generated_blob(
    client: RegistryClient, http: httpx.Client, repo: str
) -> None:
    blob = GeneratedBlob(9 * 1024 * 1024 + 17, seed="chunky")
    result = client.upload_chunked(repo, blob, 4 * 1024 * 1024).raise_for_status()
    assert result.digest == blob.digest
    head = http.head(f"/v2/{repo}/blobs/{blob.digest}")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == blob.size
    streamed = hashlib.sha256()
    with http.stream("GET", f"/v2/{repo}/blobs/{blob.digest}") as response:
        for part in response.iter_bytes():
            streamed.update(part)
    assert "sha256:" + streamed.hexdigest() == blob.digest


def test_concurrent_final_puts_of_the_same_blob_into_two_repos(registry_url: str, repo: str) -> None:
    data = b"same layer pushed twice at once" * 1000
    results: list[int] = []

    def push(name: str) -> None:
        with httpx.Client(base_url=registry_url) as session:
            location = _start(session, name)
            results.append(
                session.put(f"{location}?digest={sha256(data)}", content=data, headers=OCTET).status_code
            )

    threads = [threading.Thread(target=push, args=(f"{repo}-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [201, 201]


def test_layer_size_limit_is_enforced_while_streaming(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry(max_layer_bytes=1000)
    with httpx.Client(base_url=server.url) as http:
        location = _start(http, "limits/a")
        assert _patch(http, location, b"x" * 600, start=0).status_code == 202
        response = http.patch(location, content=iter([b"y" * 300, b"y" * 300]), headers=OCTET)
        body = assert_oci_error(response, 413, "SIZE_INVALID")
        assert "1000" in body["errors"][0]["message"]
        assert_oci_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")  # session and data gone
        # Declared too large up front (Content-Length), monolithic and single-POST.
        location = _start(http, "limits/a")
        assert_oci_error(
            http.put(f"{location}?digest={sha256(b'z' * 1001)}", content=b"z" * 1001, headers=OCTET),
            413,
            "SIZE_INVALID",
        )
        response = http.post(
            f"/v2/limits/a/blobs/uploads/?digest={sha256(b'z' * 1001)}", content=b"z" * 1001, headers=OCTET
        )
        assert_oci_error(response, 413, "SIZE_INVALID")
        # Exactly the limit is fine.
        assert (
            http.post(
                f"/v2/limits/a/blobs/uploads/?digest={sha256(b'k' * 1000)}",
                content=b"k" * 1000,
                headers=OCTET,
            ).status_code
            == 201
        )


def test_sessions_expire_counted_from_their_start(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry(upload_timeout_seconds=1.0)
    with httpx.Client(base_url=server.url) as http:
        location = _start(http, "expiry/a")
        assert _patch(http, location, b"early", start=0).status_code == 202
        time.sleep(1.2)
        body = assert_oci_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
        assert "expired" in body["errors"][0]["message"]
        assert_oci_error(http.put(f"{location}?digest={sha256(b'early')}"), 404, "BLOB_UPLOAD_UNKNOWN")


def test_chunked_transfer_encoding_with_many_small_pieces(http: httpx.Client, repo: str) -> None:
    """Chunked encoding boundaries must not be mistaken for the end of the body."""
    pieces = [bytes([i % 251]) * (1000 + i) for i in range(600)]
    data = b"".join(pieces)
    location = _start(http, repo)
    response = http.patch(location, content=iter(pieces), headers=OCTET)
    assert response.status_code == 202
    assert response.headers["Range"] == f"0-{len(data) - 1}"
    assert http.put(f"{location}?digest={sha256(data)}").status_code == 201
    single = http.post(
        f"/v2/{repo}/blobs/uploads/?digest={sha256(data)}", content=iter(pieces), headers=OCTET
    )
    assert single.status_code == 201


def _slow_body(pieces: int, pause: float) -> Iterator[bytes]:
    for _ in range(pieces):
        yield b"s" * 100
        time.sleep(pause)


def test_session_deadline_applies_while_data_is_still_arriving(
    make_registry: Callable[..., EmbeddedServer],
) -> None:
    server = make_registry(upload_timeout_seconds=1.0)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        location = _start(http, "deadline/a")
        response = http.patch(location, content=_slow_body(8, 0.25), headers=OCTET)
        body = assert_oci_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
        assert "expired" in body["errors"][0]["message"]
        assert_oci_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_stalled_body_is_dropped_and_the_session_kept(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry()
    server.app[REGISTRY_KEY].uploads.idle_seconds = 0.3
    with httpx.Client(base_url=server.url, timeout=30) as http:
        location = _start(http, "stall/a")
        assert _patch(http, location, b"kept", start=0).status_code == 202
        response = http.patch(location, content=_slow_body(2, 0.8), headers=OCTET)
        assert_oci_error(response, 408, "BLOB_UPLOAD_INVALID")
        assert http.get(location).headers["Range"] == "0-3"  # the stalled chunk left nothing behind


def test_empty_bodies_repeated_on_one_connection(http: httpx.Client, repo: str) -> None:
    """aiohttp shares one empty-payload object between requests; the second empty body must still end."""
    empty = sha256(b"")
    for name in (repo, repo + "-2", repo + "-3"):
        response = http.post(f"/v2/{name}/blobs/uploads/?digest={empty}", content=b"", headers=OCTET)
        assert response.status_code == 201
        location = _start(http, name)
        assert http.patch(location, content=b"", headers=OCTET).status_code == 202
        assert http.put(f"{location}?digest={empty}", content=b"", headers=OCTET).status_code == 201


def test_sweep_removes_expired_sessions_and_their_files(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry(upload_timeout_seconds=0.5)
    uploads = server.app[REGISTRY_KEY].uploads
    with httpx.Client(base_url=server.url) as http:
        location = _start(http, "sweep/a")
        assert _patch(http, location, b"data", start=0).status_code == 202
    upload_id = location.rsplit("/", 1)[1]
    assert (uploads.dir / upload_id).exists()
    time.sleep(0.6)
    assert uploads.sweep_expired() == 1
    assert not (uploads.dir / upload_id).exists()
    assert uploads.metadata.get_upload(upload_id) is None


def test_client_disconnect_mid_chunk_appends_nothing(
    http: httpx.Client, registry_url: str, repo: str
) -> None:
    import socket
    from urllib.parse import urlsplit

    location = _start(http, repo)
    assert _patch(http, location, b"0123456789", start=0).status_code == 202
    parts = urlsplit(registry_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/octet-stream\r\n"
            "Content-Range: 10-1009\r\nContent-Length: 1000\r\n\r\n".encode()
            + b"x" * 500
        )
        time.sleep(0.3)
    deadline = time.time() + 5
    while time.time() < deadline and http.get(location).headers["Range"] != "0-9":
        time.sleep(0.05)
    assert http.get(location).headers["Range"] == "0-9"
    assert _patch(http, location, b"abc", start=10).headers["Range"] == "0-12"
    data = b"0123456789abc"
    assert http.put(f"{location}?digest={sha256(data)}").status_code == 201


def test_session_whose_file_vanished_is_unknown_not_a_500(
    make_registry: Callable[..., EmbeddedServer],
) -> None:
    server = make_registry()
    uploads = server.app[REGISTRY_KEY].uploads
    with httpx.Client(base_url=server.url) as http:
        location = _start(http, "vanish/a")
        (uploads.dir / location.rsplit("/", 1)[1]).unlink()
        assert_oci_error(http.patch(location, content=b"x", headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_oci_error(http.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_a_blob_pushed_again_keeps_the_stored_file(make_registry: Callable[..., EmbeddedServer]) -> None:
    """A digest pushed again (another repository, the same layer) leaves the stored file in place, with
    its cached pages, and leaves no upload file behind: a session's PUT, chunks, a single POST."""
    server = make_registry()
    data = b"a layer many repositories push" * 40_000
    digest = sha256(data)
    blob_file = server.config.data_dir / "blobs" / "sha256" / digest[7:9] / digest[7:]
    with httpx.Client(base_url=server.url) as http:
        push_blob(http, "first/repo", data)
        stored = blob_file.stat()
        location = _start(http, "second/repo")
        assert http.put(f"{location}?digest={digest}", content=data, headers=OCTET).status_code == 201
        location = _start(http, "third/repo")
        assert _patch(http, location, data, start=0).status_code == 202
        assert http.put(f"{location}?digest={digest}").status_code == 201
        whole = http.post(f"/v2/fourth/repo/blobs/uploads/?digest={digest}", content=data, headers=OCTET)
        assert whole.status_code == 201
        for name in ("second/repo", "third/repo", "fourth/repo"):
            assert http.get(f"/v2/{name}/blobs/{digest}").content == data
    again = blob_file.stat()
    assert (again.st_ino, again.st_mtime_ns) == (stored.st_ino, stored.st_mtime_ns)
    assert not [path for path in (server.config.data_dir / "uploads").iterdir() if path.is_file()]


def test_a_stored_blob_of_another_size_is_replaced(tmp_path: Path) -> None:
    """A blob file whose size is wrong (damaged outside the registry) is replaced by a verified push."""
    store = BlobStore(tmp_path)
    digest = Digest("sha256", hashlib.sha256(b"whole").hexdigest())
    store.write(digest, b"who", tmp_path / "tmp")  # stands for a damaged file
    store.write(digest, b"whole", tmp_path / "tmp")
    assert store.path(digest).read_bytes() == b"whole"
    assert store.holds(digest, 5)
    assert list((tmp_path / "tmp").iterdir()) == []
