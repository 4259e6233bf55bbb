"""Accounts and tokens for every profile role on the embedded reference server.

Minted through `reference_server.ghcr.admin.Admin`, the code path behind `keelhaul admin`,
so the suite's identities are made exactly as an operator would make them:

| role         | account           | token scopes                                   |
|--------------|-------------------|------------------------------------------------|
| admin        | ci-owner (owner of the `keelhaul-ci` organisation) | read, write, delete:packages |
| writer       | ci-owner          | write:packages                                 |
| reader       | ci-owner          | read:packages                                  |
| deleter      | ci-owner          | read:packages, delete:packages                 |

reader, writer and deleter are PATs of the namespace's administrator that differ only in scopes, as in
the ghcr.io and reference example profiles (one GitHub user, one classic PAT per scope set): the
conformance checks expect a reader to pull what the writer pushed and a deleter to delete it
(AUTH-2/3/4); an organisation member without a package grant could do neither on a private package.
| other_tenant | other-tenant (own namespace `other-tenant`) | write:packages, delete:packages |
| workflow     | GITHUB_TOKEN of repository keelhaul-ci/app | write                   |
"""

from __future__ import annotations

from pathlib import Path

from keelhaul.client import Credentials
from keelhaul.profile import Role

ORG = "keelhaul-ci"
TOKEN_LIFETIME = 6 * 3600

# role -> (login, org role or None for a separate tenant, PAT scopes)
ACCOUNTS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "admin": ("ci-owner", "owner", ("read:packages", "write:packages", "delete:packages")),
    "writer": ("ci-owner", "owner", ("write:packages",)),
    "reader": ("ci-owner", "owner", ("read:packages",)),
    "deleter": ("ci-owner", "owner", ("read:packages", "delete:packages")),
    "other_tenant": ("other-tenant", None, ("write:packages", "delete:packages")),
}


def provision_roles(data_dir: Path, namespace: str = ORG) -> dict[str, Role]:
    """Create the accounts and tokens; returns each profile role with its credentials (and the
    other tenant's namespace, the workflow token's repository)."""
    from reference_server.ghcr.admin import Admin

    admin = Admin(data_dir)
    try:
        owner_login = ACCOUNTS["admin"][0]
        admin.create_user(owner_login)
        admin.create_org(namespace, owner=owner_login)
        roles: dict[str, Role] = {}
        for role, (login, org_role, scopes) in ACCOUNTS.items():
            if login != owner_login:
                admin.create_user(login)
                if org_role is not None:
                    admin.add_member(namespace, login, org_role)
            issued = admin.create_token(
                login, list(scopes), expires_in=TOKEN_LIFETIME, note=f"keelhaul check {role}"
            )
            namespace_of_role = login if role == "other_tenant" else None
            roles[role] = Role(role, Credentials(login, issued.token), namespace=namespace_of_role)
        repository = f"{namespace}/app"
        admin.create_repository(repository)
        workflow = admin.create_workflow_token(repository, "write", expires_in=TOKEN_LIFETIME)
        roles["workflow"] = Role(
            "workflow", Credentials("github-actions", workflow.token), source_repository=repository
        )
        return roles
    finally:
        admin.close()
