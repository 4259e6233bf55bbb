"""Fuzz the reference server WITH the ghcr.io model (the default `keelhaul serve`): the token endpoint
(GET and OAuth2 POST, random scopes, good/bad/garbage credentials), the packages REST API, the package
pages, and /v2 requests carrying real, expired-looking or garbage tokens.

Rule: never a 5xx or a dropped connection anywhere; on /v2 every 4xx (non-HEAD) is an OCI error body;
elsewhere a 4xx is JSON or HTML, never empty. Counts go to reports/robustness/fuzz-auth.json.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import httpx

from conformance.harness.embedded_roles import provision_roles
from keelhaul.client import Credentials, RegistryClient
from keelhaul.client.images import push_image, sample_image
from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess

from .http_fuzz import FuzzRequest, Known, RequestFactory, Verdict, fire

REQUESTS = int(os.environ.get("KEELHAUL_FUZZ_AUTH_REQUESTS", "4000"))
THREADS = 4
SEED = 4242
ORG = "keelhaul-ci"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class AuthRequests:
    """Requests for the auth surface, mixed with /v2 requests from RequestFactory."""

    def __init__(self, seed: int, known: Known, roles: dict, tokens: list[str]) -> None:
        self.rng = random.Random(seed)
        self.v2 = RequestFactory(seed, known)
        self.known = known
        self.roles = roles
        self.tokens = tokens

    def authorization(self) -> str | None:
        r = self.rng
        roll = r.random()
        role = self.roles[r.choice(sorted(self.roles))]
        if roll < 0.25:
            return None
        if roll < 0.5:
            return basic(role["username"], role["password"])
        if roll < 0.75 and self.tokens:
            return "Bearer " + r.choice(self.tokens)
        return r.choice(
            [
                basic("nobody", "ghp_" + "x" * 36),
                basic(role["username"], ""),
                "Basic !!!",
                "Basic Og==",
                "Bearer",
                "Bearer a.b.c",
                "Bearer " + "." * 5000,
                "Bearer eyJhbGciOiJub25lIn0.e30.",
                "Negotiate abc",
                "Bearer " + (self.tokens[0][:-4] + "AAAA" if self.tokens else "x"),
            ]
        )

    def scope(self) -> str:
        r = self.rng
        repo = r.choice([*self.known.repos, f"{ORG}/nope", "other-tenant/x", "*", "", "UPPER/x", "a" * 300])
        actions = r.choice(["pull", "push", "pull,push", "delete", "*", "", "pull,bogus", "pull,pull"])
        kind = r.choice(["repository", "repository", "registry", "blob", ""])
        name = "catalog" if kind == "registry" else repo
        return f"{kind}:{name}:{actions}" if r.random() < 0.9 else r.choice(["x", ":::", "repository:a"])

    def next(self) -> FuzzRequest:
        r = self.rng
        roll = r.random()
        headers: dict[str, str] = {}
        auth = self.authorization()
        if auth:
            headers["Authorization"] = auth
        if roll < 0.3:
            query = "&".join(f"scope={self.scope()}" for _ in range(r.randint(0, 3)))
            service = r.choice(["", "service=127.0.0.1&", "service=evil.example&"])
            extra = r.choice(["", "&offline_token=true", "&client_id=x", "&account=y"])
            return FuzzRequest("GET", f"/token?{service}{query}{extra}", headers, b"")
        if roll < 0.4:
            role = self.roles[r.choice(sorted(self.roles))]
            form = {
                "grant_type": r.choice(["password", "refresh_token", "authorization_code", ""]),
                "username": role["username"],
                "password": r.choice([role["password"], "wrong", ""]),
                "refresh_token": r.choice(["", "x.y.z", *(self.tokens[:1])]),
                "service": r.choice(["127.0.0.1", ""]),
                "scope": " ".join(self.scope() for _ in range(r.randint(0, 2))),
                "client_id": "fuzz",
            }
            form = {k: v for k, v in form.items() if r.random() < 0.85}
            body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
            if r.random() < 0.1:
                body = r.choice([b"", b"\xff\xfe", b"=" * 100, json.dumps(form).encode()])
            headers["Content-Type"] = r.choice(
                ["application/x-www-form-urlencoded", "application/json", "text/plain"]
            )
            return FuzzRequest("POST", "/token", headers, body)
        if roll < 0.65:
            owner = r.choice(["/user", f"/orgs/{ORG}", "/users/ci-writer", "/users/nobody", "/orgs/%2e%2e"])
            name = r.choice(["keelhaul-fz-a", "keelhaul-fz-b%2Fnested", "nope", "%00", "a" * 300])
            version = r.choice(["1", "0", "-1", "abc", "99999999999999999999", str(r.getrandbits(40))])
            path = r.choice(
                [
                    f"{owner}/packages",
                    f"{owner}/packages/container/{name}",
                    f"{owner}/packages/npm/{name}",
                    f"{owner}/packages/container/{name}/versions",
                    f"{owner}/packages/container/{name}/restore",
                    f"{owner}/packages/container/{name}/versions/{version}",
                    f"{owner}/packages/container/{name}/versions/{version}/restore",
                ]
            )
            query = r.choice(
                [
                    "",
                    "?package_type=container",
                    "?package_type=npm",
                    "?visibility=secret",
                    "?package_type=container&visibility=public",
                    "?page=-1&per_page=abc",
                    "?token=x",
                ]
            )
            method = r.choice(["GET", "GET", "DELETE", "PATCH", "POST", "PUT"])
            body = b""
            if method in ("PATCH", "POST", "PUT"):
                body = r.choice(
                    [b'{"visibility": "public"}', b'{"visibility": "secret"}', b"[]", b"{", b"", b"null"]
                )
                headers["Content-Type"] = "application/json"
            return FuzzRequest(method, path + query, headers, body)
        if roll < 0.72:
            ns = r.choice([ORG, "other-tenant", "nobody", "%2e%2e", "UPPER"])
            name = r.choice(["keelhaul-fz-a", "keelhaul-fz-b/nested", "nope", "a" * 500, "%3Cscript%3E"])
            return FuzzRequest(
                r.choice(["GET", "HEAD", "POST"]), f"/packages/container/{ns}/{name}", headers, b""
            )
        request = self.v2.next()
        request.headers.pop("Authorization", None)
        if auth:
            request.headers["Authorization"] = auth
        return request


def judge(verdict: Verdict, request: FuzzRequest, status: int, body: bytes, non_v2: Counter) -> None:
    if request.path.startswith("/v2"):
        verdict.judge(request, status, body)
        return
    verdict.statuses[status] += 1
    verdict.methods[request.method] += 1
    non_v2[request.path.split("?")[0].split("/")[1]] += 1
    if status >= 500:
        verdict.server_errors.append(f"{status} <- {request.describe()} :: {body[:200]!r}")
    elif 400 <= status < 500 and request.method != "HEAD" and not body.strip():
        verdict.bad_error_bodies.append(f"{status} empty body <- {request.describe()}")


def test_fuzz_auth_surface(tmp_path: Path, report_dir: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    roles = {
        name: {"username": role.credentials.username, "password": role.credentials.password}
        for name, role in provision_roles(data_dir, ORG).items()
        if role.credentials is not None
    }
    server = ServerProcess(ServerConfig(listen_port=0, data_dir=data_dir), log_path=tmp_path / "serve.log")
    url = server.start()
    verdict = Verdict()
    non_v2: Counter = Counter()
    started = time.monotonic()
    try:
        writer = roles["writer"]
        repos = [f"{ORG}/keelhaul-fz-a", f"{ORG}/keelhaul-fz-b/nested"]
        digests, blobs, tokens = [], [], []
        with RegistryClient(url, credentials=Credentials(writer["username"], writer["password"])) as client:
            for index, repo in enumerate(repos):
                image = sample_image(f"fuzz-auth-{index}")
                digests.append(push_image(client, repo, "v1", image))
                blobs += [b.digest for b in image.blobs]
            for role in roles.values():
                answer = httpx.get(
                    f"{url}/token",
                    params={"service": url.split("//")[1], "scope": f"repository:{repos[0]}:pull,push"},
                    headers={"Authorization": basic(role["username"], role["password"])},
                )
                if answer.status_code == 200:
                    tokens.append(answer.json()["token"])
        known = Known([*repos, "other-tenant/keelhaul-fz-x"], ["v1", "latest"], blobs, digests, [])
        fire(
            url,
            lambda index: AuthRequests(SEED + index, known, roles, tokens),
            lambda request, status, body: judge(verdict, request, status, body, non_v2),
            verdict,
            requests=REQUESTS,
            threads=THREADS,
        )
        alive = server.process is not None and server.process.poll() is None
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    summary = verdict.summary() | {"seed": SEED, "seconds": round(elapsed, 1), "non_v2_by_area": dict(non_v2)}
    (report_dir / "fuzz-auth.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"\nfuzz-auth: {summary['requests']} requests in {elapsed:.1f} s: {summary['by_class']}; "
        f"areas {dict(non_v2)}; 5xx {summary['server_errors']}, "
        f"bad bodies {summary['non_oci_error_bodies']}, "
        f"transport errors {summary['transport_errors']}"
    )
    problems = verdict.server_errors[:5] + verdict.bad_error_bodies[:5] + verdict.transport_errors[:5]
    assert alive, "the server process died during the fuzz run"
    assert verdict.total >= REQUESTS
    assert not problems, "\n".join(problems)
