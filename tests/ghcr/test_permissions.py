"""The permission model as pure decisions: caller × package → actions (no server involved)."""

from __future__ import annotations

import pytest

from reference_server.access import Action
from reference_server.ghcr.admin import Admin
from reference_server.ghcr.auth.identity import Identities
from reference_server.ghcr.auth.permissions import allowed_actions
from reference_server.ghcr.data.callers import Caller, split_name

PULL, PUSH, DELETE = Action.PULL, Action.PUSH, Action.DELETE
ALL = {"read:packages", "write:packages", "delete:packages"}


@pytest.fixture
def world(admin: Admin) -> Admin:
    """alice (user), bob and carol (users), org acme (alice owner, bob writer, carol reader),
    repositories alice/app and acme/site, packages alice/private-img, acme/lib, acme/inner (internal)."""
    for login in ("alice", "bob", "carol", "dave"):
        admin.create_user(login)
    admin.create_org("acme", owner="alice")
    admin.add_member("acme", "bob", "writer")
    admin.add_member("acme", "carol", "reader")
    admin.create_repository("alice/app")
    admin.create_repository("acme/site")
    store = admin.store
    store.create_package(admin.user("alice"), "private-img", "private", "alice")
    store.create_package(admin.org("acme"), "lib", "private", "bob")
    store.create_package(admin.org("acme"), "inner", "internal", "alice")
    return admin


def user(admin: Admin, login: str, scopes: set[str] = ALL) -> Caller:
    return Caller("user", user_id=admin.user(login).id, scopes=frozenset(scopes))


def workflow(admin: Admin, repository: str) -> Caller:
    issued = admin.create_workflow_token(repository)
    return Identities(admin.store).from_secret(None, issued.token).caller


ANON = Caller("anonymous")


def test_split_name() -> None:
    assert split_name("alice/img/release") == ("alice", "img/release")
    for bad in ("alice", "alice/", "alice/Img", "alice/a//b", "alice/../x", "a/" + "x" * 300):
        assert split_name(bad) is None


def test_namespace_owner_is_admin_and_may_create(world: Admin) -> None:
    alice = user(world, "alice")
    assert allowed_actions(world.store, alice, "alice/private-img") == {PULL, PUSH, DELETE}
    assert allowed_actions(world.store, alice, "alice/new/nested") == {PULL, PUSH, DELETE}


def test_scopes_limit_a_role(world: Admin) -> None:
    """AUTH-2/3/4: read → pull; write → pull+push; delete needs delete:packages."""
    assert allowed_actions(world.store, user(world, "alice", {"read:packages"}), "alice/private-img") == {
        PULL
    }
    writer = user(world, "alice", {"read:packages", "write:packages"})
    assert allowed_actions(world.store, writer, "alice/private-img") == {PULL, PUSH}
    deleter = user(world, "alice", {"read:packages", "delete:packages"})
    assert allowed_actions(world.store, deleter, "alice/private-img") == {PULL, DELETE}


def test_private_package_is_invisible_like_a_missing_one(world: Admin) -> None:
    """AUTH-11: another tenant gets the same (empty) answer for private and for missing."""
    dave = user(world, "dave")
    assert allowed_actions(world.store, dave, "alice/private-img") == set()
    assert allowed_actions(world.store, dave, "alice/no-such") == set()
    assert allowed_actions(world.store, ANON, "alice/private-img") == set()
    assert allowed_actions(world.store, ANON, "nobody/anything") == set()


def test_public_pull_anonymously_but_never_push(world: Admin) -> None:
    """AUTH-5/6."""
    world.set_visibility("alice/private-img", "public")
    assert allowed_actions(world.store, ANON, "alice/private-img") == {PULL}
    assert allowed_actions(world.store, user(world, "dave"), "alice/private-img") == {PULL}


def test_org_roles(world: Admin) -> None:
    assert allowed_actions(world.store, user(world, "alice"), "acme/lib") == {PULL, PUSH, DELETE}  # org owner
    assert allowed_actions(world.store, user(world, "bob"), "acme/new") == {PULL, PUSH}  # writer may create
    assert (
        allowed_actions(world.store, user(world, "bob"), "acme/lib") == set()
    )  # no grant on an existing one
    assert allowed_actions(world.store, user(world, "carol"), "acme/new") == set()  # reader may not create
    # internal: any member reads, outsiders do not
    assert allowed_actions(world.store, user(world, "carol"), "acme/inner") == {PULL}
    assert allowed_actions(world.store, user(world, "dave"), "acme/inner") == set()


def test_granular_package_roles(world: Admin) -> None:
    """AUTH-10: a role per package, independent of the repository."""
    world.grant("acme/lib", "read", user="dave")
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == {PULL}
    world.grant("acme/lib", "write", user="dave")
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == {PULL, PUSH}
    world.grant("acme/lib", "admin", user="dave")
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == {PULL, PUSH, DELETE}
    world.grant("acme/lib", None, user="dave")
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == set()


def test_inherited_from_connected_repository(world: Admin) -> None:
    """LBL-6 / AUTH-10: a connected package inherits the repository's access (unless switched off)."""
    world.add_collaborator("acme/site", "dave", "write")
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == set()
    world.connect("acme/lib", "acme/site")
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == {PULL, PUSH}
    world.set_inherit("acme/lib", False)
    assert allowed_actions(world.store, user(world, "dave"), "acme/lib") == set()


def test_workflow_rules(world: Admin) -> None:
    """AUTH-7: publish packages of its repository; AUTH-8: not an unconnected existing package in
    the namespace; AUTH-9: admin on connected packages; no access to other private packages."""
    site = workflow(world, "acme/site")
    assert allowed_actions(world.store, site, "acme/brand-new") == {PULL, PUSH}
    assert allowed_actions(world.store, site, "acme/lib") == set()  # AUTH-8
    world.connect("acme/lib", "acme/site")
    assert allowed_actions(world.store, site, "acme/lib") == {PULL, PUSH, DELETE}  # AUTH-9
    assert allowed_actions(world.store, site, "alice/private-img") == set()  # AUTH-7
    assert allowed_actions(world.store, site, "acme/inner") == {PULL}  # internal: same organisation
    app = workflow(world, "alice/app")
    assert allowed_actions(world.store, app, "acme/brand-new") == set()  # another namespace
    world.grant("acme/lib", "read", repository="alice/app")  # "Manage Actions access"
    assert allowed_actions(world.store, app, "acme/lib") == {PULL}


def test_deleted_package_is_as_if_missing(world: Admin) -> None:
    package = world.package("alice/private-img")
    world.grant("alice/private-img", "read", user="dave")
    world.store.update_package(package.id, deleted_at=world.store.clock())
    assert allowed_actions(world.store, user(world, "dave"), "alice/private-img") == set()
