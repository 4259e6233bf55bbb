"""Helpers of the ghcr checks: the packages REST API, token requests, forged tokens, labelled images,
and the assertions every refusal shares. Black-box only: nothing here knows how a server is built."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from conformance.ghcr import rest_schemas
from conformance.oci.expect import check_answer, error_codes, expect_status, fail, got, json_body
from conformance.oci.schemas import schema_errors
from keelhaul.client import RegistryClient
from keelhaul.client.images import Image, ImageIndex, PushError, push_referenced
from keelhaul.client.uploads import UploadError
from keelhaul.profile import TargetProfile

SOURCE = "org.opencontainers.image.source"
DESCRIPTION = "org.opencontainers.image.description"
LICENSES = "org.opencontainers.image.licenses"

TOKEN_SCHEMA = "docker-token.schema.json"
OAUTH2_TOKEN_SCHEMA = "oauth2-token.schema.json"

# Where a target kind serves GitHub's REST API when it is not the registry's own host.
API_BASE_BY_KIND = {"ghcr": "https://api.github.com"}
REFUSED = (401, 403)
NOT_READABLE = (401, 403, 404)


# ---- answers -----------------------------------------------------------------------------------------
def expect_refused(
    response: httpx.Response,
    requirement: str,
    statuses: Iterable[int] = REFUSED,
    codes: Iterable[str] | None = (
        "UNAUTHORIZED",
        "DENIED",
        "NAME_UNKNOWN",
        "BLOB_UNKNOWN",
        "MANIFEST_UNKNOWN",
    ),
) -> None:
    """A refusal: one of `statuses`, a well-formed OCI error when the body is JSON, never a 2xx/5xx.
    A DELETE may also be refused as unsupported (405 UNSUPPORTED: ghcr.io deletes only through its
    REST API): that removes nothing and tells nothing either."""
    allowed = sorted(set(statuses))
    if response.request.method == "DELETE":
        allowed = sorted({*allowed, 405})
        codes = None if codes is None else (*codes, "UNSUPPORTED")
    if response.status_code not in allowed:
        check_answer(response)
        fail(requirement, response, f"a refusal ({' or '.join(map(str, allowed))})")
    check_answer(response)
    found = error_codes(response)
    wanted = set(codes) if codes is not None else None
    if wanted and found is not None and not wanted.intersection(found):
        fail(requirement, response, f"an error code among {sorted(wanted)}", got(response))


def expect_allowed(response: httpx.Response, statuses: Iterable[int], requirement: str) -> None:
    """An answer among `statuses` (the ghcr checks' argument order for `expect_status`)."""
    expect_status(response, statuses, requirement)


def expect_schema(document: Any, schema: str, requirement: str, response: httpx.Response) -> None:
    problems = schema_errors(document, schema)
    if problems:
        fail(requirement, response, f"a body valid against {schema}", problems[0])


def comparable(response: httpx.Response, name: str) -> tuple[int, str, str]:
    """An answer with the repository name masked: what must be equal for a missing and an invisible
    package (AUTH-11). Status, body and challenge (scope aside) are compared."""
    body = "" if response.request.method == "HEAD" else response.text.replace(name, "<name>")
    challenge = response.headers.get("www-authenticate", "").replace(name, "<name>")
    return response.status_code, body, challenge


# ---- tokens ------------------------------------------------------------------------------------------
def token_answer(client: RegistryClient, scope: str) -> httpx.Response | None:
    """The realm's answer to a token request for `scope` with the client's credentials (None when
    the target challenges no one: then there is no token service to ask)."""
    challenge = client.challenge()
    if challenge is None or challenge.scheme != "bearer":
        return None
    client.fetch_token(challenge, scope)
    return client.last_token_response


def token_from(response: httpx.Response) -> str:
    document = response.json()
    return document.get("token") or document.get("access_token")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def all_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push,delete"


# ---- forged tokens -----------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(document: dict[str, Any]) -> str:
    return _b64url(json.dumps(document, separators=(",", ":")).encode())


@dataclass(frozen=True)
class TokenShape:
    """What a genuine token of the target looks like (header and claims), so forgeries copy it. For
    opaque (non-JWT) tokens a plausible Docker-token JWT for `repo` is made up instead."""

    header: dict[str, Any]
    claims: dict[str, Any]
    genuine: str

    @classmethod
    def of(cls, token: str, repo: str, service: str | None) -> TokenShape:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            header, claims = {"typ": "JWT"}, {}
        now = int(time.time())
        made_up = {
            "iss": "keelhaul-forger",
            "sub": "keelhaul",
            "aud": service or "registry",
            "iat": now,
            "nbf": now - 10,
            "exp": now + 600,
            "jti": "keelhaul-forged",
        }
        claims = {**made_up, **claims}
        # whatever it granted, a forgery asks for everything on the repository
        claims["access"] = [{"type": "repository", "name": repo, "actions": ["pull", "push", "delete"]}]
        claims["exp"] = max(int(claims.get("exp") or 0), now + 600)
        return cls(header, claims, token)


def _foreign_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _public_jwk(key: Any) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def forged_tokens(shape: TokenShape) -> dict[str, str]:
    """Every forgery of failure-modes §1/§4.7, by name: each must be refused with 401."""
    import jwt

    kid = shape.header.get("kid")
    kid_header = {"kid": kid} if kid else {}
    key = _foreign_key()
    claims = shape.claims
    expired = {
        **claims,
        "iat": int(time.time()) - 7200,
        "nbf": int(time.time()) - 7200,
        "exp": int(time.time()) - 3600,
    }
    parts = shape.genuine.split(".")
    tampered = shape.genuine + "x"
    if len(parts) == 3:  # keep the genuine signature, widen the claims
        tampered = ".".join((parts[0], _b64url_json(claims), parts[2]))
    return {
        "foreign-key": jwt.encode(claims, key, algorithm="ES256", headers=kid_header),
        "alg-none": f"{_b64url_json({'alg': 'none', 'typ': 'JWT', **kid_header})}.{_b64url_json(claims)}.",
        "jwk-header-foreign-key": jwt.encode(
            claims, key, algorithm="ES256", headers={**kid_header, "jwk": _public_jwk(key)}
        ),
        "hs256-guessed-secret": jwt.encode(
            claims, "keelhaul-guessed-hmac-secret-for-hs256", algorithm="HS256", headers=kid_header
        ),
        "claims-swapped-signature-kept": tampered,
        "expired-foreign-key": jwt.encode(expired, key, algorithm="ES256", headers=kid_header),
        "megabyte-of-dots": "." * (1 << 20),
        "sixty-kb-of-dots": "." * 60_000,  # under common header limits: reaches the token parser
        "empty-segments": "..",
    }


# ---- the packages REST API (GitHub's shapes) ----------------------------------------------------------
def api_base(profile: TargetProfile) -> str:
    return API_BASE_BY_KIND.get(profile.kind, profile.url).rstrip("/")


def split_repo(repo: str) -> tuple[str, str]:
    namespace, _, name = repo.partition("/")
    return namespace, name


_OWNER_SECTIONS: dict[tuple[str, str], str] = {}


@dataclass
class Rest:
    """Calls GitHub's packages REST API of the target as a role (PAT as a bearer token), recorded
    into the check's exchanges like every registry request."""

    profile: TargetProfile
    client_for: Callable[[str], RegistryClient]
    _clients: dict[str, RegistryClient] = field(default_factory=dict)

    def call(
        self, role: str, method: str, path: str, *, body: Any = None, authorization: str | None = None
    ) -> httpx.Response:
        client = self._clients.get(role) or self._clients.setdefault(role, self.client_for(role))
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif client.credentials is not None:
            headers["Authorization"] = f"Bearer {client.credentials.password}"
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return client.request(
            method, api_base(self.profile) + path, headers=headers, content=content, authenticate=False
        )

    def owner_section(self, namespace: str) -> str:
        """`orgs` or `users`: which of GitHub's paths serves the namespace (asked once per run)."""
        key = (self.profile.url, namespace)
        if key not in _OWNER_SECTIONS:
            answer = self.call(
                "admin" if self.profile.has_role("admin") else "writer",
                "GET",
                f"/orgs/{namespace}/packages?package_type=container&per_page=1",
            )
            _OWNER_SECTIONS[key] = "orgs" if answer.status_code == 200 else "users"
        return _OWNER_SECTIONS[key]

    def packages_path(self, namespace: str) -> str:
        return f"/{self.owner_section(namespace)}/{namespace}/packages"

    def package_path(self, repo: str) -> str:
        namespace, name = split_repo(repo)
        return f"{self.packages_path(namespace)}/container/{quote(name, safe='')}"

    def package(self, role: str, repo: str, requirement: str) -> dict[str, Any]:
        """GET the package as `role`: 200 and a body valid against GitHub's package schema."""
        answer = self.call(role, "GET", self.package_path(repo))
        expect_rest_status(answer, [200], f"{requirement}: GET {self.package_path(repo)} as {role}")
        expect_github_answer(answer, f"{requirement}: a package as GitHub's REST description states it")
        return json_body(answer, requirement)

    def versions(self, role: str, repo: str, requirement: str, state: str = "active") -> list[dict[str, Any]]:
        path = f"{self.package_path(repo)}/versions?per_page=100&state={state}"
        answer = self.call(role, "GET", path)
        expect_rest_status(answer, [200], f"{requirement}: GET {path} as {role}")
        expect_github_answer(answer, f"{requirement}: versions as GitHub's REST description states them")
        return json_body(answer, requirement)

    def version_of(self, role: str, repo: str, digest: str, requirement: str) -> dict[str, Any]:
        for version in self.versions(role, repo, requirement):
            if version["name"] == digest:
                return version
        fail(requirement, None, f"a version named {digest} in {repo}", "none")
        raise AssertionError  # unreachable


def expect_rest_status(response: httpx.Response, statuses: Iterable[int], requirement: str) -> None:
    """A REST API answer: one of `statuses` (GitHub's bodies are not OCI errors, so only the status and
    never a 5xx are judged here)."""
    allowed = sorted(set(statuses))
    if response.status_code not in allowed:
        fail(requirement, response, " or ".join(map(str, allowed)))


def expect_github_answer(response: httpx.Response, requirement: str) -> None:
    """The answer is one GitHub's REST description (the vendored extract) gives for its operation: a
    described status, a body valid against that status's schema, and a `message` in every error. The
    visibility PATCH, which GitHub offers only in its web UI, answers a package."""
    path = response.request.url.raw_path.decode("ascii").split("?", 1)[0]
    method = response.request.method
    body = json_body(response, requirement) if response.content else None
    if rest_schemas.operation(method, path) is None and method == "PATCH":
        component = rest_schemas.PACKAGE if response.is_success else rest_schemas.ERROR
        problems = rest_schemas.shape_errors(body, component) if body is not None else []
    else:
        problems = rest_schemas.response_errors(method, path, response.status_code, body)
    has_message = isinstance(body, dict) and isinstance(body.get("message"), str) and bool(body["message"])
    if not problems and response.status_code >= 400 and body is not None and not has_message:
        problems = ["<root>: an error without a message"]
    if problems:
        wanted = f"an answer as GitHub's REST description ({rest_schemas.source()['npm']}) states it"
        fail(requirement, response, wanted, problems[0])


def expect_github_error(response: httpx.Response, statuses: Iterable[int], requirement: str) -> None:
    expect_rest_status(response, statuses, requirement)
    expect_github_answer(response, f"{requirement}: a GitHub error body")


# ---- images ------------------------------------------------------------------------------------------
def push(client: RegistryClient, repo: str, tag: str | None, image: Image | ImageIndex) -> httpx.Response:
    """Push blobs (and child manifests) with the shared client, then the manifest; return the manifest
    PUT's answer (its status and Warning headers are what label checks look at). A refused blob
    upload or child manifest returns that refusal instead, so refusal checks can judge it."""
    try:
        push_referenced(client, repo, image)
    except UploadError as error:
        return error.result.response
    except PushError as error:
        return error.response
    manifest = image.manifest
    return client.put_manifest(repo, tag or manifest.digest, manifest.body, manifest.media_type)


def repository_url(source_repository: str) -> str:
    """The URL GitHub gives `owner/name`; what a source label names to link a package (PUSH-4)."""
    return f"https://github.com/{source_repository}"


def page_url(profile: TargetProfile, repo: str, package_json: dict[str, Any] | None) -> str:
    """The package page: the REST API's `html_url` when there is one, else the registry's
    `/packages/container/<namespace>/<name>` (the reference server's and ghcr-like layout)."""
    if package_json and package_json.get("html_url"):
        return str(package_json["html_url"])
    namespace, name = split_repo(repo)
    return f"{profile.url}/packages/container/{namespace}/{name}"


_TAG_RE = re.compile(r"<[^>]+>")


def page_text(html: str) -> str:
    """The visible text of a page, entities decoded (values are compared as a reader sees them)."""
    import html as html_module

    return html_module.unescape(_TAG_RE.sub(" ", html))


def set_visibility(rest: Rest, repo: str, visibility: str, requirement: str) -> None:
    """Change a package's visibility through the API (`PATCH {"visibility": …}`: GitHub offers it only in
    its web UI). A target without that endpoint skips the check that needs it, saying so."""
    import pytest

    answer = rest.call("admin", "PATCH", rest.package_path(repo), body={"visibility": visibility})
    if (
        answer.status_code in (404, 405, 501)
        and rest.call("admin", "GET", rest.package_path(repo)).is_success
    ):
        pytest.skip(
            f"the target cannot change a package's visibility through its API (PATCH -> "
            f"{answer.status_code}); set it by hand to run this check"
        )
    expect_rest_status(answer, [200, 204], f"{requirement}: PATCH visibility {visibility!r} as admin")
