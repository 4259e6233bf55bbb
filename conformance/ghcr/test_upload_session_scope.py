"""Tenant isolation of upload sessions addressed through the caller's OWN repository (Quay CVE-2026-32589).

test_isolation.py checks that another tenant's session cannot be touched through that tenant's path
(the authorization layer refuses the path). The IDOR of the CVE is the other way round: the intruder
may push to its own repository and sends the victim's session id under that path. A registry that
looks sessions up by id alone then lets the intruder read, write, finish or cancel the victim's upload.
(Added by the verification engineer: the seeded defect `upload-session-any-repository` went unnoticed.)
"""

from __future__ import annotations

import pytest

from conformance.ghcr.support import expect_refused
from conformance.oci.expect import expect_status
from keelhaul.client import digest_of
from keelhaul.client.uploads import location_of

pytestmark = pytest.mark.needs("token_auth")


@pytest.mark.req("AUTH-10")
@pytest.mark.needs(roles=("writer", "other_tenant"))
def test_other_tenants_session_id_unknown_under_own_repository(client_for, tenant_repo, new_repo):
    """Another tenant's upload session id, sent under a repository we may push to, is an unknown
    session (404 BLOB_UPLOAD_UNKNOWN) for GET, PATCH, PUT and DELETE; the owner's upload is unharmed."""
    victim_repo = tenant_repo()
    owner = client_for("other_tenant")
    started = owner.request("POST", f"/v2/{victim_repo}/blobs/uploads/")
    expect_status(started, 202, "setup: the other tenant opens an upload")
    victim_location = location_of(started)
    assert victim_location is not None
    session_id = victim_location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]

    intruder = client_for("writer")
    own_repo = new_repo()
    opened = intruder.request("POST", f"/v2/{own_repo}/blobs/uploads/")
    expect_status(opened, 202, "setup: the writer may push to its own repository")
    intruder.request("DELETE", location_of(opened) or "")
    forged = f"/v2/{own_repo}/blobs/uploads/{session_id}"
    data = b"keelhaul: written by an intruder through its own repository"
    octet = {"Content-Type": "application/octet-stream"}
    attempts = {
        "GET": intruder.request("GET", forged),
        "PATCH": intruder.request("PATCH", forged, content=data, headers=octet),
        "PUT": intruder.request("PUT", f"{forged}?digest={digest_of(data)}", content=data, headers=octet),
        "DELETE": intruder.request("DELETE", forged),
    }
    for method, answer in attempts.items():
        expect_refused(
            answer,
            f"AUTH-10: {method} of another tenant's upload id under our own repository MUST be refused",
            (400, 401, 403, 404),
            ("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID", "UNAUTHORIZED", "DENIED"),
        )
    own = b"keelhaul: the owner's own bytes"
    finish = owner.request(
        "PUT",
        f"{victim_location}{'&' if '?' in victim_location else '?'}digest={digest_of(own)}",
        content=own,
        headers=octet,
    )
    expect_status(finish, 201, "AUTH-10: the owner still finishes its untouched upload")
    expect_status(owner.head_blob(victim_repo, digest_of(own)), 200, "AUTH-10: the owner's blob is there")
