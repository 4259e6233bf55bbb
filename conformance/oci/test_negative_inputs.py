"""Bad inputs (failure-modes §4): names, tags, digests, chunks, upload sessions and manifests a
registry must refuse with the right 4xx OCI error, never a 5xx and never a partial write.

hypothesis draws the bad values from the spec grammars (keelhaul.client.strategies), with few,
derandomized examples so the run stays short and repeatable.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from conformance.oci import content
from conformance.oci.expect import (
    OCI_ERROR_CODES,
    check_answer,
    expect_error,
    expect_status,
    expect_upload_gone,
    expect_upload_session,
    fail,
)
from conformance.oci.fixtures import push_blobs
from keelhaul.client import digest_of, grammar, strategies
from keelhaul.client import media_types as mt
from keelhaul.client.uploads import OCTET, start_upload, upload_status
from keelhaul.client.urls import add_query

# No shrinking against a live registry: the first failing example is reported as found.
FEW = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,  # `keelhaul check` must leave no .hypothesis folder in the user's directory
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REFUSED = (400, 404)


@pytest.fixture
def image_repo(client, new_repo):
    """A repository holding one image's blobs (no manifest): (repo, image)."""
    repo, image = new_repo(), content.image("negative")
    push_blobs(client, repo, image)
    return repo, image


# ---- names (§4.1) ------------------------------------------------------------------------------------
@pytest.mark.req("OCI-NEG-NAME-1", "OCI-ERR-2")
@FEW
@given(bad=strategies.invalid_names())
def test_invalid_repository_names_are_refused(client, target, bad):
    """Opening an upload or pushing a manifest under a name outside the grammar is refused (400
    NAME_INVALID or 404), never accepted, never a 5xx."""
    name = f"{target.namespace}/{bad}"
    assume(not grammar.is_valid_name(name))
    post = start_upload(client, name)
    expect_error(
        post,
        REFUSED,
        {"NAME_INVALID", "NAME_UNKNOWN"},
        "OCI-NEG-NAME-1: an invalid repository name MUST be refused",
    )
    image = content.image("invalid-name")
    put = client.put_manifest(name, "latest", image.manifest.body, image.manifest.media_type)
    expect_error(
        put,
        REFUSED,
        {"NAME_INVALID", "NAME_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"},
        "OCI-NEG-NAME-1: an invalid repository name MUST be refused",
    )


# ---- tags (§4.2) -----------------------------------------------------------------------------------
@pytest.mark.req("OCI-NEG-TAG-1", "OCI-ERR-2")
@FEW
@given(bad=strategies.invalid_tags())
def test_invalid_tags_are_refused(client, image_repo, bad):
    """PUT of a manifest under a reference that is neither a tag nor a digest is refused with a 4xx;
    GET of it answers 404 or 400."""
    assume(bad not in (".", ".."))  # path segments, not tags: the URL itself would change
    repo, image = image_repo
    put = client.put_manifest(repo, bad, image.manifest.body, image.manifest.media_type)
    expect_error(
        put,
        REFUSED,
        {"MANIFEST_INVALID", "TAG_INVALID", "NAME_INVALID", "DIGEST_INVALID", "MANIFEST_UNKNOWN"},
        "OCI-NEG-TAG-1: a PUT to an invalid tag MUST be refused",
    )
    expect_error(
        client.get_manifest(repo, bad),
        REFUSED,
        None,
        "OCI-NEG-TAG-1: GET of an invalid tag answers 404 or 400",
    )


# ---- digests (§4.3) ------------------------------------------------------------------------------------
@pytest.mark.req("OCI-NEG-DIGEST-1", "OCI-ERR-2")
@FEW
@given(bad=strategies.invalid_digests())
def test_invalid_digests_are_refused(client, image_repo, bad):
    """A malformed digest on blob GET/HEAD answers 400 (DIGEST_INVALID) or 404; closing an upload with
    it answers 400 (DIGEST_INVALID or UNSUPPORTED) and stores nothing."""
    repo, _ = image_repo
    for method in ("HEAD", "GET"):
        expect_error(
            client.request(method, f"/v2/{repo}/blobs/{bad}"),
            REFUSED,
            {"DIGEST_INVALID", "BLOB_UNKNOWN", "UNSUPPORTED"},
            "OCI-NEG-DIGEST-1: a malformed digest MUST be refused",
        )
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    put = client.request("PUT", add_query(location, digest=bad), headers=OCTET, content=b"keelhaul")
    expect_error(
        put,
        [400],
        {"DIGEST_INVALID", "UNSUPPORTED"},
        "OCI-NEG-DIGEST-1: closing an upload with a malformed digest MUST answer 400",
    )


@pytest.mark.req("OCI-NEG-DIGEST-1")
def test_unsupported_algorithm_is_refused(client, image_repo):
    """Closing an upload with a well-formed digest of an unknown algorithm answers 400."""
    repo, _ = image_repo
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    put = client.request("PUT", add_query(location, digest="md5:" + "0" * 32), headers=OCTET, content=b"x")
    expect_error(
        put,
        [400],
        {"DIGEST_INVALID", "UNSUPPORTED"},
        "OCI-NEG-DIGEST-1: an unsupported digest algorithm MUST answer 400",
    )


@pytest.mark.req("OCI-NEG-DIGEST-2")
def test_manifest_put_by_wrong_digest(client, image_repo):
    """PUT manifests/<digest> whose body hashes differently answers 400 DIGEST_INVALID, storing nothing."""
    repo, image = image_repo
    wrong = content.missing_digest("manifest-by-wrong-digest")
    put = client.put_manifest(repo, wrong, image.manifest.body, image.manifest.media_type)
    expect_error(
        put, [400], {"DIGEST_INVALID"}, "OCI-NEG-DIGEST-2: a body not matching the digest MUST be refused"
    )
    for reference in (wrong, image.manifest.digest):
        expect_error(
            client.head_manifest(repo, reference), [404], None, "OCI-NEG-DIGEST-2: nothing is stored"
        )


# ---- chunks and sessions (§4.4) -----------------------------------------------------------------------
CHUNK = b"keelhaul negative chunk data"


def _consistent_when_lenient(value: str) -> bool:
    """True when a lenient parser could read `value` as exactly this first chunk (start 0, and no end
    or the chunk's last byte): accepting those is not a conformance failure, so they are not drawn."""
    numbers = [int(n) for n in re.findall(r"\d+", value)]
    return bool(numbers) and numbers[0] == 0 and (len(numbers) == 1 or numbers[1] == len(CHUNK) - 1)


def _offset_unchanged(client, location, requirement):
    status = upload_status(client, location)
    expect_status(status, 204, f"{requirement} (the session survives; GET MUST answer 204)")
    if status.headers.get("range") not in (None, "0-0", "bytes=0-0"):
        fail(
            f"{requirement}: a refused chunk appends nothing",
            status,
            "Range 0-0 or none",
            f"Range {status.headers.get('range')}",
        )


@pytest.mark.req("OCI-NEG-CHUNK-1", "OCI-ERR-2")
@FEW
@given(value=strategies.malformed_content_ranges())
def test_malformed_content_range_is_refused(client, new_repo, value):
    """A first chunk with a Content-Range outside `^[0-9]+-[0-9]+$` (or running backwards) answers 416
    or 400, never a 5xx, and the session offset stays 0."""
    assume(not _consistent_when_lenient(value))
    repo = new_repo()
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    patch = client.request("PATCH", location, headers={**OCTET, "Content-Range": value}, content=CHUNK)
    expect_error(patch, (400, 416), None, "OCI-NEG-CHUNK-1: a malformed Content-Range MUST get 416 or 400")
    _offset_unchanged(client, location, "OCI-NEG-CHUNK-1")


@pytest.mark.req("OCI-PUSH-6")
@FEW
@given(data=st.data())
def test_misplaced_chunks_are_416(client, new_repo, data):
    """After one accepted chunk, any chunk not starting right after it (gap or overlap) answers 416."""
    repo = new_repo()
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    first = client.request(
        "PATCH", location, headers={**OCTET, "Content-Range": f"0-{len(CHUNK) - 1}"}, content=CHUNK
    )
    location = expect_upload_session(first, repo, "OCI-PUSH-5: an in-order chunk MUST answer 202")
    value = data.draw(strategies.misplaced_content_ranges(len(CHUNK), len(CHUNK)))
    patch = client.request("PATCH", location, headers={**OCTET, "Content-Range": value}, content=CHUNK)
    expect_status(
        patch, 416, f"OCI-PUSH-6: a chunk at {value} after bytes 0-{len(CHUNK) - 1} MUST answer 416"
    )


@pytest.mark.req("OCI-NEG-CHUNK-2", "OCI-ERR-2")
def test_content_length_disagreeing_with_range(client, new_repo):
    """A chunk whose body is shorter than its Content-Range says answers 400 or 416, appending nothing."""
    repo = new_repo()
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    patch = client.request(
        "PATCH", location, headers={**OCTET, "Content-Range": f"0-{len(CHUNK) + 9}"}, content=CHUNK
    )
    expect_error(
        patch,
        (400, 416),
        {"SIZE_INVALID", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN"},
        "OCI-NEG-CHUNK-2: Content-Length disagreeing with Content-Range MUST be refused",
    )
    _offset_unchanged(client, location, "OCI-NEG-CHUNK-2")


@pytest.mark.req("OCI-NEG-UPLOAD-1")
def test_unknown_upload_session(client, image_repo):
    """GET, PATCH and PUT on an upload session that never existed answer 404 BLOB_UPLOAD_UNKNOWN."""
    repo, _ = image_repo
    location = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    answers = (
        client.request("GET", location),
        client.request("PATCH", location, headers=OCTET, content=CHUNK),
        client.request("PUT", add_query(location, digest=digest_of(CHUNK)), headers=OCTET, content=CHUNK),
    )
    for answer in answers:
        expect_upload_gone(
            answer, "OCI-NEG-UPLOAD-1: an unknown upload session MUST answer 404 BLOB_UPLOAD_UNKNOWN"
        )


@pytest.mark.req("OCI-NEG-UPLOAD-1")
def test_finished_upload_session_is_gone(client, new_repo):
    """Once an upload is committed (201), its session Location answers 404 BLOB_UPLOAD_UNKNOWN."""
    repo = new_repo()
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    put = client.request("PUT", add_query(location, digest=digest_of(CHUNK)), headers=OCTET, content=CHUNK)
    expect_status(put, 201, "OCI-PUSH-2: PUT ?digest= MUST answer 201")
    expect_upload_gone(
        upload_status(client, location),
        "OCI-NEG-UPLOAD-1: a committed session MUST answer 404 BLOB_UPLOAD_UNKNOWN",
    )


# ---- manifests (§4.5) ---------------------------------------------------------------------------------
@pytest.mark.req("OCI-NEG-MANIFEST-1", "OCI-ERR-2")
@pytest.mark.parametrize(
    "body",
    [
        b"this is not json",
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config"',
        json.dumps({"schemaVersion": 1, "mediaType": mt.OCI_MANIFEST, "config": {}, "layers": []}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": []}).encode(),
    ],
    ids=["not-json", "truncated", "schema-version-1", "no-config"],
)
def test_invalid_manifest_bodies(client, image_repo, body):
    """A body that is not a valid manifest is refused with a 4xx OCI error (MANIFEST_INVALID is the
    natural code, but the spec prescribes none) and not stored."""
    repo, _ = image_repo
    put = client.put_manifest(repo, "broken", body, mt.OCI_MANIFEST)
    expect_error(
        put, range(400, 500), OCI_ERROR_CODES, "OCI-NEG-MANIFEST-1: an invalid manifest is refused with a 4xx"
    )
    expect_error(client.head_manifest(repo, "broken"), [404], None, "OCI-NEG-MANIFEST-1: nothing is stored")


@pytest.mark.req("OCI-NEG-MANIFEST-2")
def test_media_type_contradicting_content_type(client, image_repo):
    """A manifest whose `mediaType` says index but is pushed as an image manifest is refused."""
    repo, image = image_repo
    document = json.loads(image.manifest.body)
    document["mediaType"] = mt.OCI_INDEX
    put = client.put_manifest(repo, "confused", json.dumps(document).encode(), mt.OCI_MANIFEST)
    expect_error(
        put,
        [400],
        {"MANIFEST_INVALID"},
        "OCI-NEG-MANIFEST-2: mediaType contradicting Content-Type MUST be refused",
    )


@pytest.mark.req("OCI-NEG-MANIFEST-3")
@pytest.mark.read_only
def test_blob_digest_is_not_a_manifest(client, pull_content):
    """GET manifests/<digest of a layer> answers 404 MANIFEST_UNKNOWN."""
    if not pull_content.blob_digest:
        pytest.skip("the profile's [read_only] content names no blob digest")
    response = client.get_manifest(pull_content.repo, pull_content.blob_digest)
    expect_error(response, [404], {"MANIFEST_UNKNOWN"}, "OCI-NEG-MANIFEST-3: a blob is not a manifest")
    check_answer(response)
