"""The fixtures checks use: the target profile, clients per role, fresh repositories cleaned up
after the check (or the session), and the recorder whose exchanges a failure shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conformance.harness.cleanup import clean_up, cleanup_role
from conformance.harness.repos import RepoNamer
from conformance.harness.state import RECORDER, HarnessState, harness_state
from keelhaul.client import ExchangeRecorder, RegistryClient
from keelhaul.profile import TargetProfile

RECORDER_LIMIT = 400  # exchanges kept per check; a failure shows the last ones


@pytest.fixture(scope="session")
def harness(request: pytest.FixtureRequest) -> HarnessState:
    return harness_state(request.config)


@pytest.fixture(scope="session")
def target(harness: HarnessState) -> TargetProfile:
    """The TargetProfile of the registry under test."""
    assert harness.target is not None
    return harness.target.profile


@pytest.fixture(autouse=True)
def exchange_recorder(request: pytest.FixtureRequest) -> ExchangeRecorder:
    """Every client a check makes records here; a failure's report shows these exchanges."""
    recorder = ExchangeRecorder(limit=RECORDER_LIMIT)
    request.node.stash[RECORDER] = recorder
    return recorder


@pytest.fixture
def client_for(
    harness: HarnessState, target: TargetProfile, exchange_recorder: ExchangeRecorder
) -> Callable[[str], RegistryClient]:
    """`client_for(role)`: a client acting as that role (anonymous: no credentials), recording into the
    check's exchanges. Checks that depend on the identity declare `needs(role=...)` so a profile
    without that role skips them; here a role without credentials acts anonymously."""

    def factory(role: str = "writer") -> RegistryClient:
        return harness.client(target, role, exchange_recorder)

    return factory


@pytest.fixture
def client(client_for: Callable[[str], RegistryClient]) -> RegistryClient:
    """The writer's client: what most OCI checks use."""
    return client_for("writer")


@pytest.fixture
def deleting_client(client_for: Callable[[str], RegistryClient], target: TargetProfile) -> RegistryClient:
    """A client allowed to delete what the writer pushed (see cleanup.cleanup_role)."""
    return client_for(cleanup_role(target))


@pytest.fixture(scope="session")
def repo_namer(harness: HarnessState, target: TargetProfile) -> RepoNamer:
    return harness.repo_namer(target.namespace)


@pytest.fixture
def new_repo(
    harness: HarnessState, target: TargetProfile, repo_namer: RepoNamer, exchange_recorder: ExchangeRecorder
) -> Iterator[Callable[..., str]]:
    """`new_repo()`: a fresh `<namespace>/keelhaul-<run-id>-<n>` name (`new_repo("release")` nests
    one more component under it); what the check stores there is deleted after it (read from its
    recorded exchanges)."""
    names: list[str] = []

    def factory(nested: str | None = None) -> str:
        name = repo_namer.next(nested)
        names.append(name)
        return name

    yield factory
    clean_up(harness, target, names, exchange_recorder.exchanges)


@pytest.fixture(scope="session")
def session_repo(
    harness: HarnessState, target: TargetProfile, repo_namer: RepoNamer
) -> Iterator[Callable[[], tuple[str, RegistryClient]]]:
    """For session-scoped content shared by read-only checks: `session_repo()` gives a fresh name and
    a writer client that records into a session recorder; everything is removed at session end."""
    recorder = ExchangeRecorder(limit=None)
    names: list[str] = []

    def factory() -> tuple[str, RegistryClient]:
        name = repo_namer.next()
        names.append(name)
        return name, harness.client(target, "writer", recorder)

    yield factory
    clean_up(harness, target, names, recorder.exchanges)
