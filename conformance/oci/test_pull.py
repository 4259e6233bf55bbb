"""OCI §Pull (end-1, end-2, end-3): manifests and blobs by tag and digest, HEAD and GET, 404s, Range.

Read-only checks: they read the session's `pull_content` (pushed once by a fixture, or the profile's
[read_only] content), so they also run with --read-only.
"""

from __future__ import annotations

import pytest

from conformance.oci.content import missing_digest
from conformance.oci.expect import (
    check_answer,
    expect_blob,
    expect_error,
    expect_manifest,
    expect_status,
    expect_valid_manifest,
    fail,
)
from keelhaul.client import digest_of

pytestmark = pytest.mark.read_only

INVALID_TAG = ".INVALID_MANIFEST_NAME"  # the official suite's "nonexistent manifest"


def _expect_pulled_manifest(response, pull_content, digest, requirement):
    """Known bytes: compare them; read-only content: the body must hash to the digest."""
    known = {m.digest: m for m in (pull_content.manifest, pull_content.second_manifest) if m}
    if digest in known:
        expect_manifest(response, known[digest], requirement)
        return
    expect_status(response, 200, requirement)
    header = response.headers.get("docker-content-digest")
    if header is not None and header != digest:
        fail(requirement, response, f"Docker-Content-Digest {digest}", f"Docker-Content-Digest {header}")
    if response.request.method == "GET":
        if digest_of(response.content) != digest:
            fail(requirement, response, f"a body hashing to {digest}", digest_of(response.content))
        expect_valid_manifest(response)


@pytest.mark.req("OCI-BASE-1")
def test_base_endpoint_answers_200(client):
    """GET /v2/ answers 200 to a client allowed to use the registry (end-1)."""
    expect_status(client.ping(), 200, "OCI-BASE-1: GET /v2/ MUST answer 200")


@pytest.mark.req("OCI-PULL-1", "OCI-PULL-9", "PULL-3")
def test_get_manifest_by_tag(client, pull_content):
    """GET /v2/<name>/manifests/<tag> answers 200 with the manifest pushed under that tag."""
    if not pull_content.tag:
        pytest.skip("the profile's [read_only] content names no tag")
    response = client.get_manifest(pull_content.repo, pull_content.tag)
    _expect_pulled_manifest(
        response,
        pull_content,
        pull_content.manifest_digest or digest_of(response.content),
        "OCI-PULL-1: GET manifest by tag MUST answer 200 with the manifest",
    )


@pytest.mark.req("OCI-PULL-2", "OCI-PULL-9", "PULL-1", "PULL-2")
def test_get_manifest_by_digest(client, pull_content):
    """GET /v2/<name>/manifests/<digest> answers 200 with bytes hashing to that digest, for a manifest
    pushed by tag and for one pushed by digest."""
    digests = [
        d
        for d in (
            pull_content.manifest_digest,
            pull_content.second_manifest and pull_content.second_manifest.digest,
        )
        if d
    ]
    if not digests:
        pytest.skip("the profile's [read_only] content names no manifest digest")
    for digest in digests:
        response = client.get_manifest(pull_content.repo, digest)
        _expect_pulled_manifest(
            response,
            pull_content,
            digest,
            "OCI-PULL-2: GET manifest by digest MUST answer 200 with that manifest",
        )


@pytest.mark.req("OCI-PULL-3")
def test_head_manifest_by_tag_and_digest(client, pull_content):
    """HEAD on a manifest (tag or digest) answers 200, no body, its digest and size in the headers."""
    references = [
        r
        for r in (
            pull_content.tag,
            pull_content.manifest_digest,
            pull_content.second_manifest and pull_content.second_manifest.digest,
        )
        if r
    ]
    get = client.get_manifest(pull_content.repo, references[0])
    expect_status(get, 200, "OCI-PULL-1: GET manifest MUST answer 200")
    for reference in references:
        response = client.head_manifest(pull_content.repo, reference)
        digest = reference if ":" in reference else digest_of(get.content)
        _expect_pulled_manifest(response, pull_content, digest, "OCI-PULL-3: HEAD manifest MUST answer 200")
        if response.content:
            fail("OCI-PULL-3: HEAD has no body", response, "an empty body", f"{len(response.content)} bytes")


@pytest.mark.req("OCI-PULL-4")
@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_missing_manifest_is_404(client, pull_content, method):
    """HEAD/GET of a manifest the repository lacks answers 404 (MANIFEST_UNKNOWN), by digest and by
    the official suite's nonexistent reference `.INVALID_MANIFEST_NAME`."""
    for reference in (missing_digest("manifest"), INVALID_TAG):
        response = client.request(method, f"/v2/{pull_content.repo}/manifests/{reference}")
        codes = {"MANIFEST_UNKNOWN"} if ":" in reference else None
        expect_error(response, [404], codes, "OCI-PULL-4: a manifest not in the repository MUST answer 404")


@pytest.mark.req("OCI-PULL-5")
def test_get_blob(client, pull_content):
    """GET /v2/<name>/blobs/<digest> answers 200 with exactly the blob's bytes."""
    if not pull_content.blob_digest:
        pytest.skip("the profile's [read_only] content names no blob digest")
    response = client.get_blob(pull_content.repo, pull_content.blob_digest)
    if pull_content.blob is not None:
        expect_blob(response, pull_content.blob, "OCI-PULL-5: GET blob MUST answer 200 with the blob")
        return
    expect_status(response, 200, "OCI-PULL-5: GET blob MUST answer 200")
    if digest_of(response.content) != pull_content.blob_digest:
        fail(
            "OCI-PULL-5: the blob body matches its digest",
            response,
            pull_content.blob_digest,
            digest_of(response.content),
        )


@pytest.mark.req("OCI-PULL-6")
def test_head_blob(client, pull_content):
    """HEAD on a blob answers 200, no body, with its size in Content-Length and its digest."""
    if not pull_content.blob_digest:
        pytest.skip("the profile's [read_only] content names no blob digest")
    response = client.head_blob(pull_content.repo, pull_content.blob_digest)
    if pull_content.blob is not None:
        expect_blob(response, pull_content.blob, "OCI-PULL-6: HEAD blob MUST answer 200")
    else:
        expect_status(response, 200, "OCI-PULL-6: HEAD blob MUST answer 200")
    if response.content:
        fail("OCI-PULL-6: HEAD has no body", response, "an empty body", f"{len(response.content)} bytes")


@pytest.mark.req("OCI-PULL-7")
@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_missing_blob_is_404(client, pull_content, method):
    """HEAD/GET of a blob the repository lacks answers 404 (BLOB_UNKNOWN)."""
    response = client.request(method, f"/v2/{pull_content.repo}/blobs/{missing_digest('blob')}")
    expect_error(
        response, [404], {"BLOB_UNKNOWN"}, "OCI-PULL-7: a blob not in the repository MUST answer 404"
    )


@pytest.mark.req("OCI-PULL-8")
def test_blob_range_request(client, pull_content):
    """A Range request on a blob answers 206 with Content-Range and exactly those bytes (SHOULD)."""
    if pull_content.blob is None:
        full = client.get_blob(pull_content.repo, pull_content.blob_digest)
        expect_status(full, 200, "OCI-PULL-5: GET blob MUST answer 200")
        data = full.content
    else:
        data = pull_content.blob.body
    first, last = 3, min(len(data) - 1, 40)
    response = client.get_blob(pull_content.repo, pull_content.blob_digest, byte_range=(first, last))
    expect_status(response, 206, "OCI-PULL-8: a blob GET with Range SHOULD answer 206 Partial Content")
    wanted = f"bytes {first}-{last}/{len(data)}"
    if response.headers.get("content-range") != wanted:
        fail(
            "OCI-PULL-8: 206 carries the Content-Range of the part",
            response,
            wanted,
            repr(response.headers.get("content-range")),
        )
    if response.content != data[first : last + 1]:
        fail(
            "OCI-PULL-8: 206 carries exactly the requested bytes",
            response,
            f"{last - first + 1} bytes of the blob",
            f"{len(response.content)} other bytes",
        )


@pytest.mark.req("OCI-PULL-10")
def test_pull_from_missing_repository_is_404(client, repo_namer):
    """Manifests, blobs and tags of a repository that does not exist answer 404."""
    absent = repo_namer.next()  # a name this run never writes to
    for path in (f"/v2/{absent}/manifests/latest", f"/v2/{absent}/blobs/{missing_digest('repo')}"):
        response = client.request("GET", path)
        expect_error(
            response,
            [404],
            {"NAME_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN"},
            "OCI-PULL-10: pulling from a nonexistent repository MUST answer 404",
        )


@pytest.mark.req("OCI-ERR-1", "OCI-NEG-DIGEST-1")
def test_bad_digest_reference_gets_oci_error(client, pull_content):
    """GET manifests/sha256:totallywrong answers 400 with an OCI JSON error body, or 404."""
    response = client.get_manifest(pull_content.repo, "sha256:totallywrong")
    codes = expect_error(
        response,
        [400, 404],
        None,
        "OCI-NEG-DIGEST-1: an invalid digest reference answers 400 (with an OCI error body) or 404",
    )
    if response.status_code == 400 and not codes:
        fail(
            "OCI-ERR-1: a 400 carries an OCI-conforming JSON error body",
            response,
            '{"errors":[{"code":...}]}',
        )


@pytest.mark.req("OCI-ERR-3")
def test_warning_headers_are_well_formed(client, pull_content):
    """`Warning` headers, on any answer, are `299 - "text"` and at most 4096 bytes in total."""
    answers = [client.ping(), client.request("GET", f"/v2/{pull_content.repo}/tags/list")]
    if pull_content.tag:
        answers.append(client.get_manifest(pull_content.repo, pull_content.tag))
    if pull_content.blob_digest:
        answers.append(client.head_blob(pull_content.repo, pull_content.blob_digest))
    answers.append(client.get_manifest(pull_content.repo, missing_digest("warnings")))
    for answer in answers:
        check_answer(answer)
