"""Accounts store, tokens at rest, and the admin API behind `keelhaul admin` (standalone, no server)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reference_server.ghcr.admin import Admin, AdminError, parse_duration
from reference_server.ghcr.auth import credentials
from reference_server.ghcr.auth.credentials import READ, WRITE
from reference_server.ghcr.auth.identity import Identities
from reference_server.ghcr.data.store import AccountsStore, accounts_path


def test_users_orgs_members_and_repositories(admin: Admin) -> None:
    alice = admin.create_user("alice")
    admin.create_user("bob")
    org = admin.create_org("acme", owner="alice")
    admin.add_member("acme", "bob", "reader")
    assert [(a.login, role) for a, role in admin.members("acme")] == [("alice", "owner"), ("bob", "reader")]
    repo = admin.create_repository("acme/app")
    assert repo.url == "https://github.com/acme/app" and repo.owner == org
    admin.add_collaborator("acme/app", "bob", "write")
    assert admin.store.collaborator_role(repo.id, admin.user("bob").id) == "write"
    assert [u.login for u in admin.users()] == ["alice", "bob"] and admin.orgs()[0].login == "acme"
    assert admin.user("ALICE") == alice  # logins are case-insensitive, as on GitHub


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.create_user("alice"), "already taken"),
        (lambda a: a.create_user("-bad"), "not a valid name"),
        (lambda a: a.create_org("acme", owner="nobody"), "no user named 'nobody'"),
        (lambda a: a.add_member("alice", "alice"), "no organisation named 'alice'"),
        (lambda a: a.add_member("acme", "alice", "king"), "organisation role must be"),
        (lambda a: a.create_repository("alice"), "OWNER/NAME"),
        (lambda a: a.create_repository("alice/app", url="ftp://x"), "http(s)"),
        (lambda a: a.create_token("alice", ["repo"]), "unknown scope 'repo'"),
        (lambda a: a.create_token("alice", []), "at least one scope"),
        (lambda a: a.create_workflow_token("alice/none"), "no repository named"),
        (lambda a: a.revoke_token("nope"), "no token with id"),
        (lambda a: a.set_visibility("alice/missing", "public"), "no package named"),
    ],
)
def test_admin_errors_are_one_line(admin: Admin, call, message: str) -> None:
    admin.create_user("alice")
    admin.create_org("acme")
    with pytest.raises(AdminError) as raised:
        call(admin)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_token_is_shown_once_and_stored_only_as_a_hash(admin: Admin, data_dir) -> None:
    admin.create_user("alice")
    issued = admin.create_token("alice", ["write:packages"])
    assert issued.token.startswith("khp_") and len(issued.token) == 48
    assert issued.record.scopes == {READ, WRITE}  # write implies read
    raw = sqlite3.connect(accounts_path(data_dir)).execute("SELECT * FROM tokens").fetchall()
    dumped = repr(raw)
    assert issued.token not in dumped and issued.token[16:] not in dumped
    assert admin.store.token(issued.id).secret_hash == credentials.hash_token(issued.token)


def test_presented_token_checks(admin: Admin, clock) -> None:
    admin.create_user("alice")
    admin.create_user("bob")
    issued = admin.create_token("alice", ["read:packages"], expires_in=3600)
    identities = Identities(admin.store)
    assert identities.from_secret("alice", issued.token).login == "alice"
    assert identities.from_secret("Alice", issued.token).login == "alice"
    assert identities.from_secret("bob", issued.token).login == "alice"  # ghcr.io: the token decides
    tampered = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    assert identities.from_secret("alice", tampered) is None
    assert identities.from_secret("alice", "khw_" + issued.token[4:]) is None  # kind is part of the token
    assert identities.from_secret("alice", "x" * 10_000) is None
    clock.advance(3601)
    assert identities.from_secret("alice", issued.token) is None  # expired
    assert identities.from_credential_id(issued.id) is None


def test_revocation_takes_effect_for_cached_identities(admin: Admin) -> None:
    admin.create_user("alice")
    issued = admin.create_token("alice", ["read:packages"], expires_in=None)
    identities = Identities(admin.store)
    assert identities.from_credential_id(issued.id) is not None
    # Revoke through a second connection, as the admin CLI does while the server runs.
    other = Admin(admin.store.path.parent)
    other.revoke_token(issued.token)
    other.close()
    assert identities.from_credential_id(issued.id) is None
    assert identities.from_secret("alice", issued.token) is None
    listed = admin.tokens("alice")
    assert [t.id for t in listed] == [issued.id] and listed[0].revoked_at is not None


def test_workflow_token_is_bound_to_its_repository_and_short_lived(admin: Admin, clock) -> None:
    admin.create_user("alice")
    admin.create_repository("alice/app")
    issued = admin.create_workflow_token("alice/app")
    identity = Identities(admin.store).from_secret("whoever", issued.token)
    assert identity.subject == "workflow:alice/app" and identity.caller.kind == "workflow"
    assert identity.caller.repository_id == admin.repository("alice/app").id
    with pytest.raises(AdminError, match="24 hours"):
        admin.create_workflow_token("alice/app", expires_in=25 * 3600)
    clock.advance(3601)
    assert Identities(admin.store).from_secret("whoever", issued.token) is None


def test_parse_duration() -> None:
    assert parse_duration("90") == 90 and parse_duration("15m") == 900 and parse_duration("30d") == 2592000
    assert parse_duration("never") is None
    for bad in ("", "0", "-5", "1w", "10 d"):
        with pytest.raises(AdminError):
            parse_duration(bad)


def test_pending_pushes_noted_before_digests_and_labels_were_kept_still_load(tmp_path: Path) -> None:
    """An accounts.db a crash left with a pending push of the old shape: the columns are added and
    the row reads back with no digest and no labels (recovery then falls back to any manifest)."""
    path = accounts_path(tmp_path)
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE pending_pushes (id INTEGER PRIMARY KEY, repository TEXT NOT NULL, "
        "caller TEXT NOT NULL, subject TEXT, created_at REAL NOT NULL);"
        "INSERT INTO pending_pushes (repository, caller, subject, created_at) "
        "VALUES ('acme/app', '{}', 'alice', 1.0);"
    )
    old.close()
    store = AccountsStore(path)
    try:
        (pending,) = store.pending_pushes()
        assert (pending.repository, pending.digest, pending.labels) == ("acme/app", None, None)
        store.add_pending_push("acme/web", "{}", "alice", "sha256:" + "0" * 64, '{"a": "b"}')
        assert store.pending_pushes()[1].labels == '{"a": "b"}'
    finally:
        store.close()
