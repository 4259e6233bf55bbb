"""OCI error responses: one exception type that any layer may raise and the app turns into the
spec's JSON body (`{"errors": [{"code", "message", "detail"}]}`) with the right HTTP status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    """The fourteen codes of the OCI distribution spec ("Error Codes" table), the only codes any
    4xx body carries, plus UNAVAILABLE for 5xx answers (where the table does not apply): distribution's
    code for "the service cannot do this now, retry", used for a full disk (http/exhaustion.py)."""

    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    UNAVAILABLE = "UNAVAILABLE"


# The status each code gets unless the raiser says otherwise (spec table plus distribution's habits).
DEFAULT_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BLOB_UNKNOWN: 404,
    ErrorCode.BLOB_UPLOAD_INVALID: 400,
    ErrorCode.BLOB_UPLOAD_UNKNOWN: 404,
    ErrorCode.DIGEST_INVALID: 400,
    ErrorCode.MANIFEST_BLOB_UNKNOWN: 400,
    ErrorCode.MANIFEST_INVALID: 400,
    ErrorCode.MANIFEST_UNKNOWN: 404,
    ErrorCode.NAME_INVALID: 400,
    ErrorCode.NAME_UNKNOWN: 404,
    ErrorCode.SIZE_INVALID: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.DENIED: 403,
    ErrorCode.UNSUPPORTED: 405,
    ErrorCode.TOOMANYREQUESTS: 429,
    ErrorCode.UNAVAILABLE: 503,
}

DEFAULT_MESSAGE: dict[ErrorCode, str] = {
    ErrorCode.BLOB_UNKNOWN: "blob unknown to registry",
    ErrorCode.BLOB_UPLOAD_INVALID: "blob upload invalid",
    ErrorCode.BLOB_UPLOAD_UNKNOWN: "blob upload unknown to registry",
    ErrorCode.DIGEST_INVALID: "provided digest did not match uploaded content",
    ErrorCode.MANIFEST_BLOB_UNKNOWN: "manifest references a manifest or blob unknown to registry",
    ErrorCode.MANIFEST_INVALID: "manifest invalid",
    ErrorCode.MANIFEST_UNKNOWN: "manifest unknown to registry",
    ErrorCode.NAME_INVALID: "invalid repository name",
    ErrorCode.NAME_UNKNOWN: "repository name not known to registry",
    ErrorCode.SIZE_INVALID: "provided length did not match content length",
    ErrorCode.UNAUTHORIZED: "authentication required",
    ErrorCode.DENIED: "requested access to the resource is denied",
    ErrorCode.UNSUPPORTED: "the operation is unsupported",
    ErrorCode.TOOMANYREQUESTS: "too many requests",
    ErrorCode.UNAVAILABLE: "service unavailable",
}


class OCIError(Exception):
    """Raise anywhere in request handling; the app answers with `body()` and `status`.

    `extra` holds more error entries for responses that list several problems (one
    MANIFEST_BLOB_UNKNOWN per missing digest). `close` ends the connection after the answer."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str | None = None,
        status: int | None = None,
        detail: object = None,
        headers: Mapping[str, str] | None = None,
        extra: list[tuple[ErrorCode, str, object]] | None = None,
        close: bool = False,
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message or DEFAULT_MESSAGE[self.code]
        self.status = status or DEFAULT_STATUS[self.code]
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = list(extra or [])
        self.close = close  # no keep-alive after this answer: an unread body is dropped, not kept
        super().__init__(f"{self.code}: {self.message}")

    def entries(self) -> list[dict[str, object]]:
        first: dict[str, object] = {"code": str(self.code), "message": self.message}
        if self.detail is not None:
            first["detail"] = self.detail
        result = [first]
        for code, message, detail in self.extra:
            entry: dict[str, object] = {"code": str(code), "message": message}
            if detail is not None:
                entry["detail"] = detail
            result.append(entry)
        return result

    def body(self) -> bytes:
        return json.dumps({"errors": self.entries()}).encode()
