"""`keelhaul admin --data DIR ...`: the token alone on stdout, one-line errors, list output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keelhaul.cli import main
from reference_server.ghcr.admin import Admin
from reference_server.ghcr.auth.identity import Identities


def admin(data: Path, *args: str) -> int:
    return main(["admin", "--data", str(data), *args])


def test_setup_and_token_create_prints_only_the_token(data_dir: Path, capsys: pytest.CaptureFixture) -> None:
    for args in (
        ("user", "create", "alice"),
        ("user", "create", "bob"),
        ("org", "create", "acme", "--owner", "alice"),
        ("org", "member", "add", "acme", "bob", "--role", "reader"),
        ("repo", "create", "alice/app", "--url", "https://git.example/alice/app"),
        ("repo", "collaborator", "add", "alice/app", "bob", "--role", "write"),
    ):
        assert admin(data_dir, *args) == 0
    capsys.readouterr()
    assert (
        admin(data_dir, "token", "create", "--user", "alice", "--scopes", "read:packages,write:packages") == 0
    )
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("khp_")
    token = out.strip()
    store = Admin(data_dir)
    identity = Identities(store.store).from_secret("alice", token)
    assert identity is not None and identity.caller.scopes == {"read:packages", "write:packages"}

    assert admin(data_dir, "workflow-token", "create", "--repository", "alice/app", "--expires-in", "2h") == 0
    assert capsys.readouterr().out.startswith("khw_")

    assert admin(data_dir, "token", "list", "--user", "alice") == 0
    listing = capsys.readouterr().out
    assert token not in listing and token[4:16] in listing and "read:packages,write:packages" in listing
    assert admin(data_dir, "token", "revoke", token) == 0
    assert Identities(store.store).from_secret("alice", token) is None

    assert admin(data_dir, "org", "member", "list", "acme") == 0
    assert capsys.readouterr().out.split() == ["alice", "owner", "bob", "reader"]
    assert admin(data_dir, "repo", "list") == 0
    assert "https://git.example/alice/app" in capsys.readouterr().out
    assert admin(data_dir, "repo", "collaborator", "list", "alice/app") == 0
    assert capsys.readouterr().out.split() == ["bob", "write"]

    owner = store.user("alice")
    store.store.create_package(owner, "img", "private", "alice")
    assert admin(data_dir, "package", "grant", "alice/img", "--user", "bob", "--role", "read") == 0
    assert (
        admin(data_dir, "package", "grant", "alice/img", "--repository", "alice/app", "--role", "write") == 0
    )
    assert admin(data_dir, "package", "visibility", "alice/img", "public") == 0
    assert admin(data_dir, "package", "connect", "alice/img", "alice/app") == 0
    capsys.readouterr()
    assert admin(data_dir, "package", "grants", "alice/img") == 0
    assert capsys.readouterr().out.split() == ["repository", "alice/app", "write", "user", "bob", "read"]
    assert admin(data_dir, "package", "list") == 0
    assert capsys.readouterr().out.split() == ["alice/img", "public", "alice/app"]
    store.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "create", "bad_name"), "not a valid name"),
        (("token", "create", "--user", "ghost", "--scopes", "read:packages"), "no user named 'ghost'"),
        (("token", "create", "--user", "alice", "--scopes", "admin:org"), "unknown scope"),
        (
            ("token", "create", "--user", "alice", "--scopes", "read:packages", "--expires-in", "soon"),
            "duration",
        ),
        (("workflow-token", "create", "--repository", "alice/app", "--expires-in", "never"), "forever"),
        (("package", "visibility", "alice/none", "public"), "no package named"),
    ],
)
def test_errors_are_one_line_on_stderr(
    data_dir: Path, capsys: pytest.CaptureFixture, args: tuple[str, ...], message: str
) -> None:
    admin(data_dir, "user", "create", "alice")
    admin(data_dir, "repo", "create", "alice/app")
    capsys.readouterr()
    assert admin(data_dir, *args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err and captured.err.count("\n") == 1
    assert captured.err.startswith("keelhaul: ")


def test_the_installed_command_works(data_dir: Path) -> None:
    """Through a real process, as scripts use it: `T=$(keelhaul admin ... token create ...)`."""
    command = [sys.executable, "-m", "keelhaul", "admin", "--data", str(data_dir)]
    subprocess.run([*command, "user", "create", "carol"], check=True, capture_output=True)
    created = subprocess.run(
        [*command, "token", "create", "--user", "carol", "--scopes", "read:packages"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert created.stdout.startswith("khp_") and created.stderr == ""
    failed = subprocess.run([*command, "user", "create", "carol"], capture_output=True, text=True)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr and "already taken" in failed.stderr
