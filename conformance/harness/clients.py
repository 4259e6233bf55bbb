"""A registry client for one role of the target profile, on the run's shared connection pool."""

from __future__ import annotations

import httpx
import pytest

from conformance.harness.selection import role_usable
from keelhaul.client import ExchangeRecorder, RegistryClient
from keelhaul.client.auth import ScopeForms
from keelhaul.client.ledger import BlobLedger
from keelhaul.profile import TargetProfile


def make_client(
    profile: TargetProfile,
    role: str,
    recorder: ExchangeRecorder | None = None,
    transport: httpx.BaseTransport | None = None,
    scope_forms: ScopeForms | None = None,
    blob_ledger: BlobLedger | None = None,
) -> RegistryClient:
    """The client for `role`; on a target without auth a role without credentials acts anonymously.
    A role that cannot act skips the check with the profile's reason. Clients of one run share one
    transport (connection pool): creating an httpx client builds an SSL context, ~0.1 s each here,
    which would cost seconds over a run. Never close such a client; the harness closes the transport.
    They share `scope_forms` too, so a check's first request to its new repository carries a token
    for the scope the target's earlier challenges showed (keelhaul.client.auth.ScopeForms), and
    `blob_ledger`, so pushes into the run's fresh repositories skip the HEAD (keelhaul.client.ledger)."""
    if not profile.has_role(role):
        if not role_usable(profile, role):
            pytest.skip(f"role {role!r} unavailable: {profile.role_unavailable_reason(role)}")
        role = "anonymous"
    return RegistryClient(
        profile.url,
        credentials=profile.credentials(role),
        recorder=recorder,
        verify=profile.tls_verify,
        transport=transport,
        scope_forms=scope_forms,
        blob_ledger=blob_ledger,
    )
