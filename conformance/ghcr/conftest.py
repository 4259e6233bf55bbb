"""Fixtures of the ghcr checks: the REST API, shared private content, the other tenant's repositories,
and the embedded-only provisioning of credentials no profile role can hold (expired, revoked)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.ghcr.expiry import FAST_EXPIRY_SECONDS, ExpiryProbe
from conformance.ghcr.support import Rest, push
from conformance.harness.cleanup import clean_up
from conformance.harness.repos import RepoNamer, clean_repository, created_in
from conformance.harness.selection import role_usable
from conformance.harness.state import HarnessState
from conformance.oci.expect import fail
from keelhaul.client import ExchangeRecorder, RegistryClient
from keelhaul.client.images import Image, sample_image
from keelhaul.profile import TargetProfile

EMBEDDED_ONLY = (
    "needs credentials no profile role describes (an expired or revoked PAT, the server's signing key); "
    "the suite provisions them only on its embedded reference server"
)


EXPIRY_CHECK = "test_upload_session_expires"  # conformance/ghcr/test_limits.py, the scaled LIM-2 check


@pytest.fixture(scope="session", autouse=True)
def expiry_probe(
    request: pytest.FixtureRequest, harness: HarnessState, target: TargetProfile, repo_namer: RepoNamer
) -> Iterator[ExpiryProbe | None]:
    """The LIM-2 check's sessions, opened in the background from the first ghcr check on, so the wait
    for the expiry passes while other checks run (conformance/ghcr/expiry.py). Only when that check
    will run, with a scaled expiry; in every lane, since any lane may draw the check (the others' go
    unused: a few requests). `alone` checks wait for it to finish (HarnessState.background; in other
    lanes, the lock it holds while it runs)."""
    expiry = target.limits.upload_expiry_seconds
    items = request.session.items
    will_run = any(item.name == EXPIRY_CHECK and item.get_closest_marker("skip") is None for item in items)
    scaled = expiry is not None and expiry <= FAST_EXPIRY_SECONDS
    if not (will_run and scaled and role_usable(target, "writer")):
        yield None
        return
    assert expiry is not None
    recorder = ExchangeRecorder(limit=None)
    repo = repo_namer.next()
    probe = ExpiryProbe(harness.client(target, "writer", recorder), recorder, repo, expiry, harness.lock_path)
    harness.background.append(probe.join)
    yield probe
    probe.join()
    clean_up(harness, target, [repo], recorder.exchanges)


@pytest.fixture
def rest(target: TargetProfile, client_for: Callable[[str], RegistryClient]) -> Rest:
    """GitHub's packages REST API of the target, called as a role (recorded with the check)."""
    return Rest(target, client_for)


@pytest.fixture(scope="session")
def shared_private(session_repo: Callable[[], tuple[str, RegistryClient]]) -> tuple[str, Image]:
    """A private package the writer pushed once (tag `v1`), only read by the checks using it."""
    repo, writer = session_repo()
    image = sample_image(f"ghcr-shared-{repo}")
    answer = push(writer, repo, "v1", image)
    if answer.status_code != 201:
        fail("PUSH-1: the writer's push MUST be accepted (setup)", answer, "201")
    return repo, image


@pytest.fixture(scope="session")
def tenant_namer(harness: HarnessState, target: TargetProfile) -> RepoNamer:
    """Names in the other tenant's namespace, unique within the run."""
    return harness.repo_namer(target.role("other_tenant").namespace, "-t")


@pytest.fixture
def tenant_repo(
    harness: HarnessState, target: TargetProfile, tenant_namer: RepoNamer, exchange_recorder: ExchangeRecorder
) -> Iterator[Callable[[], str]]:
    """`tenant_repo()`: a fresh `<other tenant's namespace>/keelhaul-<run-id>-t-<n>` name; what the
    check pushed there is deleted afterwards with the other tenant's own credentials."""
    names: list[str] = []

    def factory() -> str:
        names.append(tenant_namer.next())
        return names[-1]

    yield factory
    if harness.target.embedded or not target.has_role("other_tenant"):
        return
    cleaner = harness.client(target, "other_tenant")
    for name in names:
        created = created_in(name, exchange_recorder.exchanges)
        if created.manifests or created.tags or created.blobs or created.sessions:
            harness.cleanup.append(clean_repository(cleaner, created, target.kind))


@pytest.fixture
def embedded_admin(harness: Any) -> Iterator[Any]:
    """The embedded reference server's admin API (`keelhaul admin`'s code path), for credentials
    only an operator can make: skipped against any other target."""
    if not harness.target.embedded or harness.target.data_dir is None:
        pytest.skip(EMBEDDED_ONLY)
    from reference_server.ghcr.admin import Admin

    admin = Admin(Path(harness.target.data_dir))
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture
def server_signing_key(harness: Any) -> Any:
    """The embedded server's token-signing key, to mint tokens that are genuine but wrong (expired,
    wrong audience, ...): a check of the verifier's rules, not of its signature check."""
    if not harness.target.embedded or harness.target.data_dir is None:
        pytest.skip(EMBEDDED_ONLY)
    from cryptography.hazmat.primitives import serialization

    path = Path(harness.target.data_dir) / "token-signing-key.pem"
    if not path.is_file():
        pytest.skip(f"the embedded server keeps no signing key at {path}")
    return serialization.load_pem_private_key(path.read_bytes(), password=None)
