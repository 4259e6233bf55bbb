"""Removing what the checks created: who deletes, what the record shows was written, and a ledger of
what could not be deleted (the reports list it)."""

from __future__ import annotations

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
    """Cancel, delete and record what was created under `names` (nothing is sent for a repository the
    record shows no write to); the ledger the reports show lists each item and whether it went. The
    embedded server's whole data directory is discarded at the end of the run instead."""
    created = [
        c
        for c in (created_in(name, exchanges) for name in names)
        if c.manifests or c.tags or c.blobs or c.sessions
    ]
    if not created:
        return
    if harness.target is not None and harness.target.embedded:
        for item in created:
            outcome = CleanupOutcome(item.repo)
            outcome.record(
                "repository", item.repo, True, "embedded server's data directory removed at the end"
            )
            harness.cleanup.append(outcome)
        return
    role = cleanup_role(target)
    if not role_usable(target, role):
        for item in created:
            outcome = CleanupOutcome(item.repo)
            outcome.record(
                "repository", item.repo, False, f"no credentials to delete with ({role})", "delete it by hand"
            )
            harness.cleanup.append(outcome)
        return
    cleaner = harness.client(target, role)
    for item in created:
        harness.cleanup.append(clean_repository(cleaner, item, target.kind))
