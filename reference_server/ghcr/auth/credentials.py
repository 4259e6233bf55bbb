"""Personal access tokens and workflow tokens: minting, hashing, and checking a presented secret.

A token is `<prefix><id><secret>`: the id finds the stored record without scanning, the whole token's
SHA-256 is what is stored, and the comparison is constant-time. Tokens carry 192 random bits, so a
plain hash is enough (no slow password hash needed), and the cleartext exists only in the answer to
the one call that created it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

from reference_server.ghcr.data.store import AccountsStore, TokenRecord

PAT_PREFIX = "khp_"  # like GitHub's ghp_: recognisable in logs and by secret scanners
WORKFLOW_PREFIX = "khw_"  # like GitHub's ghs_ installation tokens
ID_LENGTH = 12
SECRET_LENGTH = 32
MAX_PRESENTED_LENGTH = 256

_ALPHABET = string.ascii_letters + string.digits

READ = "read:packages"
WRITE = "write:packages"
DELETE = "delete:packages"
PACKAGE_SCOPES = (READ, WRITE, DELETE)


@dataclass(frozen=True)
class IssuedToken:
    """The one moment a token's cleartext exists: returned by the create call, never stored."""

    id: str
    token: str
    record: TokenRecord


def normalise_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """Checks the names and applies GitHub's implication: write:packages includes read:packages."""
    chosen = {scope.strip() for scope in scopes if scope.strip()}
    unknown = sorted(chosen - set(PACKAGE_SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r} (choose from {', '.join(PACKAGE_SCOPES)})")
    if not chosen:
        raise ValueError(f"a token needs at least one scope ({', '.join(PACKAGE_SCOPES)})")
    if WRITE in chosen:
        chosen.add(READ)
    return frozenset(chosen)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def mint(
    store: AccountsStore,
    *,
    kind: str,
    scopes: frozenset[str],
    user_id: int | None = None,
    repository_id: int | None = None,
    expires_at: float | None = None,
    note: str = "",
) -> IssuedToken:
    prefix = PAT_PREFIX if kind == "pat" else WORKFLOW_PREFIX
    token_id = _random(ID_LENGTH)
    token = prefix + token_id + _random(SECRET_LENGTH)
    record = TokenRecord(
        id=token_id,
        kind=kind,
        user_id=user_id,
        repository_id=repository_id,
        scopes=scopes,
        secret_hash=hash_token(token),
        note=note,
        created_at=store.clock(),
        expires_at=expires_at,
        revoked_at=None,
    )
    store.insert_token(record)
    return IssuedToken(token_id, token, record)


# A record that never matches, so unknown ids cost the same hash and compare as known ones.
_DECOY_HASH = hash_token("decoy")


def check_presented(store: AccountsStore, presented: str) -> TokenRecord | None:
    """The stored record for a presented token if it is genuine, unrevoked and unexpired; else None.

    Every refusal takes the same path (hash, constant-time compare), whatever the reason."""
    if len(presented) > MAX_PRESENTED_LENGTH:
        return None
    record = None
    if (
        presented.startswith((PAT_PREFIX, WORKFLOW_PREFIX))
        and len(presented) == 4 + ID_LENGTH + SECRET_LENGTH
    ):
        record = store.token(presented[4 : 4 + ID_LENGTH])
    expected = record.secret_hash if record is not None else _DECOY_HASH
    genuine = hmac.compare_digest(hash_token(presented), expected)
    if record is None or not genuine:
        return None
    kind_matches = presented.startswith(PAT_PREFIX) == (record.kind == "pat")
    if not kind_matches or not record.usable_at(store.clock()):
        return None
    return record
