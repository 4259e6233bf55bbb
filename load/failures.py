"""Failures named the way Locust groups them: by HTTP status and OCI error code, not by free text.

Locust's failures table groups by (method, name, str(error)), so the message must not contain
anything that varies between occurrences (upload ids, digests), or one problem becomes a hundred rows.
"""

from __future__ import annotations

import json


def oci_error_codes(body_text: str | None) -> list[str]:
    """The `code` of each entry of an OCI error body (`{"errors": [{"code": ...}]}`), [] if none."""
    if not body_text:
        return []
    try:
        document = json.loads(body_text)
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(entry["code"]) for entry in errors if isinstance(entry, dict) and "code" in entry]


class OCIFailure(Exception):
    """A response a scenario did not expect, named "<status> <OCI code>" (e.g. "416 BLOB_UPLOAD_INVALID")."""

    def __init__(self, status: int, codes: list[str] | None = None) -> None:
        self.status = status
        self.codes = list(codes or [])
        super().__init__(str(self))

    @classmethod
    def from_body(cls, status: int, body_text: str | None) -> OCIFailure:
        return cls(status, oci_error_codes(body_text))

    def __str__(self) -> str:
        return f"{self.status} {'+'.join(self.codes) if self.codes else 'no OCI error code'}"


class CheckFailure(Exception):
    """A response that looked successful but broke a promise (wrong digest, wrong size, missing header).

    `what` must be a fixed phrase (it names the failure row); details go to `detail`, which is logged."""

    def __init__(self, what: str, detail: str = "") -> None:
        self.what = what
        self.detail = detail
        super().__init__(what)


class TransportFailure(Exception):
    """No HTTP response at all (connection refused or dropped, timeout), named by the error's class."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(kind)
