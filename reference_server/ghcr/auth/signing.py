"""Signed registry tokens: the server's own ES256 key, and JWTs verified against it alone.

Verification pins everything an attacker could otherwise choose: the algorithm (ES256 only, so no
`none` and no HMAC-with-the-public-key), the key (looked up by `kid` in the server's own keyset; a
`jwk`, `x5c`, `jku` or `x5u` header is refused, never used), the issuer, the audience, the token's use
(access vs refresh) and the time window. Oversized or malformed tokens are refused before parsing.
Verified tokens are cached until they expire so manifest GETs do not pay a signature check each.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
ISSUER = "keelhaul-token-service"
ACCESS_USE = "access"
REFRESH_USE = "refresh"
MAX_TOKEN_LENGTH = 8192  # our tokens are < 2 KiB even with 64 scopes; anything longer is not ours
ALLOWED_HEADER_KEYS = frozenset({"alg", "typ", "kid"})
LEEWAY_SECONDS = 30
CACHE_ENTRIES = 20_000


class InvalidToken(Exception):
    """The bearer token is not one this server issued for this use, or it is no longer valid."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself, stable across restarts."""
    numbers = public_key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The signing key lives in the data directory (mode 0600); created once, atomically."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails if another process created the key first: use theirs
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return loaded


@dataclass(frozen=True)
class Issued:
    token: str
    claims: dict[str, Any]


class TokenSigner:
    """Issues and verifies this server's JWTs."""

    def __init__(self, key_path: Path, lifetime_seconds: int = 300) -> None:
        self._key = load_or_create_key(key_path)
        self.kid = key_id(self._key.public_key())
        self._public_keys = {self.kid: self._key.public_key()}
        self.lifetime_seconds = lifetime_seconds
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        audience: str,
        subject: str,
        use: str,
        extra: dict[str, Any],
        lifetime_seconds: int | None = None,
        now: float | None = None,
    ) -> Issued:
        issued_at = int(time.time() if now is None else now)
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": audience,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + (lifetime_seconds or self.lifetime_seconds),
            "jti": secrets.token_urlsafe(16),
            "use": use,
            **extra,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})
        # A token this signer has just made needs no signature check on its first use: its claims are
        # known. The check costs 0.25 ms per token, 0.1 s of a default conformance run (410 tokens).
        self._remember(token, json.loads(json.dumps(claims)))  # the claims as a decode would give them
        return Issued(token, claims)

    def public_key(self, kid: object) -> ec.EllipticCurvePublicKey | None:
        """The verification key with id `kid` (what a JWKS document would publish), or None."""
        return self._public_keys.get(kid) if isinstance(kid, str) else None

    def verify(self, token: str, *, audience: str, use: str) -> dict[str, Any]:
        """The token's claims, or InvalidToken. Never trusts anything the token says about keys."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("malformed token")
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None:
            if cached["aud"] != audience or cached["use"] != use:
                raise InvalidToken("token not valid here")
            now = time.time()
            if cached["exp"] + LEEWAY_SECONDS < now:
                with self._lock:
                    self._cache.pop(token, None)
                raise InvalidToken("token expired")
            if cached["nbf"] - LEEWAY_SECONDS > now:  # only a token issued for a later time
                raise InvalidToken("token invalid or expired")
            return cached
        claims = self._verify_signature(token, audience)
        if claims.get("use") != use:
            raise InvalidToken("token not valid here")
        self._remember(token, claims)
        return claims

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        """Keep the claims of a token known to be this signer's (the cache `verify` reads first)."""
        with self._lock:
            self._cache[token] = claims
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _verify_signature(self, token: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") != ALGORITHM or not set(header) <= ALLOWED_HEADER_KEYS:
            raise InvalidToken("token not signed by this server")
        key = self.public_key(header.get("kid"))
        if key is None:
            raise InvalidToken("token not signed by this server")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"], "strict_aud": True},
            )
        except jwt.PyJWTError:
            raise InvalidToken("token invalid or expired") from None
