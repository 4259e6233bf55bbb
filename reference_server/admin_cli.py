"""`keelhaul admin --data DIR ...`: users, organisations, repositories, tokens and package settings
of the reference server's ghcr.io model. Works while the server runs (SQLite WAL; the server notices).

`token create` and `workflow-token create` print only the token on stdout, so scripts can capture it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reference_server.config import default_data_dir
from reference_server.ghcr.data.timestamps import rfc3339

if TYPE_CHECKING:
    from reference_server.ghcr.admin import Admin

Handler = Callable[["Admin", argparse.Namespace], None]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = subparsers.add_parser(
        "admin", help="manage accounts, tokens and packages of the reference server (ghcr.io model)"
    )
    admin.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the server's data folder, as given to `keelhaul serve --data` (default {default_data_dir()})",
    )
    topics = admin.add_subparsers(dest="topic", metavar="TOPIC", required=True)

    user = topics.add_parser("user", help="users").add_subparsers(dest="verb", required=True)
    _verb(user, "create", _user_create, help="create a user").add_argument("login", help="the user's login")
    _verb(user, "list", _user_list, help="list users")

    org = topics.add_parser("org", help="organisations").add_subparsers(dest="verb", required=True)
    create = _verb(org, "create", _org_create, help="create an organisation")
    create.add_argument("login", help="the organisation's login")
    create.add_argument("--owner", help="a user to make its first owner")
    _verb(org, "list", _org_list, help="list organisations")
    member = org.add_parser("member", help="organisation members").add_subparsers(
        dest="member_verb", required=True
    )
    add = _verb(member, "add", _member_add, help="add a member or change their role")
    add.add_argument("org", help="organisation login")
    add.add_argument("user", help="user login")
    add.add_argument(
        "--role", default="writer", choices=("owner", "writer", "reader"), help="the member's role"
    )
    remove = _verb(member, "remove", _member_remove, help="remove a member")
    remove.add_argument("org", help="organisation login")
    remove.add_argument("user", help="user login")
    _verb(member, "list", _member_list, help="list members").add_argument("org", help="organisation login")

    repo = topics.add_parser("repo", help="source repositories").add_subparsers(dest="verb", required=True)
    create = _verb(repo, "create", _repo_create, help="create a source repository OWNER/NAME")
    create.add_argument("full_name", metavar="OWNER/NAME", help="owner (user or organisation) and name")
    create.add_argument("--url", help="its URL (default https://github.com/OWNER/NAME)")
    create.add_argument(
        "--visibility", default="private", choices=("private", "internal", "public"), help="who may see it"
    )
    _verb(repo, "list", _repo_list, help="list repositories").add_argument(
        "--owner", help="only this owner's repositories (default: all)"
    )
    collaborator = repo.add_parser("collaborator", help="repository collaborators").add_subparsers(
        dest="collaborator_verb", required=True
    )
    add = _verb(collaborator, "add", _collaborator_add, help="add a collaborator or change their role")
    add.add_argument("repository", metavar="OWNER/NAME", help="the source repository")
    add.add_argument("user", help="user login")
    add.add_argument(
        "--role", default="read", choices=("read", "write", "admin"), help="the collaborator's role"
    )
    remove = _verb(collaborator, "remove", _collaborator_remove, help="remove a collaborator")
    remove.add_argument("repository", metavar="OWNER/NAME", help="the source repository")
    remove.add_argument("user", help="user login")
    _verb(collaborator, "list", _collaborator_list, help="list collaborators").add_argument(
        "repository", metavar="OWNER/NAME", help="the source repository"
    )

    token = topics.add_parser("token", help="personal access tokens").add_subparsers(
        dest="verb", required=True
    )
    create = _verb(token, "create", _token_create, help="create a token; prints only the token")
    create.add_argument("--user", required=True, help="login of the user the token acts as (required)")
    create.add_argument(
        "--scopes",
        required=True,
        help="comma-separated, like a classic GitHub PAT: read:packages, write:packages (implies "
        "read), delete:packages (required)",
    )
    create.add_argument("--expires-in", default="30d", help="e.g. 3600, 90m, 12h, 30d or never (default 30d)")
    create.add_argument("--note", default="", help="what the token is for, shown by `token list`")
    _verb(token, "revoke", _token_revoke, help="revoke a token (by id or by the token itself)").add_argument(
        "token", help="the token's id (from `token list`) or the token itself"
    )
    _verb(token, "list", _token_list, help="list tokens (never their secrets)").add_argument(
        "--user", help="only this user's tokens (default: all)"
    )

    workflow = topics.add_parser("workflow-token", help="workflow (GITHUB_TOKEN-like) tokens").add_subparsers(
        dest="verb", required=True
    )
    create = _verb(
        workflow, "create", _workflow_create, help="create a workflow token; prints only the token"
    )
    create.add_argument(
        "--repository",
        required=True,
        metavar="OWNER/NAME",
        help="the repository whose workflow runs (required)",
    )
    create.add_argument(
        "--permission", default="write", choices=("read", "write"), help="packages permission"
    )
    create.add_argument("--expires-in", default="1h", help="at most 24h (default 1h)")

    package = topics.add_parser("package", help="packages").add_subparsers(dest="verb", required=True)
    _verb(package, "list", _package_list, help="list packages").add_argument(
        "--namespace", help="only packages of this user or organisation (default: all)"
    )
    package_help = "the package: its owner and image name"
    visibility = _verb(package, "visibility", _package_visibility, help="change a package's visibility")
    visibility.add_argument("package", metavar="NAMESPACE/IMAGE", help=package_help)
    visibility.add_argument(
        "visibility", choices=("private", "internal", "public"), help="the new visibility"
    )
    grant = _verb(package, "grant", _package_grant, help="give a user or a repository's workflows a role")
    grant.add_argument("package", metavar="NAMESPACE/IMAGE", help=package_help)
    who = grant.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the user who gets the role (this or --repository)")
    who.add_argument("--repository", metavar="OWNER/NAME", help="the repository whose workflows get the role")
    grant.add_argument(
        "--role", required=True, choices=("read", "write", "admin", "none"), help="none removes the grant"
    )
    _verb(package, "grants", _package_grants, help="list a package's explicit grants").add_argument(
        "package", metavar="NAMESPACE/IMAGE", help=package_help
    )
    connect = _verb(package, "connect", _package_connect, help="connect a package to a repository")
    connect.add_argument("package", metavar="NAMESPACE/IMAGE", help=package_help)
    connect.add_argument(
        "repository", metavar="OWNER/NAME|none", help="the source repository, or none to disconnect"
    )
    inherit = _verb(package, "inherit", _package_inherit, help="inherit access from the connected repository")
    inherit.add_argument("package", metavar="NAMESPACE/IMAGE", help=package_help)
    inherit.add_argument("mode", choices=("on", "off"), help="on: the repository's access applies")


def _verb(
    parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, handler: Handler, **kwargs: Any
) -> argparse.ArgumentParser:
    parser = parent.add_parser(name, **kwargs)
    parser.set_defaults(run=lambda args: _run(handler, args))
    return parser


def _run(handler: Handler, args: argparse.Namespace) -> int:
    from reference_server.ghcr.admin import Admin

    admin = Admin(args.data or default_data_dir())
    try:
        handler(admin, args)
    finally:
        admin.close()
    return 0


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return rfc3339(timestamp)


def _table(rows: list[list[str]]) -> None:
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _user_create(admin: Admin, args: argparse.Namespace) -> None:
    print(admin.create_user(args.login).login)


def _user_list(admin: Admin, args: argparse.Namespace) -> None:
    for account in admin.users():
        print(account.login)


def _org_create(admin: Admin, args: argparse.Namespace) -> None:
    print(admin.create_org(args.login, owner=args.owner).login)


def _org_list(admin: Admin, args: argparse.Namespace) -> None:
    for account in admin.orgs():
        print(account.login)


def _member_add(admin: Admin, args: argparse.Namespace) -> None:
    admin.add_member(args.org, args.user, args.role)


def _member_remove(admin: Admin, args: argparse.Namespace) -> None:
    admin.remove_member(args.org, args.user)


def _member_list(admin: Admin, args: argparse.Namespace) -> None:
    _table([[account.login, role] for account, role in admin.members(args.org)])


def _repo_create(admin: Admin, args: argparse.Namespace) -> None:
    print(admin.create_repository(args.full_name, url=args.url, visibility=args.visibility).full_name)


def _repo_list(admin: Admin, args: argparse.Namespace) -> None:
    _table([[repo.full_name, repo.visibility, repo.url] for repo in admin.repositories(args.owner)])


def _collaborator_add(admin: Admin, args: argparse.Namespace) -> None:
    admin.add_collaborator(args.repository, args.user, args.role)


def _collaborator_remove(admin: Admin, args: argparse.Namespace) -> None:
    admin.remove_collaborator(args.repository, args.user)


def _collaborator_list(admin: Admin, args: argparse.Namespace) -> None:
    _table([[account.login, role] for account, role in admin.collaborators(args.repository)])


def _token_create(admin: Admin, args: argparse.Namespace) -> None:
    from reference_server.ghcr.admin import parse_duration

    scopes = [scope for part in args.scopes.split(",") for scope in part.split()]
    print(admin.create_token(args.user, scopes, parse_duration(args.expires_in), note=args.note).token)


def _token_revoke(admin: Admin, args: argparse.Namespace) -> None:
    admin.revoke_token(args.token)


def _token_list(admin: Admin, args: argparse.Namespace) -> None:
    rows = [["ID", "KIND", "OWNER", "SCOPES", "CREATED", "EXPIRES", "REVOKED", "NOTE"]]
    for record in admin.tokens(args.user):
        if record.user_id is not None:
            owner = admin.store.account_by_id(record.user_id).login
        elif record.repository_id is not None:
            owner = admin.store.repository_by_id(record.repository_id).full_name
        else:
            owner = "-"
        rows.append(
            [
                record.id,
                record.kind,
                owner,
                ",".join(sorted(record.scopes)),
                _when(record.created_at),
                _when(record.expires_at),
                _when(record.revoked_at),
                record.note,
            ]
        )
    _table(rows)


def _workflow_create(admin: Admin, args: argparse.Namespace) -> None:
    from reference_server.ghcr.admin import AdminError, parse_duration

    lifetime = parse_duration(args.expires_in)
    if lifetime is None:
        raise AdminError("a workflow token cannot live forever")
    print(admin.create_workflow_token(args.repository, args.permission, lifetime).token)


def _package_list(admin: Admin, args: argparse.Namespace) -> None:
    rows = []
    for package in admin.packages(args.namespace):
        repository = (
            admin.store.repository_by_id(package.repository_id).full_name if package.repository_id else "-"
        )
        rows.append([package.registry_name, package.visibility, repository])
    _table(rows)


def _package_visibility(admin: Admin, args: argparse.Namespace) -> None:
    admin.set_visibility(args.package, args.visibility)


def _package_grant(admin: Admin, args: argparse.Namespace) -> None:
    role = None if args.role == "none" else args.role
    admin.grant(args.package, role, user=args.user, repository=args.repository)


def _package_grants(admin: Admin, args: argparse.Namespace) -> None:
    _table([list(grant) for grant in admin.grants(args.package)])


def _package_connect(admin: Admin, args: argparse.Namespace) -> None:
    admin.connect(args.package, None if args.repository == "none" else args.repository)


def _package_inherit(admin: Admin, args: argparse.Namespace) -> None:
    admin.set_inherit(args.package, args.mode == "on")
