"""From a presented credential (PAT, workflow token, or the id inside a signed JWT) to a `Caller`.

The registry routes, the token service, the REST API and the pages all identify callers here, so a
revoked or expired token stops working everywhere at once: every use re-reads the credential's
record (cheaply: results are cached until the accounts database changes).
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
from dataclasses import dataclass

from reference_server.ghcr.auth.credentials import DELETE, READ, WRITE, check_presented
from reference_server.ghcr.data.callers import ANONYMOUS_CALLER, Caller
from reference_server.ghcr.data.store import AccountsStore, TokenRecord


@dataclass(frozen=True)
class Identity:
    caller: Caller
    subject: str | None  # the user's login, "workflow:<owner>/<repo>", None when anonymous
    credential_id: str | None = None
    login: str | None = None  # the user behind a PAT
    expires_at: float = math.inf  # the credential's own expiry (store clock), inf: none

    @property
    def is_anonymous(self) -> bool:
        return self.caller.is_anonymous


ANONYMOUS_IDENTITY = Identity(ANONYMOUS_CALLER, None)


def parse_basic(header_value: str) -> tuple[str, str] | None:
    """`Basic base64(user:password)` → (user, password); None for anything malformed."""
    scheme, _, encoded = header_value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded or len(encoded) > 2048:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    if not colon or "\x00" in decoded:
        return None
    return user, password


class Identities:
    """Resolves credentials against the accounts store."""

    def __init__(self, store: AccountsStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._generation: tuple[int, int] | None = None
        self._by_credential: dict[str, Identity | None] = {}

    def from_secret(self, username: str | None, secret: str) -> Identity | None:
        """A PAT or a workflow token; None when it is unknown, revoked or expired. The username is
        not checked, as on ghcr.io (the token alone says who is calling; clients send anything)."""
        record = check_presented(self.store, secret)
        return self._identity(record) if record is not None else None

    def from_credential_id(self, credential_id: str) -> Identity | None:
        """For a signed token's `cred` claim: the identity if the credential is still usable now."""
        generation = self.store.generation()
        now = self.store.clock()
        with self._lock:
            if generation != self._generation:
                self._by_credential.clear()
                self._generation = generation
            known = credential_id in self._by_credential
            identity = self._by_credential.get(credential_id)
        if not known:
            record = self.store.token(credential_id)
            identity = self._identity(record) if record is not None and record.usable_at(now) else None
            with self._lock:
                if len(self._by_credential) > 50_000:
                    self._by_credential.clear()
                self._by_credential[credential_id] = identity
        # Expiry is a matter of time, not of writes, so a cached identity is checked against it.
        return identity if identity is not None and now < identity.expires_at else None

    def _identity(self, record: TokenRecord) -> Identity | None:
        if record.kind == "pat":
            if record.user_id is None:
                return None
            try:
                user = self.store.account_by_id(record.user_id)
            except Exception:
                return None
            caller = Caller("user", user_id=user.id, scopes=record.scopes)
            return Identity(caller, user.login, record.id, user.login, _expiry(record))
        if record.repository_id is None:
            return None
        try:
            repository = self.store.repository_by_id(record.repository_id)
        except Exception:
            return None
        caller = Caller(
            "workflow",
            repository_id=repository.id,
            repository_owner_id=repository.owner.id,
            scopes=record.scopes,
        )
        return Identity(caller, f"workflow:{repository.full_name}", record.id, expires_at=_expiry(record))


def _expiry(record: TokenRecord) -> float:
    return record.expires_at if record.expires_at is not None else math.inf


def workflow_scopes(permission: str) -> frozenset[str]:
    """A workflow job's `packages:` permission as token scopes; deleting still needs admin."""
    if permission == "read":
        return frozenset({READ})
    if permission == "write":
        return frozenset({READ, WRITE, DELETE})
    raise ValueError(f"workflow permission must be read or write, not {permission!r}")
