"""A seeded generator of HTTP requests against the OCI surface, and the rule every answer must keep.

Requests mix valid and broken pieces (names, references, digests, upload ids, query strings,
Content-Range, Range, Content-Type, methods, bodies) so they reach deep into the handlers: some hit
content that exists, some live upload sessions, most some kind of bad input. The rule (OCI-ERR-1/2):
never a 5xx, never a dropped connection, and every 4xx to a non-HEAD request carries an OCI error
body `{"errors": [{"code": <one of the spec's codes>, ...}]}`.

Plain `random.Random(seed)` rather than hypothesis: ten thousand requests must fit in CI seconds, and
a failing request is printed whole (method, URL, headers, body prefix), which is all that is needed
to replay it.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from conformance.oci.expect import OCI_ERROR_CODES

METHODS = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "TRACE"]
MEDIA_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
    "application/octet-stream",
    "text/plain",
    "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    "",
    "x/" + "y" * 300,
]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Known:
    """Content that exists on the server, so generated requests also reach the success paths."""

    repos: list[str]
    tags: list[str]
    blob_digests: list[str]
    manifest_digests: list[str]
    upload_paths: list[str] = field(default_factory=list)  # live sessions, consumed by the fuzzer


@dataclass
class FuzzRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def describe(self) -> str:
        return f"{self.method} {self.path[:300]} headers={self.headers} body[:80]={self.body[:80]!r}"


class RequestFactory:
    def __init__(self, seed: int, known: Known) -> None:
        self.rng = random.Random(seed)
        self.known = known

    # -- pieces ----------------------------------------------------------------------------------
    def name(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.45:
            return r.choice(self.known.repos)
        if kind < 0.65:
            parts = [
                "".join(r.choices(string.ascii_lowercase + string.digits, k=r.randint(1, 12)))
                for _ in range(r.randint(1, 4))
            ]
            return "/".join(parts)
        return r.choice(
            [
                "UPPER/case",
                "a//b",
                "a/%2E%2E/b",
                "%2e%2e",
                "%2E",
                "a/",
                "-a",
                "a-",
                "a__b_",
                "a..b",
                "a/%2e%2e/b",
                "a%2Fb",
                "%00",
                "a%20b",
                "x" * 300,
                "/".join(["ab"] * 140),
                "a" * 4200,
                "ü",
                "%C3%BC",
                "a:b",
                "a@b",
                "fz/app/" + "n" * 250,
                "a\\b",
                "a;b",
                "_catalog",
                "a/tags",
                "a/blobs",
            ]
        )

    def tag(self) -> str:
        r = self.rng
        if r.random() < 0.4:
            return r.choice(self.known.tags)
        return r.choice(
            [
                "v1",
                "latest",
                "1.0.0",
                "_x",
                "a" * 128,
                "a" * 129,
                ".hidden",
                "-dash",
                "sp%20ace",
                "ta%2Fg",
                "t" * 2000,
                "%00",
                "UPPER",
                "a:b",
                "sha256",
                "sha256:",
                "SHA256:" + "a" * 64,
                "%C3%BC",
            ]
        )

    def digest(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.3 and self.known.blob_digests:
            return r.choice(self.known.blob_digests)
        if kind < 0.45 and self.known.manifest_digests:
            return r.choice(self.known.manifest_digests)
        if kind < 0.6:
            return sha256(r.randbytes(8))
        return r.choice(
            [
                "sha256:" + "a" * 63,
                "sha256:" + "a" * 65,
                "sha256:" + "A" * 64,
                "sha256:" + "g" * 64,
                "md5:" + "a" * 32,
                "sha1:" + "a" * 40,
                "sha512:" + "a" * 128,
                "sha512:" + "a" * 64,
                "sha256:..%2F..%2Fetc%2Fpasswd",
                "sha256:",
                ":" + "a" * 64,
                "sha256+b64u:abc",
                "sha256:" + "a" * 10000,
                "blake3:" + "a" * 64,
                "sha256:%00" + "a" * 61,
                "SHA256:" + "a" * 64,
                "sha-256:" + "a" * 64,
            ]
        )

    def reference(self) -> str:
        return self.tag() if self.rng.random() < 0.5 else self.digest()

    def upload_id(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.4 and self.known.upload_paths:
            return self.known.upload_paths[r.randrange(len(self.known.upload_paths))].rsplit("/", 1)[1]
        if kind < 0.6:
            return str(uuid.UUID(int=r.getrandbits(128)))
        return r.choice(
            [
                "x",
                "%2E%2E",
                "%2e%2e",
                "0" * 36,
                "g" * 36,
                "a" * 5000,
                str(uuid.UUID(int=r.getrandbits(128))).upper(),
            ]
        )

    def number(self) -> str:
        return self.rng.choice(
            [
                "0",
                "1",
                "2",
                "5",
                "1000",
                "1001",
                "-1",
                "abc",
                "1.5",
                "",
                "1e9",
                "9223372036854775808",
                "99999999999999999999",
                "+3",
                " 2",
                "0x10",
                "%00",
                "٣",
            ]
        )

    def query(self, endpoint: str) -> str:
        r = self.rng
        params: list[tuple[str, str]] = []
        if endpoint in ("tags", "catalog") or r.random() < 0.1:
            if r.random() < 0.7:
                params.append(("n", self.number()))
            if r.random() < 0.5:
                params.append(("last", r.choice([self.tag(), "", "%2F..", "z" * 3000])))
        if endpoint in ("uploads", "upload", "manifest") or r.random() < 0.05:
            roll = r.random()
            if roll < 0.4:
                params.append(("digest", self.digest()))
            elif roll < 0.6:
                params.append(("mount", self.digest()))
                if r.random() < 0.7:
                    params.append(("from", self.name()))
            elif roll < 0.75:
                params += [("tag", self.tag()) for _ in range(r.randint(1, 4))]
        if endpoint == "referrers" and r.random() < 0.5:
            params.append(("artifactType", r.choice(["application/x", "", "%00", "a" * 500])))
        if r.random() < 0.05:
            params.append((r.choice(["digest", "n", "x", "%", ""]), r.choice(["", "%zz", "&&", "=="])))
        if not params:
            return ""
        return "?" + "&".join(f"{k}={v}" if v or r.random() < 0.5 else k for k, v in params)

    def content_range(self) -> str:
        r = self.rng
        a = r.randint(0, 5000)
        return r.choice(
            [
                f"{a}-{a + r.randint(0, 100)}",
                f"0-{r.randint(0, 100)}",
                f"{a}-{max(a - 5, 0)}",
                "bytes=0-10",
                "0-18446744073709551616",
                "-1-5",
                "abc",
                "",
                "5-",
                "-5",
                "0-0/*",
                "0-10/11",
                "10-0",
                "99999999999999999999-99999999999999999999",
                "0- 5",
            ]
        )

    def body(self, endpoint: str) -> bytes:
        r = self.rng
        roll = r.random()
        if roll < 0.3:
            return b""
        if roll < 0.5:
            return r.randbytes(r.choice([1, 7, 100, 4096, 70_000]))
        if roll < 0.8 and endpoint in ("manifest", "uploads", "upload"):
            return self.manifest_like()
        return r.choice(
            [
                b"{}",
                b"[]",
                b"null",
                b"{",
                b"\xef\xbb\xbf{}",
                b"\xff\xfe",
                b'{"a":1,"a":2}',
                b"[" * 5000 + b"]" * 5000,
                b'{"schemaVersion": 2}',
                b"NaN",
                b'"' + b"x" * 1000 + b'"',
            ]
        )

    def manifest_like(self) -> bytes:
        r = self.rng
        descriptor = {
            "mediaType": r.choice(MEDIA_TYPES),
            "digest": self.digest(),
            "size": r.choice([0, 2, 10, -1, 2**63, "12", None, 1.5]),
        }
        if r.random() < 0.2:
            descriptor["urls"] = [
                r.choice(["http://169.254.169.254/x", "file:///etc/passwd", "https://e.x/#f"])
            ]
        document: dict[str, object] = {
            "schemaVersion": r.choice([2, 2, 2, 1, 3, "2", None]),
            "mediaType": r.choice(MEDIA_TYPES),
        }
        shape = r.random()
        if shape < 0.6:
            document["config"] = descriptor
            document["layers"] = [dict(descriptor) for _ in range(r.randint(0, 3))]
        elif shape < 0.9:
            document["manifests"] = [dict(descriptor, platform={"os": "linux", "architecture": "amd64"})]
        else:
            document["config"] = descriptor
            document["manifests"] = [descriptor]
        if r.random() < 0.3:
            document["subject"] = {"mediaType": MEDIA_TYPES[0], "digest": self.digest(), "size": 10}
        if r.random() < 0.2:
            document["annotations"] = {"k": "v" * r.choice([1, 600, 100_000]), "n": r.choice(["x", 1, None])}
        if r.random() < 0.2:
            document["artifactType"] = r.choice(["application/x", 5, ""])
        return json.dumps(document).encode()

    # -- whole requests --------------------------------------------------------------------------
    def next(self) -> FuzzRequest:
        r = self.rng
        endpoint = r.choices(
            ["ping", "catalog", "tags", "manifest", "blob", "uploads", "upload", "referrers", "junk"],
            weights=[2, 4, 10, 25, 15, 15, 15, 8, 6],
        )[0]
        name = self.name()
        path = {
            "ping": r.choice(["/v2/", "/v2"]),
            "catalog": "/v2/_catalog",
            "tags": f"/v2/{name}/tags/list",
            "manifest": f"/v2/{name}/manifests/{self.reference()}",
            "blob": f"/v2/{name}/blobs/{self.digest()}",
            "uploads": f"/v2/{name}/blobs/uploads/",
            "upload": f"/v2/{name}/blobs/uploads/{self.upload_id()}",
            "referrers": f"/v2/{name}/referrers/{self.digest()}",
            "junk": r.choice(
                [
                    f"/v2/{name}",
                    f"/v2/{name}/",
                    f"/v2/{name}/blobs",
                    f"/v2/{name}/manifests/",
                    "/v2//",
                    "/v2/_catalog/x",
                    f"/v2/{name}/tags/list/x",
                    f"/v2/{name}/blobs/uploads/a/b",
                    "/v2/%ff",
                    f"/v2/{name}/referrers/",
                    "/v2/" + "a/" * 2100,
                ]
            ),
        }[endpoint]
        path += self.query(endpoint)
        method = r.choice(METHODS) if r.random() < 0.35 else self._likely_method(endpoint)
        headers: dict[str, str] = {}
        if r.random() < 0.6:
            headers["Content-Type"] = r.choice(MEDIA_TYPES)
        if endpoint in ("upload", "uploads") and r.random() < 0.6:
            headers["Content-Range"] = self.content_range()
        if endpoint == "blob" and r.random() < 0.4:
            headers["Range"] = r.choice(
                [
                    "bytes=0-0",
                    "bytes=0-",
                    "bytes=-5",
                    "bytes=5-1",
                    "bytes=999999-",
                    "bytes=a-b",
                    "items=0-1",
                    "bytes=0-1,3-4",
                    "bytes=" + "9" * 30 + "-",
                    "",
                ]
            )
        if r.random() < 0.2:
            headers["Accept"] = ", ".join(m for m in r.sample(MEDIA_TYPES, r.randint(1, 4)) if m) or "*/*"
        if r.random() < 0.1:
            headers["Authorization"] = r.choice(
                ["Bearer", "Bearer " + "." * 10000, "Basic !!!", "Basic YQ==", "bearer x.y.z", "Digest a=b"]
            )
        if r.random() < 0.05:
            headers[r.choice(["If-None-Match", "If-Match", "OCI-Subject", "X-Junk"])] = r.choice(
                ["*", "x" * 2000]
            )
        body = self.body(endpoint) if method in ("PUT", "POST", "PATCH") or r.random() < 0.05 else b""
        return FuzzRequest(method, path, headers, body)

    def _likely_method(self, endpoint: str) -> str:
        return self.rng.choice(
            {
                "ping": ["GET", "HEAD"],
                "catalog": ["GET", "HEAD"],
                "tags": ["GET", "HEAD"],
                "manifest": ["GET", "HEAD", "PUT", "DELETE"],
                "blob": ["GET", "HEAD", "DELETE"],
                "uploads": ["POST"],
                "upload": ["GET", "PATCH", "PUT", "DELETE"],
                "referrers": ["GET"],
                "junk": ["GET", "PUT", "POST"],
            }[endpoint]
        )


@dataclass
class Verdict:
    """Counts over a fuzz run, and the requests that broke the rule."""

    statuses: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)
    methods: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    bad_error_bodies: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.transport_errors)

    def judge(self, request: FuzzRequest, status: int, body: bytes) -> None:
        self.statuses[status] += 1
        self.methods[request.method] += 1
        if status >= 500:
            self.server_errors.append(f"{status} <- {request.describe()} :: {body[:200]!r}")
            return
        if 400 <= status < 500 and request.method != "HEAD":
            problem = oci_error_problem(body)
            if problem:
                self.bad_error_bodies.append(f"{status} {problem} <- {request.describe()} :: {body[:200]!r}")
            else:
                for entry in json.loads(body)["errors"]:
                    self.codes[entry["code"]] += 1

    def summary(self) -> dict[str, object]:
        classes = Counter(f"{s // 100}xx" for s in self.statuses.elements())
        return {
            "requests": self.total,
            "by_class": dict(sorted(classes.items())),
            "by_status": {str(k): v for k, v in sorted(self.statuses.items())},
            "error_codes": dict(self.codes.most_common()),
            "by_method": dict(self.methods.most_common()),
            "server_errors": len(self.server_errors),
            "non_oci_error_bodies": len(self.bad_error_bodies),
            "transport_errors": len(self.transport_errors),
        }


def oci_error_problem(body: bytes) -> str | None:
    """Why `body` is not an OCI error body, or None when it is one."""
    try:
        document = json.loads(body)
    except ValueError:
        return "not JSON"
    errors = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(errors, list) or not errors:
        return "no errors list"
    for entry in errors:
        if not isinstance(entry, dict) or entry.get("code") not in OCI_ERROR_CODES:
            return f"unknown code {entry!r:.100}"
        if not isinstance(entry.get("message", ""), str):
            return "message is not a string"
    return None


class RequestSource(Protocol):
    def next(self) -> FuzzRequest: ...


def fire(
    url: str,
    sources: Callable[[int], RequestSource],
    judge: Callable[[FuzzRequest, int, bytes], None],
    verdict: Verdict,
    *,
    requests: int,
    threads: int,
) -> None:
    """Send at least `requests` requests from `threads` client threads (thread i draws from
    `sources(i)`), so the server sees concurrent load. Answers go to `judge` under one lock; a
    dropped connection is recorded in `verdict.transport_errors`."""
    per_thread = -(-requests // threads)
    lock = threading.Lock()

    def worker(index: int) -> None:
        source = sources(index)
        with httpx.Client(base_url=url, timeout=httpx.Timeout(20)) as http:
            for _ in range(per_thread):
                request = source.next()
                try:
                    response = http.request(
                        request.method, request.path, headers=request.headers, content=request.body
                    )
                except httpx.HTTPError as error:
                    with lock:
                        verdict.transport_errors.append(f"{type(error).__name__} <- {request.describe()}")
                    continue
                with lock:
                    judge(request, response.status_code, response.content)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
