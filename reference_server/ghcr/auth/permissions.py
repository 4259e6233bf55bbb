"""The ghcr.io permission model as plain functions: caller × package → role → allowed actions.

One place decides; the registry routes, the token service, the REST API and the package pages all
ask here. A package that does not exist and one the caller may not see give the same result unless
the caller could create it (its own namespace), so existence never leaks to outsiders (AUTH-11).
"""

from __future__ import annotations

from enum import IntEnum

from reference_server.access import Action, CatalogCandidates
from reference_server.ghcr.auth.credentials import DELETE, READ, WRITE
from reference_server.ghcr.data.callers import Caller, split_name
from reference_server.ghcr.data.store import Account, AccountsStore, Package


class Role(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def named(cls, name: str | None) -> Role:
        return {"read": cls.READ, "write": cls.WRITE, "admin": cls.ADMIN}.get(name or "", cls.NONE)


# Organisation member roles (documented in README.md): owners administer every package of the
# organisation; writers are members who may also create packages; readers are members only.
ORG_ROLES = ("owner", "writer", "reader")
REPOSITORY_ROLES = ("read", "write", "admin")
VISIBILITIES = ("private", "internal", "public")


def may_create(store: AccountsStore, caller: Caller, namespace: Account) -> Role:
    """The role a caller gets on a package that does not exist yet in `namespace` (NONE: may not create)."""
    if caller.kind == "user" and caller.user_id is not None:
        if namespace.kind == "user":
            return Role.ADMIN if namespace.id == caller.user_id else Role.NONE
        member = store.member_role(namespace.id, caller.user_id)
        return {"owner": Role.ADMIN, "writer": Role.WRITE}.get(member or "", Role.NONE)
    if caller.kind == "workflow" and caller.repository_owner_id == namespace.id:
        return Role.WRITE  # the package is connected to the workflow's repository when created
    return Role.NONE


def package_role(store: AccountsStore, caller: Caller, package: Package) -> Role:
    """The caller's role on an existing package: grants, ownership, inheritance, visibility."""
    role = Role.NONE
    owner = package.owner
    if caller.kind == "user" and caller.user_id is not None:
        if owner.kind == "user" and owner.id == caller.user_id:
            return Role.ADMIN
        member = store.member_role(owner.id, caller.user_id) if owner.kind == "organization" else None
        if member == "owner":
            return Role.ADMIN
        role = max(role, Role.named(store.grant_role(package.id, "user", caller.user_id)))
        if package.inherit and package.repository_id is not None:
            role = max(role, Role.named(store.collaborator_role(package.repository_id, caller.user_id)))
        if package.visibility == "internal" and member is not None:
            role = max(role, Role.READ)
    elif caller.kind == "workflow" and caller.repository_id is not None:
        if package.repository_id is not None and package.repository_id == caller.repository_id:
            return Role.ADMIN  # AUTH-9: the connected repository administers the package
        role = max(role, Role.named(store.grant_role(package.id, "repository", caller.repository_id)))
        if (
            package.visibility == "internal"
            and owner.kind == "organization"
            and caller.repository_owner_id == owner.id
        ):
            role = max(role, Role.READ)
    if package.visibility == "public":
        role = max(role, Role.READ)
    return role


def role_for_name(store: AccountsStore, caller: Caller, registry_name: str) -> tuple[Role, Package | None]:
    """The caller's role on a registry repository name, whether or not its package exists yet."""
    parts = split_name(registry_name)
    if parts is None:
        return Role.NONE, None
    namespace = store.find_account(parts[0])
    if namespace is None or namespace.login.lower() != parts[0]:
        return Role.NONE, None  # namespaces are the lowercase login; anything else is nobody's
    package = store.live_package(namespace, parts[1])
    if package is None:
        return may_create(store, caller, namespace), None
    return package_role(store, caller, package), package


def actions_for(role: Role, scopes: frozenset[str], anonymous: bool) -> frozenset[Action]:
    """What a role allows, limited by the credential's scopes (AUTH-2/3/4)."""
    allowed: set[Action] = set()
    if role >= Role.READ and (anonymous or READ in scopes):
        allowed.add(Action.PULL)
    if not anonymous and role >= Role.WRITE and WRITE in scopes:
        allowed.add(Action.PUSH)
    if not anonymous and role >= Role.ADMIN and DELETE in scopes:
        allowed.add(Action.DELETE)
    return frozenset(allowed)


def allowed_actions(store: AccountsStore, caller: Caller, registry_name: str) -> frozenset[Action]:
    role, _ = role_for_name(store, caller, registry_name)
    return actions_for(role, caller.scopes, caller.is_anonymous)


def catalog_candidates(store: AccountsStore, caller: Caller, after: str, limit: int) -> CatalogCandidates:
    """A superset of the names `caller` may read after `after` (the core checks each one with
    `allowed_actions`). Mirrors the ways `package_role` grants READ: public; own or organisation
    packages (membership covers owners and `internal`); grants; a connected repository's
    collaborators or workflow. Plus whole namespaces where `may_create` grants a role, where a
    repository without a package yet (blobs pushed, no manifest) is readable too."""
    if not caller.is_anonymous and READ not in caller.scopes:
        return CatalogCandidates([])  # no token scope to read anything
    owner_ids: list[int] = []
    repository_ids: list[int] = []
    grantee: tuple[str, int] | None = None
    creators: list[int] = []
    if caller.kind == "user" and caller.user_id is not None:
        memberships = store.memberships_of(caller.user_id)
        owner_ids = [caller.user_id, *(org_id for org_id, _ in memberships)]
        creators = [caller.user_id, *(org_id for org_id, role in memberships if role in ("owner", "writer"))]
        grantee = ("user", caller.user_id)
        repository_ids = store.repositories_collaborating(caller.user_id)
    elif caller.kind == "workflow" and caller.repository_id is not None:
        owner_ids = [caller.repository_owner_id] if caller.repository_owner_id is not None else []
        creators = owner_ids
        grantee = ("repository", caller.repository_id)
        repository_ids = [caller.repository_id]
    names = store.candidate_names(
        after, limit, public=True, owner_ids=owner_ids, grantee=grantee, repository_ids=repository_ids
    )
    return CatalogCandidates(
        names, [store.account_by_id(account_id).login.lower() for account_id in creators]
    )
