"""Credentials and the pieces of the Docker token flow: challenge parsing and a per-scope token cache."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field

# auth-param = token "=" quoted-string | token  (RFC 7235); registries quote values
_PARAM_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
DEFAULT_TOKEN_LIFETIME = 60  # seconds; the token spec's default when expires_in is absent
EXPIRY_MARGIN = 5  # refresh this many seconds before a token's announced expiry


@dataclass(frozen=True)
class Credentials:
    """Basic credentials presented to a token realm or a Basic challenge."""

    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header."""

    scheme: str  # "bearer" | "basic" | other, lower case
    params: dict[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenge(header: str | None) -> Challenge | None:
    """Parse one challenge (`Bearer realm="…",service="…",scope="…"`); None if absent or unreadable."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for match in _PARAM_RE.finditer(rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return Challenge(scheme.lower(), params)


@dataclass
class CachedToken:
    token: str
    expires_at: float  # time.monotonic() value

    def fresh(self) -> bool:
        return time.monotonic() < self.expires_at - EXPIRY_MARGIN


class TokenCache:
    """Tokens by scope string, plus which scope the registry last asked for per kind of request."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._scope_hints: dict[tuple[str, str], str] = {}

    def get(self, scope: str) -> str | None:
        cached = self._tokens.get(scope)
        if cached is None or not cached.fresh():
            return None
        return cached.token

    def put(self, scope: str, token: str, expires_in: float | None) -> None:
        lifetime = expires_in if expires_in and expires_in > 0 else DEFAULT_TOKEN_LIFETIME
        self._tokens[scope] = CachedToken(token, time.monotonic() + lifetime)

    def drop(self, scope: str) -> None:
        self._tokens.pop(scope, None)

    def hint(self, key: tuple[str, str]) -> str | None:
        return self._scope_hints.get(key)

    def set_hint(self, key: tuple[str, str], scope: str) -> None:
        self._scope_hints[key] = scope


class ScopeForms:
    """What a registry's bearer challenges showed, whoever asked: its realm and service, and the
    actions it asks for per kind of request (GET/HEAD, writes, DELETE). With them a client names a new
    repository's scope before the registry asks (`RegistryClient` shares one per run). It is a fact
    about the registry, not about an identity, so clients of every role share it."""

    def __init__(self) -> None:
        self.challenge: Challenge | None = None
        self._actions: dict[str, str] = {}

    def learn(self, key: tuple[str, str], challenge: Challenge) -> None:
        """Remember `challenge` (bearer, with a realm) and the actions it asked for when it named
        exactly this request's repository (`repository:NAME:ACTIONS`)."""
        if challenge.scheme != "bearer" or not challenge.realm:
            return
        self.challenge = challenge
        repository, action = key
        prefix = f"repository:{repository}:"
        scope = challenge.scope
        if repository and scope and scope.startswith(prefix):
            actions = scope[len(prefix) :]
            if actions and " " not in actions and ":" not in actions:
                self._actions[action] = actions

    def predicted_scope(self, key: tuple[str, str]) -> str | None:
        """The scope the registry would ask for on this request, when an earlier challenge of the
        same kind showed its form; None when nothing was learned (then the challenge decides)."""
        repository, action = key
        actions = self._actions.get(action)
        if not repository or repository == "_catalog" or actions is None:
            return None
        return f"repository:{repository}:{actions}"


# The name may itself contain "tags" or "blobs" components: match the endpoint suffix at the end.
_REPO_PATH_RE = re.compile(
    r"^/v2/(?P<name>.+)/(?:blobs/uploads/[^/]*|blobs/[^/]+|manifests/[^/]+|tags/list|referrers/[^/]+)$"
)


def request_key(method: str, path: str) -> tuple[str, str]:
    """(repository or "", action class) used to reuse a token before the registry asks again."""
    match = _REPO_PATH_RE.match(path)
    repo = match.group("name") if match else ("_catalog" if path.startswith("/v2/_catalog") else "")
    method = method.upper()
    action = "pull" if method in ("GET", "HEAD") else "delete" if method == "DELETE" else "push"
    return repo, action
