"""OCI-NEG-UPLOAD-1 for a CANCELLED session (OCI §"Canceling an upload" / DELETE on the session URL).

(Added by the verification engineer: the seeded defect `cancel-upload-noop`, DELETE answering 204
while the session stays usable, went unnoticed; test_negative_inputs.py covers unknown and committed
sessions only.)
"""

from __future__ import annotations

import pytest

from conformance.oci.expect import expect_error, expect_status, expect_upload_gone, expect_upload_session
from conformance.outcomes import not_applicable
from keelhaul.client import digest_of
from keelhaul.client.uploads import OCTET, start_upload, upload_status
from keelhaul.client.urls import add_query

CHUNK = b"keelhaul: bytes sent to a cancelled upload"


@pytest.mark.req("OCI-NEG-UPLOAD-1")
def test_cancelled_upload_session_is_gone(client, new_repo):
    """After DELETE on an upload session (204), its Location answers 404 BLOB_UPLOAD_UNKNOWN to GET,
    PATCH and PUT, and nothing is stored. A registry that does not cancel uploads (405 UNSUPPORTED,
    as ghcr.io: OCI v1.1.1 has no cancel endpoint) makes this check N/A."""
    repo = new_repo()
    location = expect_upload_session(start_upload(client, repo), repo, "OCI-PUSH-1: POST MUST answer 202")
    cancel = client.request("DELETE", location)
    if cancel.status_code == 405:
        expect_error(cancel, [405], {"UNSUPPORTED"}, "OCI-NEG-UPLOAD-1: a refused cancel says UNSUPPORTED")
        not_applicable("the registry does not cancel upload sessions (405 UNSUPPORTED)")
    expect_status(cancel, 204, "OCI: DELETE of an upload session MUST answer 204")
    answers = (
        upload_status(client, location),
        client.request("PATCH", location, headers=OCTET, content=CHUNK),
        client.request("PUT", add_query(location, digest=digest_of(CHUNK)), headers=OCTET, content=CHUNK),
    )
    for answer in answers:
        expect_upload_gone(
            answer, "OCI-NEG-UPLOAD-1: a cancelled session MUST answer 404 BLOB_UPLOAD_UNKNOWN"
        )
    expect_status(client.head_blob(repo, digest_of(CHUNK)), 404, "OCI-NEG-UPLOAD-1: nothing was stored")
