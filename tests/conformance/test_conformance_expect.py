"""The response assertions of the OCI checks: they fail with requirement, what was sent and expected
vs got, and they check the rest of every answer (error bodies, digests, types)."""

from __future__ import annotations

import json

import httpx
import pytest

from conformance import content
from conformance.oci.expect import (
    expect_blob,
    expect_error,
    expect_manifest,
    expect_referrers,
    expect_status,
    expect_tag_list,
    expect_upload_session,
)
from conformance.oci.schemas import IMAGE_INDEX, IMAGE_MANIFEST, schema_errors
from keelhaul.client import digest_of
from keelhaul.client import media_types as mt


def answer(status, body=b"", headers=None, method="GET", path="/v2/ns/r/blobs/x"):
    request = httpx.Request(method, f"http://registry{path}")
    return httpx.Response(status, content=body, headers=headers or {}, request=request)


def error_body(code):
    return json.dumps({"errors": [{"code": code, "message": "m"}]}).encode()


def test_failure_message_has_requirement_request_and_expected_vs_got():
    with pytest.raises(AssertionError) as failure:
        expect_status(answer(202, b"fine", method="PATCH"), 416, "OCI-PUSH-6: out of order MUST be 416")
    assert (
        str(failure.value)
        == "OCI-PUSH-6: out of order MUST be 416; sent PATCH /v2/ns/r/blobs/x: expected 416, got 202 fine"
    )


def test_any_5xx_fails_err_2_even_when_expected_elsewhere():
    with pytest.raises(AssertionError, match="OCI-ERR-2"):
        expect_status(answer(500, error_body("UNKNOWN")), (200, 500), "anything")


def test_json_error_bodies_must_match_the_spec():
    with pytest.raises(AssertionError, match=r"OCI-ERR-1.*form"):
        expect_error(answer(404, b'{"errors": "nope"}'), [404], None, "x")
    with pytest.raises(AssertionError, match="OCI-ERR-1: error codes"):
        expect_error(answer(400, error_body("PAGINATION_NUMBER_INVALID")), [400], None, "x")
    assert expect_error(answer(404, error_body("BLOB_UNKNOWN")), [404], {"BLOB_UNKNOWN"}, "x") == [
        "BLOB_UNKNOWN"
    ]
    assert expect_error(answer(404, b"404 page not found"), [404], {"BLOB_UNKNOWN"}, "x") is None


def test_wrong_error_code_fails():
    with pytest.raises(AssertionError, match="with UNSUPPORTED, got 400"):
        expect_error(answer(400, error_body("DIGEST_INVALID")), [400], {"UNSUPPORTED"}, "OCI-MGMT-1")


def test_blob_body_digest_and_headers_are_checked():
    data = b"hello"
    good = answer(200, data, {"docker-content-digest": digest_of(data)})
    expect_blob(good, data, "OCI-PULL-5")
    with pytest.raises(AssertionError, match="hashing to"):
        expect_blob(answer(200, b"hellO"), data, "OCI-PULL-5")
    with pytest.raises(AssertionError, match="Docker-Content-Digest"):
        expect_blob(answer(200, data, {"docker-content-digest": digest_of(b"other")}), data, "OCI-PULL-5")


def test_manifest_type_bytes_and_schema_are_checked():
    image = content.image("expect")
    path = "/v2/ns/r/manifests/latest"
    expect_manifest(
        answer(200, image.manifest.body, {"content-type": mt.OCI_MANIFEST}, path=path), image.manifest, "x"
    )
    with pytest.raises(AssertionError, match="OCI-PULL-9"):
        expect_manifest(
            answer(200, image.manifest.body, {"content-type": "application/json"}, path=path),
            image.manifest,
            "x",
        )
    with pytest.raises(AssertionError, match="OCI-PUSH-14"):
        tampered = image.manifest.body.replace(b'"schemaVersion": 2', b'"schemaVersion": 3')
        expect_manifest(
            answer(200, tampered, {"content-type": mt.OCI_MANIFEST}, path=path), image.manifest, "x"
        )


def test_upload_session_location_must_sit_under_the_repository():
    post = answer(
        202, headers={"location": "/v2/ns/r/blobs/uploads/abc"}, method="POST", path="/v2/ns/r/blobs/uploads/"
    )
    assert expect_upload_session(post, "ns/r", "OCI-PUSH-1") == "http://registry/v2/ns/r/blobs/uploads/abc"
    elsewhere = answer(
        202, headers={"location": "/upload/abc"}, method="POST", path="/v2/ns/r/blobs/uploads/"
    )
    with pytest.raises(AssertionError, match="under /v2/ns/r/blobs/uploads/"):
        expect_upload_session(elsewhere, "ns/r", "OCI-PUSH-1")


def test_tag_list_and_referrers_shapes():
    tags = answer(200, json.dumps({"name": "ns/r", "tags": ["a", "b"]}).encode())
    assert expect_tag_list(tags, "ns/r", "OCI-DISC-1") == ["a", "b"]
    with pytest.raises(AssertionError, match="name 'ns/r'"):
        expect_tag_list(answer(200, json.dumps({"name": "other", "tags": []}).encode()), "ns/r", "OCI-DISC-1")
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    assert (
        expect_referrers(
            answer(200, json.dumps(index).encode(), {"content-type": mt.OCI_INDEX}), "OCI-DISC-7"
        )
        == []
    )
    with pytest.raises(AssertionError, match="Content-Type"):
        expect_referrers(
            answer(200, json.dumps(index).encode(), {"content-type": "application/json"}), "OCI-DISC-7"
        )


def test_image_spec_schemas_resolve_their_references():
    image = content.image("schema")
    assert schema_errors(json.loads(image.manifest.body), IMAGE_MANIFEST) == []
    broken = json.loads(image.manifest.body)
    broken["config"]["digest"] = "not-a-digest"
    assert any("config/digest" in problem for problem in schema_errors(broken, IMAGE_MANIFEST))
    assert schema_errors({"schemaVersion": 2, "manifests": [{"mediaType": mt.OCI_MANIFEST}]}, IMAGE_INDEX)


def test_a_validator_built_with_every_referenced_schema_judges_as_the_first_one_did() -> None:
    """The validators are built again once references led to new schemas (schemas.validator); the
    later ones must still follow each reference to the same verdicts."""
    image = content.image("schema-again")
    good = json.loads(image.manifest.body)
    broken = json.loads(image.manifest.body)
    broken["layers"][0]["digest"] = "not-a-digest"
    verdicts = [
        (schema_errors(good, IMAGE_MANIFEST), schema_errors(broken, IMAGE_MANIFEST)) for _ in range(3)
    ]
    assert verdicts[0][0] == [] and any("layers/0/digest" in problem for problem in verdicts[0][1])
    assert verdicts[1:] == [verdicts[0], verdicts[0]]


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_padding_splices_the_same_bytes_an_encoder_writes(separators: tuple[str, str]) -> None:
    document = {"schemaVersion": 2, "annotations": {"a": "", content.PADDING_KEY: "", "z": ""}}
    body = json.dumps(document, separators=separators).encode()
    padded = content.padded_to(body, 5000, b"k")
    document["annotations"][content.PADDING_KEY] = "k" * (5000 - len(body))
    assert padded == json.dumps(document, separators=separators).encode()
    with pytest.raises(ValueError, match="smallest"):
        content.padded_to(body, len(body) - 1, b"k")
