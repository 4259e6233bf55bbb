"""Blob GET/HEAD/DELETE and link visibility (spec end-2, end-10; failure-modes §4.4 last row)."""

from __future__ import annotations

import httpx

from .helpers import assert_oci_error, push_blob, sha256


def test_ping_answers_200_with_api_version(http: httpx.Client) -> None:
    response = http.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert http.get("/v2").status_code == 200


def test_get_and_head_blob_return_bytes_and_digest(http: httpx.Client, repo: str) -> None:
    data = b"hello blob" * 100
    digest = push_blob(http, repo, data)
    got = http.get(f"/v2/{repo}/blobs/{digest}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Docker-Content-Digest"] == digest
    assert got.headers["Content-Type"] == "application/octet-stream"
    head = http.head(f"/v2/{repo}/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.content == b""


def test_range_requests_give_206(http: httpx.Client, repo: str) -> None:
    data = bytes(range(256)) * 8
    digest = push_blob(http, repo, data)
    for header, expected in [
        ("bytes=10-19", data[10:20]),
        ("bytes=2000-", data[2000:]),
        ("bytes=-5", data[-5:]),
    ]:
        response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == expected


def test_unsatisfiable_range_is_416_with_oci_body(http: httpx.Client, repo: str) -> None:
    """A 416 for a blob that exists must not claim BLOB_UNKNOWN; it names the size mismatch."""
    digest = push_blob(http, repo, b"0123456789")
    for header in ["bytes=500-600", "bytes=10-", "bytes=5-2", "bytes=abc", "items=0-1", "bytes=-"]:
        response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": header})
        assert_oci_error(response, 416, "SIZE_INVALID")
        assert response.headers["Content-Range"] == "bytes */10", header


def test_zero_length_suffix_range_is_unsatisfiable(http: httpx.Client, repo: str) -> None:
    """RFC 9110 §14.1.2: a suffix range needs a non-zero length; `bytes=-0` selects nothing."""
    digest = push_blob(http, repo, b"0123456789")
    response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-0"})
    assert_oci_error(response, 416, "SIZE_INVALID")
    assert response.headers["Content-Range"] == "bytes */10"


def test_last_position_past_the_end_is_clamped_however_long(http: httpx.Client, repo: str) -> None:
    """RFC 9110 §14.1.2: a last position at or past the end means the end, even with 20+ digits."""
    data = b"0123456789"
    digest = push_blob(http, repo, data)
    for last in ["10", "9999999999", "99999999999999999999", "1" + "0" * 40]:
        response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": f"bytes=2-{last}"})
        assert response.status_code == 206, last
        assert response.content == data[2:]
        assert response.headers["Content-Range"] == "bytes 2-9/10"


def test_suffix_longer_than_the_blob_is_the_whole_blob(http: httpx.Client, repo: str) -> None:
    data = b"0123456789"
    digest = push_blob(http, repo, data)
    response = http.get(f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=-99999999999999999999"})
    assert response.status_code == 206
    assert response.content == data


def test_missing_blob_is_404_blob_unknown(http: httpx.Client, repo: str) -> None:
    digest = sha256(b"never pushed")
    assert_oci_error(http.get(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert http.head(f"/v2/{repo}/blobs/{digest}").status_code == 404


def test_blob_of_another_repository_is_invisible(http: httpx.Client, repo: str) -> None:
    """Blob visibility = link visibility: HEAD/GET in a repo that never linked it say 404."""
    digest = push_blob(http, repo, b"private layer of repo A")
    other = repo + "-other"
    assert_oci_error(http.get(f"/v2/{other}/blobs/{digest}"), 404, "BLOB_UNKNOWN")
    assert http.head(f"/v2/{other}/blobs/{digest}").status_code == 404


def test_delete_blob_unlinks_it_only_here(http: httpx.Client, repo: str) -> None:
    data = b"shared layer"
    other = repo + "-b"
    digest = push_blob(http, repo, data)
    push_blob(http, other, data)
    response = http.delete(f"/v2/{repo}/blobs/{digest}")
    assert response.status_code == 202
    assert http.get(f"/v2/{repo}/blobs/{digest}").status_code == 404
    assert http.get(f"/v2/{other}/blobs/{digest}").content == data
    assert_oci_error(http.delete(f"/v2/{repo}/blobs/{digest}"), 404, "BLOB_UNKNOWN")


def test_malformed_digest_on_blob_endpoints_is_400(http: httpx.Client, repo: str) -> None:
    for bad in [
        "sha256:abc",
        "sha256:" + "A" * 64,
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:..%2F..%2Fetc%2Fpasswd",
        "notadigest",
    ]:
        assert_oci_error(http.get(f"/v2/{repo}/blobs/{bad}"), 400, "DIGEST_INVALID")
        assert_oci_error(http.delete(f"/v2/{repo}/blobs/{bad}"), 400, "DIGEST_INVALID")
