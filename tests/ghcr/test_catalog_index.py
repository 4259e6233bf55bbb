"""The catalog walks an index of readable names (issue 15, finding 4): the same pages as asking the
policy about every repository, at a cost proportional to the page rather than to the registry."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from reference_server.access import Admitted
from reference_server.config import ServerConfig
from reference_server.ghcr.auth.credentials import READ, WRITE
from reference_server.ghcr.data.callers import Caller
from reference_server.ghcr.policy import GhcrPolicy, GhcrPrincipal
from reference_server.http.discovery import readable_page
from reference_server.storage.metadata import MetadataStore

DIGEST = "sha256:" + "0" * 64


@dataclass
class Core:
    """What readable_page needs of the registry: its policy and its metadata."""

    policy: GhcrPolicy
    metadata: MetadataStore


def principal(caller: Caller) -> GhcrPrincipal:
    return GhcrPrincipal(subject=str(caller.user_id), kind=caller.kind, caller=caller)


@pytest.fixture
def core(tmp_path: Path) -> Core:
    policy = GhcrPolicy(ServerConfig(data_dir=tmp_path, auth=True))
    metadata = MetadataStore(tmp_path / "registry.db")
    yield Core(policy, metadata)
    metadata.close()
    policy.store.close()


def build_world(core: Core, rng: random.Random) -> list[Caller]:
    store = core.policy.store
    users = [store.create_account(f"user{i}", "user") for i in range(6)]
    orgs = [store.create_account(f"org-{i}", "organization") for i in range(3)]
    for org in orgs:
        for user in rng.sample(users, 3):
            store.set_member(org, user, rng.choice(["owner", "writer", "reader"]))
    repositories = []
    for index, owner in enumerate(users[:2] + orgs):
        repository = store.create_repository(owner, f"src{index}", "https://example.test", "private")
        repositories.append(repository)
        for user in rng.sample(users, 2):
            store.set_collaborator(repository, user, rng.choice(["read", "write", "admin"]))
    for index in range(150):
        owner = rng.choice(users + orgs)
        visibility = rng.choice(["private", "private", "internal", "public"])
        connected = rng.choice([None, *[r.id for r in repositories if r.owner.id == owner.id]])
        package = store.create_package(owner, f"pkg{index:03d}/x", visibility, "test", connected)
        if rng.random() < 0.2:
            store.update_package(package.id, inherit=0)
        if rng.random() < 0.3:
            store.set_grant(package, "user", rng.choice(users).id, rng.choice(["read", "write"]))
        if rng.random() < 0.1:
            store.set_grant(package, "repository", rng.choice(repositories).id, "read")
        if rng.random() < 0.05:
            store.update_package(package.id, deleted_at=1.0)
        if rng.random() < 0.9:  # a few packages whose repository is gone from registry.db
            core.metadata.link_blob(package.registry_name, DIGEST, 1)
    for account in users + orgs:  # blobs pushed, no manifest yet: repositories without a package
        core.metadata.link_blob(f"{account.login.lower()}/loose", DIGEST, 1)
    core.metadata.link_blob("nobody/loose", DIGEST, 1)
    callers = [Caller("anonymous")]
    for user in users:
        callers.append(Caller("user", user_id=user.id, scopes=frozenset({READ, WRITE})))
    callers.append(Caller("user", user_id=users[0].id, scopes=frozenset({WRITE})))  # no read scope
    for repository in repositories:
        callers.append(
            Caller(
                "workflow",
                repository_id=repository.id,
                repository_owner_id=repository.owner.id,
                scopes=frozenset({READ, WRITE}),
            )
        )
    return callers


def test_catalog_pages_match_a_check_of_every_repository(core: Core) -> None:
    callers = build_world(core, random.Random(15))
    everything = core.metadata.list_repositories()
    for caller in callers:
        who = Admitted(core.policy, principal(caller))
        expected = [name for name in everything if who.may_read(name)]
        assert readable_page(core, who, "", 10_000) == expected, caller
        # and page by page, with the `last` cursor, for a few page sizes
        for size in (2, 50):
            pages: list[str] = []
            last = ""
            while True:
                page = readable_page(core, who, last, size)
                pages += page
                if len(page) < size:
                    break
                last = page[-1]
            assert pages == expected, (caller, size)


def test_a_caller_who_may_read_nothing_costs_no_policy_check_per_repository(core: Core) -> None:
    store = core.policy.store
    owner = store.create_account("owner", "user")
    outsider = store.create_account("outsider", "user")
    for index in range(400):
        package = store.create_package(owner, f"private{index:04d}", "private", "test")
        core.metadata.link_blob(package.registry_name, DIGEST, 1)
    checked: list[str] = []
    may_read = core.policy.may_read

    def counting(who: GhcrPrincipal, name: str) -> bool:
        checked.append(name)
        return may_read(who, name)

    core.policy.may_read = counting  # type: ignore[method-assign]
    who = Admitted(core.policy, principal(Caller("user", user_id=outsider.id, scopes=frozenset({READ}))))
    assert readable_page(core, who, "", 2) == []
    assert checked == []
