"""The bad-input checklist (failure-modes §4.1 names, §4.2 references, routing): every answer is
a 4xx with an OCI error body, never a 5xx, and nothing is stored.

Paths are sent raw over a socket so no client library normalises `..`, percent-encoding or
control characters before the server sees them."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from reference_server.access import Endpoint
from reference_server.http.routing import parse_route
from reference_server.registry.errors import OCIError
from reference_server.registry.grammar import is_valid_name, is_valid_tag, parse_digest, try_parse_digest

from .helpers import assert_oci_error, push_blob


def raw_request(
    base_url: str, method: str, target: bytes, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request with `target` exactly as given; return (status, headers, body)."""
    parts = urlsplit(base_url)
    lines = [
        method.encode() + b" " + target + b" HTTP/1.1",
        f"Host: {parts.netloc}".encode(),
        b"Connection: close",
    ]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode())
    lines.append(f"Content-Length: {len(body)}".encode())
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), response_headers, payload


BAD_NAMES = [
    "Foo/bar",
    "..",
    "a/../b",
    "./a",
    "a//b",
    "a/",
    "-a",
    "_a",
    "a__-b",
    "a.",
    ".a",
    "a%2e%2e/b",
    "a%2Fb",
    "a%252Fb",
    "%ef%bd%81",
    "%d0%b0bc",
    "a%e2%80%8bb",
    "a%00b",
    "a%0d%0ab",
    "a%09b",
    "a%20b",
    "a" * 256,
    "a" * 10_000,
    "a/" * 200 + "a",
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: n[:30])
def test_bad_repository_names_are_name_invalid(registry_url: str, name: str) -> None:
    quoted = name.encode("utf-8")
    for method, suffix in [
        ("GET", b"/tags/list"),
        ("GET", b"/manifests/latest"),
        ("POST", b"/blobs/uploads/"),
        ("HEAD", b"/blobs/sha256:" + b"a" * 64),
    ]:
        status, _, body = raw_request(registry_url, method, b"/v2/" + quoted + suffix)
        assert status in (400, 414), (name, method, status)
        if method != "HEAD":
            document = json.loads(body)
            assert document["errors"][0]["code"] == "NAME_INVALID", document


def test_bad_name_never_creates_anything(http: httpx.Client, registry_url: str) -> None:
    raw_request(registry_url, "POST", b"/v2/a/../escape/blobs/uploads/?digest=sha256:" + b"0" * 64)
    assert "escape" not in json.dumps(http.get("/v2/_catalog").json())


def test_control_characters_and_raw_non_ascii_in_the_path(registry_url: str) -> None:
    """Not valid HTTP at all: aiohttp's parser answers 400 before the registry sees the request."""
    for target in [b"/v2/a\x00b/tags/list", b"/v2/a\tb/tags/list", "/v2/\u0430bc/tags/list".encode()]:
        status, _, _ = raw_request(registry_url, "GET", target)
        assert 400 <= status < 500


def test_route_keywords_inside_names_resolve_unambiguously(http: httpx.Client) -> None:
    """`x/manifests/y`, `x/blobs`, `x/tags/list` are legal names: the last components decide."""
    for name in ["x/manifests/y", "x/blobs", "x/tags/list", "x/blobs/uploads", "x/referrers"]:
        data = f"content of {name}".encode()
        digest = push_blob(http, name, data)
        assert http.get(f"/v2/{name}/blobs/{digest}").content == data
        tags = http.get(f"/v2/{name}/tags/list")
        assert tags.status_code == 200 and tags.json() == {"name": name, "tags": []}
        assert name in http.get("/v2/_catalog").json()["repositories"]


def test_unknown_routes_and_methods(http: httpx.Client, registry_url: str) -> None:
    assert_oci_error(http.get("/v2/a/b/unknown/thing"), 404, "UNSUPPORTED")
    assert_oci_error(http.get("/v2/_catalog/x"), 404, "UNSUPPORTED")
    response = http.post("/v2/a/b/manifests/latest")
    assert_oci_error(response, 405, "UNSUPPORTED")
    assert "PUT" in response.headers["Allow"]
    assert_oci_error(http.patch("/v2/a/b/blobs/sha256:" + "a" * 64), 405, "UNSUPPORTED")
    assert_oci_error(http.put("/v2/a/b/tags/list"), 405, "UNSUPPORTED")
    assert_oci_error(http.delete("/v2/_catalog"), 405, "UNSUPPORTED")
    assert_oci_error(http.options("/v2/a/b/tags/list"), 405, "UNSUPPORTED")
    status, _, body = raw_request(registry_url, "PROPFIND", b"/v2/a/b/tags/list")
    assert status == 405 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    status, _, _ = raw_request(registry_url, "BREW", b"/v2/a/b/tags/list")
    assert status == 400  # not an HTTP method at all: the HTTP parser refuses it


def test_very_long_path_is_a_4xx_oci_error(registry_url: str) -> None:
    status, _, body = raw_request(registry_url, "GET", b"/v2/" + b"a/" * 3000 + b"tags/list")
    assert status == 414
    assert json.loads(body)["errors"][0]["code"] == "NAME_INVALID"


def test_name_grammar_unit() -> None:
    assert is_valid_name("a") and is_valid_name("a/b-c/d__e.f") and is_valid_name("a---b")
    assert is_valid_name("a" * 255) and not is_valid_name("a" * 256)
    for name in ["", "A", "a_", "a/./b", "a___b", "a_-b"]:
        assert not is_valid_name(name), name


def test_name_check_is_cheap_on_adversarial_input() -> None:
    """Old separator regexes were exponential on inputs like this (GitLab#220019)."""
    import time

    start = time.perf_counter()
    for text in ["a" + "_b" * 100 + "-" * 50 + "!", "a-" * 127 + "!", "a" * 10_000_000]:
        is_valid_name(text)
    assert time.perf_counter() - start < 1.0


def test_tag_grammar_unit() -> None:
    assert is_valid_tag("latest") and is_valid_tag("_x") and is_valid_tag("A" * 128)
    for tag in ["", ".a", "-a", "a" * 129, "a:b", "a/b", "a@b", "ü"]:
        assert not is_valid_tag(tag), tag


def test_digest_grammar_unit() -> None:
    assert str(parse_digest("sha256:" + "a" * 64)) == "sha256:" + "a" * 64
    assert try_parse_digest("sha512:" + "0" * 128) is not None
    for text in [
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 64 + "\n",
        "md5:abc",
        "sha256+b64u:abc",
        "sha256",
        "",
        ":" + "a" * 64,
        "sha512:" + "a" * 64,
        "x" * 10_000,
    ]:
        assert try_parse_digest(text) is None, text
        with pytest.raises(OCIError) as caught:
            parse_digest(text)
        assert caught.value.status == 400


def test_route_parsing_unit() -> None:
    assert parse_route("/v2/").endpoint is Endpoint.PING
    route = parse_route("/v2/a/manifests/b/manifests/c")
    assert (route.endpoint, route.name, route.argument) == (Endpoint.MANIFEST, "a/manifests/b", "c")
    route = parse_route("/v2/a/blobs/uploads/")
    assert (route.endpoint, route.name) == (Endpoint.UPLOADS, "a")
    route = parse_route("/v2/a/blobs/uploads")
    assert (route.endpoint, route.name) == (Endpoint.UPLOADS, "a")
    route = parse_route("/v2/a/blobs/uploads/123")
    assert (route.endpoint, route.name, route.argument) == (Endpoint.UPLOAD, "a", "123")
    route = parse_route("/v2/x/tags/list/tags/list")
    assert (route.endpoint, route.name) == (Endpoint.TAGS, "x/tags/list")
    for bad in ["/v2/a/manifests/", "/v3/a/tags/list", "/v2/tags/list", "/v2/a/referrers/"]:
        with pytest.raises(OCIError):
            parse_route(bad)
