"""Removing what the checks created: who deletes, what the record shows was written, and a ledger of
what could not be deleted (the reports list it)."""

from __future__ import annotations

from conformance.harness.clients import make_client
from conformance.harness.repos import CleanupOutcome, clean_repository, created_in
from conformance.harness.selection import role_usable
from conformance.harness.state import HarnessState
from keelhaul.client import Exchange
from keelhaul.profile import TargetProfile


def cleanup_role(profile: TargetProfile) -> str:
    """Who deletes what the suite created: the admin (on ghcr.io only a package admin holding
    delete:packages may delete), else the deleter, else the writer (targets without auth)."""
    for role in ("admin", "deleter"):
        if profile.has_role(role):
            return role
    return "writer"


def clean_up(
    harness: HarnessState, target: TargetProfile, names: list[str], exchanges: list[Exchange]
) -> None:
    """Delete what was created under `names` (nothing is sent for a repository the record shows no
    write to); what cannot be deleted is kept in the ledger the reports show. The embedded server's
    whole data directory is discarded at the end of the run, so nothing is deleted one by one there."""
    if harness.target is not None and harness.target.embedded:
        return
    created = [c for c in (created_in(name, exchanges) for name in names) if c.manifests or c.tags or c.blobs]
    if not created:
        return
    role = cleanup_role(target)
    if not role_usable(target, role):
        harness.cleanup += [
            CleanupOutcome(c.repo, left=[f"no credentials to delete with ({role})"]) for c in created
        ]
        return
    cleaner = make_client(target, role, transport=harness.transport)
    for item in created:
        harness.cleanup.append(clean_repository(cleaner, item))
