"""Exchanges become Locust request events named by OCI endpoint, failures named by status + OCI code."""

from __future__ import annotations

import pytest
from locust.event import Events

from keelhaul.client.recorder import Exchange
from load.events import LocustRecorder, endpoint_name
from load.failures import CheckFailure, OCIFailure, TransportFailure, oci_error_codes
from load.ledger import Ledger

BASE = "http://127.0.0.1:5000"
DIGEST = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("method", "path", "headers", "note", "expected"),
    [
        ("GET", "/v2/", None, None, "base /v2/"),
        ("POST", "/v2/ns/app/blobs/uploads/", None, None, "blob upload start"),
        ("POST", f"/v2/ns/app/blobs/uploads/?mount={DIGEST}&from=x", None, None, "blob mount"),
        ("POST", f"/v2/ns/app/blobs/uploads/?digest={DIGEST}", None, None, "blob upload single POST"),
        ("PATCH", "/v2/ns/app/blobs/uploads/3f2a?_state=x", None, None, "blob upload chunk"),
        (
            "PUT",
            f"/v2/ns/app/blobs/uploads/3f2a?digest={DIGEST}",
            {"content-length": "0"},
            None,
            "blob upload commit",
        ),
        (
            "PUT",
            f"/v2/ns/app/blobs/uploads/3f2a?digest={DIGEST}",
            {"content-length": "9"},
            None,
            "blob upload commit with data",
        ),
        ("GET", "/v2/ns/app/blobs/uploads/3f2a", None, None, "blob upload status"),
        ("DELETE", "/v2/ns/app/blobs/uploads/3f2a", None, None, "blob upload cancel"),
        ("GET", f"/v2/a/b/c/blobs/{DIGEST}", {"range": "bytes=0-9"}, None, "blob get range"),
        ("GET", f"/v2/a/b/c/blobs/{DIGEST}", {}, None, "blob get"),
        ("HEAD", f"/v2/ns/app/blobs/{DIGEST}", None, None, "blob head"),
        ("GET", "/v2/ns/app/manifests/latest", None, None, "manifest get by tag"),
        ("PUT", f"/v2/ns/app/manifests/{DIGEST}", None, None, "manifest put by digest"),
        ("GET", "/v2/ns/app/tags/list?n=10", None, None, "tags list"),
        ("GET", "/v2/_catalog", None, None, "catalog"),
        ("GET", f"/v2/ns/app/referrers/{DIGEST}", None, None, "referrers"),
        ("GET", "/token?scope=repository:ns/app:pull", None, "token request", "token"),
    ],
)
def test_endpoint_names(
    method: str, path: str, headers: dict | None, note: str | None, expected: str
) -> None:
    assert endpoint_name(method, BASE + path, headers, note) == expected


def test_oci_error_codes() -> None:
    body = '{"errors": [{"code": "BLOB_UPLOAD_INVALID", "message": "x"}, {"code": "DENIED"}]}'
    assert oci_error_codes(body) == ["BLOB_UPLOAD_INVALID", "DENIED"]
    assert oci_error_codes("<html>") == [] and oci_error_codes(None) == [] and oci_error_codes("[1]") == []
    assert str(OCIFailure.from_body(416, body)) == "416 BLOB_UPLOAD_INVALID+DENIED"
    assert str(OCIFailure(500)) == "500 no OCI error code"
    assert str(CheckFailure("wrong size", "detail 123")) == "wrong size"


class Captured:
    def __init__(self) -> None:
        self.events = Events()
        self.fired: list[dict] = []
        self.events.request.add_listener(lambda **kwargs: self.fired.append(kwargs))


def exchange(method: str, path: str, status: int | None, **fields) -> Exchange:  # type: ignore[no-untyped-def]
    return Exchange(
        method=method,
        url=BASE + path,
        request_headers=fields.pop("request_headers", {}),
        request_body_size=fields.pop("sent", None),
        status=status,
        **fields,
    )


def test_recorder_fires_one_event_per_exchange_with_bytes_and_latency() -> None:
    environment, ledger = Captured(), Ledger()
    recorder = LocustRecorder(environment, ledger, "chunked")
    recorder.add(
        exchange(
            "PATCH", "/v2/ns/a/blobs/uploads/1", 202, sent=16 << 20, elapsed_ms=120.5, response_body_size=0
        )
    )
    (event,) = environment.fired
    assert event["request_type"] == "PATCH" and event["name"] == "blob upload chunk"
    assert event["response_time"] == 120.5 and event["response_length"] == 16 << 20
    assert event["exception"] is None and event["context"] == {"scenario": "chunked"}
    assert ledger.total_bytes("chunked") == 16 << 20
    assert recorder.last_exchange is not None and recorder.last_exchange.status == 202


def test_recorder_names_failures_by_status_and_oci_code() -> None:
    environment = Captured()
    recorder = LocustRecorder(environment, Ledger(), "chunked")
    body = '{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"range"}]}'
    recorder.add(exchange("PATCH", "/v2/ns/a/blobs/uploads/1", 416, response_text=body, elapsed_ms=3.0))
    recorder.add(exchange("PATCH", "/v2/ns/a/blobs/uploads/1", None, error="ReadTimeout: timed out"))
    first, second = environment.fired
    assert isinstance(first["exception"], OCIFailure) and str(first["exception"]) == "416 BLOB_UPLOAD_INVALID"
    assert isinstance(second["exception"], TransportFailure) and str(second["exception"]) == "ReadTimeout"


def test_auth_challenges_and_expected_statuses_are_not_failures() -> None:
    environment = Captured()
    recorder = LocustRecorder(environment, Ledger(), "pull")
    recorder.add(
        exchange(
            "GET", "/v2/ns/a/manifests/v1", 401, response_headers={"www-authenticate": 'Bearer realm="x"'}
        )
    )
    with recorder.expecting(404):
        recorder.add(exchange("HEAD", "/v2/ns/a/manifests/v1", 404))
    recorder.add(exchange("HEAD", "/v2/ns/a/manifests/v1", 404))
    challenge, expected, unexpected = environment.fired
    assert challenge["name"] == "manifest get by tag (auth challenge)" and challenge["exception"] is None
    assert expected["exception"] is None
    assert str(unexpected["exception"]) == "404 no OCI error code"


def test_deferred_reports_the_streamed_body_size_and_full_time() -> None:
    environment, ledger = Captured(), Ledger()
    recorder = LocustRecorder(environment, ledger, "pull")
    with recorder.deferred() as pending:
        recorder.add(exchange("GET", f"/v2/ns/a/blobs/{DIGEST}", 200, elapsed_ms=1.0))
        assert environment.fired == []  # held until the body was read
        pending.complete(received=5_000_000, elapsed_ms=40.0)
    (event,) = environment.fired
    assert event["response_length"] == 5_000_000 and event["response_time"] == 40.0
    assert ledger.total_bytes("pull") == 5_000_000
