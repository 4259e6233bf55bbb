"""Administration of the ghcr.io model by name: the functions behind `keelhaul admin` and the test
fixtures of the conformance suite (one code path for both).

Every refusal is an `AdminError` with one line a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from keelhaul.errors import UsageError
from reference_server.ghcr.auth import credentials
from reference_server.ghcr.auth.credentials import IssuedToken
from reference_server.ghcr.auth.identity import workflow_scopes
from reference_server.ghcr.auth.permissions import ORG_ROLES, REPOSITORY_ROLES, VISIBILITIES
from reference_server.ghcr.data.callers import split_name
from reference_server.ghcr.data.labels import normalise_url
from reference_server.ghcr.data.store import (
    Account,
    AccountsStore,
    Package,
    SourceRepository,
    StoreError,
    TokenRecord,
    accounts_path,
)

DEFAULT_PAT_LIFETIME = 30 * 24 * 3600  # GitHub's default choice for a new classic token
DEFAULT_WORKFLOW_LIFETIME = 3600  # a GITHUB_TOKEN lives as long as its job (at most 24 h)
MAX_WORKFLOW_LIFETIME = 24 * 3600

# GitHub's login rule: alphanumerics and single inner hyphens, at most 39 characters.
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_REPOSITORY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_DURATION = re.compile(r"(\d+)([smhd]?)")


T = TypeVar("T")


class AdminError(UsageError):
    """A bad administrative request; printed as one line."""


def parse_duration(text: str) -> int | None:
    """`30d`, `12h`, `15m`, `90s` or plain seconds → seconds; `never` → None (no expiry)."""
    if text.strip().lower() == "never":
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise AdminError(f"not a duration: {text!r} (use e.g. 3600, 90m, 12h, 30d or never)")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


class Admin:
    """Name-based administration over one data directory's accounts database."""

    def __init__(self, data_dir: Path | None = None, *, store: AccountsStore | None = None) -> None:
        if store is None:
            if data_dir is None:
                raise ValueError("Admin needs a data directory or a store")
            try:
                store = AccountsStore(accounts_path(data_dir))
            except Exception as error:
                raise AdminError(f"cannot open {accounts_path(data_dir)}: {error}") from None
        self.store = store

    def close(self) -> None:
        self.store.close()

    def _do(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except StoreError as error:
            raise AdminError(str(error)) from None

    # -- accounts -------------------------------------------------------------------------------
    def create_user(self, login: str) -> Account:
        return self._create_account(login, "user")

    def create_org(self, login: str, owner: str | None = None) -> Account:
        owner_account = self.user(owner) if owner else None
        org = self._create_account(login, "organization")
        if owner_account is not None:
            self.store.set_member(org, owner_account, "owner")
        return org

    def _create_account(self, login: str, kind: str) -> Account:
        if not _LOGIN.fullmatch(login):
            raise AdminError(f"not a valid name: {login!r} (letters, digits and inner hyphens, at most 39)")
        return self._do(lambda: self.store.create_account(login, kind))

    def user(self, login: str) -> Account:
        return self._do(lambda: self.store.account(login, "user"))

    def org(self, login: str) -> Account:
        return self._do(lambda: self.store.account(login, "organization"))

    def users(self) -> list[Account]:
        return self.store.list_accounts("user")

    def orgs(self) -> list[Account]:
        return self.store.list_accounts("organization")

    def add_member(self, org: str, user: str, role: str = "writer") -> None:
        if role not in ORG_ROLES:
            raise AdminError(f"organisation role must be one of {', '.join(ORG_ROLES)}, not {role!r}")
        self.store.set_member(self.org(org), self.user(user), role)

    def remove_member(self, org: str, user: str) -> None:
        if not self.store.remove_member(self.org(org), self.user(user)):
            raise AdminError(f"{user} is not a member of {org}")

    def members(self, org: str) -> list[tuple[Account, str]]:
        return self.store.members(self.org(org))

    # -- source repositories ---------------------------------------------------------------------
    def create_repository(
        self, full_name: str, url: str | None = None, visibility: str = "private"
    ) -> SourceRepository:
        owner_login, _, name = full_name.partition("/")
        if not name or not _REPOSITORY_NAME.fullmatch(name) or name in {".", ".."}:
            raise AdminError(f"repository must be OWNER/NAME, not {full_name!r}")
        if visibility not in VISIBILITIES:
            raise AdminError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
        owner = self._do(lambda: self.store.account(owner_login))
        if url is None:
            url = f"https://github.com/{owner.login}/{name}"
        if not normalise_url(url) or not url.startswith(("https://", "http://")):
            raise AdminError(f"repository URL must be http(s), not {url!r}")
        return self._do(lambda: self.store.create_repository(owner, name, url, visibility))

    def repository(self, full_name: str) -> SourceRepository:
        owner_login, _, name = full_name.partition("/")
        owner = self._do(lambda: self.store.account(owner_login))
        found = self.store.find_repository(owner, name)
        if found is None:
            raise AdminError(f"no repository named {full_name!r}")
        return found

    def repositories(self, owner: str | None = None) -> list[SourceRepository]:
        if owner is None:
            return self.store.list_repositories()
        return self.store.repositories_of(self._do(lambda: self.store.account(owner)))

    def add_collaborator(self, repository: str, user: str, role: str = "read") -> None:
        if role not in REPOSITORY_ROLES:
            raise AdminError(f"repository role must be one of {', '.join(REPOSITORY_ROLES)}, not {role!r}")
        self.store.set_collaborator(self.repository(repository), self.user(user), role)

    def remove_collaborator(self, repository: str, user: str) -> None:
        if not self.store.remove_collaborator(self.repository(repository), self.user(user)):
            raise AdminError(f"{user} is not a collaborator of {repository}")

    def collaborators(self, repository: str) -> list[tuple[Account, str]]:
        return self.store.collaborators(self.repository(repository))

    # -- tokens ---------------------------------------------------------------------------------
    def create_token(
        self,
        user: str,
        scopes: list[str] | tuple[str, ...],
        expires_in: int | None = DEFAULT_PAT_LIFETIME,
        note: str = "",
    ) -> IssuedToken:
        """A personal access token (classic); the returned `.token` is the only copy of the secret."""
        account = self.user(user)
        try:
            chosen = credentials.normalise_scopes(scopes)
        except ValueError as error:
            raise AdminError(str(error)) from None
        expires_at = None if expires_in is None else self.store.clock() + expires_in
        return credentials.mint(
            self.store, kind="pat", scopes=chosen, user_id=account.id, expires_at=expires_at, note=note
        )

    def create_workflow_token(
        self, repository: str, permission: str = "write", expires_in: int = DEFAULT_WORKFLOW_LIFETIME
    ) -> IssuedToken:
        """A GITHUB_TOKEN stand-in: bound to one source repository, short-lived (≤ 24 h)."""
        repo = self.repository(repository)
        if expires_in is None or expires_in > MAX_WORKFLOW_LIFETIME:
            raise AdminError("a workflow token lives at most 24 hours")
        try:
            scopes = workflow_scopes(permission)
        except ValueError as error:
            raise AdminError(str(error)) from None
        return credentials.mint(
            self.store,
            kind="workflow",
            scopes=scopes,
            repository_id=repo.id,
            expires_at=self.store.clock() + expires_in,
            note=f"workflow {repo.full_name}",
        )

    def revoke_token(self, token_or_id: str) -> TokenRecord:
        token_id = token_or_id
        if token_or_id.startswith((credentials.PAT_PREFIX, credentials.WORKFLOW_PREFIX)):
            token_id = token_or_id[4 : 4 + credentials.ID_LENGTH]
        record = self.store.token(token_id)
        if record is None:
            raise AdminError(f"no token with id {token_id!r}")
        self.store.revoke_token(token_id)
        revoked = self.store.token(token_id)
        return record if revoked is None else revoked

    def tokens(self, user: str | None = None) -> list[TokenRecord]:
        return self.store.tokens(self.user(user) if user else None)

    # -- packages ------------------------------------------------------------------------------
    def package(self, registry_name: str) -> Package:
        parts = split_name(registry_name)
        if parts is None:
            raise AdminError(f"not a package name: {registry_name!r} (NAMESPACE/IMAGE)")
        owner = self._do(lambda: self.store.account(parts[0]))
        found = self.store.live_package(owner, parts[1])
        if found is None:
            raise AdminError(f"no package named {registry_name!r}")
        return found

    def packages(self, namespace: str | None = None) -> list[Package]:
        if namespace is None:
            return self.store.all_live_packages()
        return self.store.packages_of(self._do(lambda: self.store.account(namespace)))

    def set_visibility(self, registry_name: str, visibility: str) -> Package:
        package = self.package(registry_name)
        check_visibility(package, visibility)
        self.store.update_package(package.id, visibility=visibility)
        return self.package(registry_name)

    def grant(
        self, registry_name: str, role: str | None, *, user: str | None = None, repository: str | None = None
    ) -> None:
        """Give (or with role None, take back) a user's or a repository's workflows' role on a package."""
        if role is not None and role not in REPOSITORY_ROLES:
            raise AdminError(f"package role must be one of {', '.join(REPOSITORY_ROLES)}, not {role!r}")
        package = self.package(registry_name)
        if (user is None) == (repository is None):
            raise AdminError("grant to exactly one of a user or a repository")
        if user is not None:
            self.store.set_grant(package, "user", self.user(user).id, role)
        elif repository is not None:
            self.store.set_grant(package, "repository", self.repository(repository).id, role)

    def grants(self, registry_name: str) -> list[tuple[str, str, str]]:
        """(kind, user login or repository full name, role) for each explicit grant on a package."""
        found = []
        for kind, grantee_id, role in self.store.grants(self.package(registry_name)):
            if kind == "user":
                found.append((kind, self.store.account_by_id(grantee_id).login, role))
            else:
                found.append((kind, self.store.repository_by_id(grantee_id).full_name, role))
        return found

    def set_inherit(self, registry_name: str, inherit: bool) -> None:
        self.store.update_package(self.package(registry_name).id, inherit=int(inherit))

    def connect(self, registry_name: str, repository: str | None) -> None:
        """Connect a package to a source repository of the same owner (or disconnect with None)."""
        package = self.package(registry_name)
        if repository is None:
            self.store.update_package(package.id, repository_id=None)
            return
        repo = self.repository(repository)
        if repo.owner.id != package.owner.id:
            raise AdminError("a package connects only to a repository of the same owner")
        self.store.update_package(package.id, repository_id=repo.id)


def check_visibility(package: Package, visibility: str) -> None:
    if visibility not in VISIBILITIES:
        raise AdminError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    if visibility == "internal" and package.owner.kind != "organization":
        raise AdminError("only organisation packages can be internal")
