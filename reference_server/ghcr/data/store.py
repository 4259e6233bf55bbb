"""The accounts database (DATA/accounts.db): who exists, who belongs where, which packages exist.

Kept apart from the registry's own metadata so the registry core never depends on the ghcr model.
SQLite in WAL mode, one connection per thread; the admin CLI may write from another process while
the server runs, and `generation()` tells the server's caches when anything changed.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reference_server.transactions import begin_immediate, roll_back

ACCOUNTS_FILE = "accounts.db"


def accounts_path(data_dir: Path) -> Path:
    """Where a data directory keeps its accounts database."""
    return Path(data_dir) / ACCOUNTS_FILE


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The row id an INSERT just made (SQLite always has one after a successful INSERT)."""
    if cursor.lastrowid is None:
        raise StoreError("the database did not report the new row's id")
    return cursor.lastrowid


SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'organization')),
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS org_members (
    org_id INTEGER NOT NULL REFERENCES accounts(id),
    user_id INTEGER NOT NULL REFERENCES accounts(id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'writer', 'reader')),
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE IF NOT EXISTS source_repositories (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL COLLATE NOCASE,
    url TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    created_at REAL NOT NULL,
    UNIQUE (owner_id, name)
);
CREATE TABLE IF NOT EXISTS repo_collaborators (
    repo_id INTEGER NOT NULL REFERENCES source_repositories(id),
    user_id INTEGER NOT NULL REFERENCES accounts(id),
    role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (repo_id, user_id)
);
CREATE TABLE IF NOT EXISTS packages (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
    repository_id INTEGER REFERENCES source_repositories(id),
    inherit INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted_at REAL,
    description TEXT,
    licenses TEXT,
    source_url TEXT,
    registry_name TEXT  -- lower(owner login) || '/' || name: the catalog's order (see _migrate)
);
CREATE UNIQUE INDEX IF NOT EXISTS packages_live_name ON packages(owner_id, name) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS package_grants (
    package_id INTEGER NOT NULL REFERENCES packages(id),
    grantee_kind TEXT NOT NULL CHECK (grantee_kind IN ('user', 'repository')),
    grantee_id INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (package_id, grantee_kind, grantee_id)
);
CREATE INDEX IF NOT EXISTS package_grants_grantee ON package_grants(grantee_kind, grantee_id);
CREATE INDEX IF NOT EXISTS org_members_user ON org_members(user_id);
CREATE INDEX IF NOT EXISTS repo_collaborators_user ON repo_collaborators(user_id);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('pat', 'workflow')),
    user_id INTEGER REFERENCES accounts(id),
    repository_id INTEGER REFERENCES source_repositories(id),
    scopes TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS pending_pushes (
    id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,  -- the registry name whose package the push may create
    caller TEXT NOT NULL,  -- the pusher (callers.Caller as JSON), for the package and its grant
    subject TEXT,
    created_at REAL NOT NULL,
    digest TEXT,  -- the manifest the push stores: landed or not decides the repair
    labels TEXT  -- the package labels the push sets (JSON), for a repair to set them too
);
CREATE TABLE IF NOT EXISTS pending_version_moves (
    id INTEGER PRIMARY KEY,
    package_id INTEGER NOT NULL REFERENCES packages(id),
    digest TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('delete', 'restore')),
    payload BLOB,  -- a delete's copy of the version, moved into trash once the registry let go of it
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trash (
    package_id INTEGER NOT NULL REFERENCES packages(id),
    digest TEXT NOT NULL,  -- '' for the whole package
    payload BLOB NOT NULL,
    deleted_at REAL NOT NULL,
    PRIMARY KEY (package_id, digest)
);
"""


# Live packages in catalog order, reachable from each way a caller can come to read one.
CATALOG_INDEXES = (
    "CREATE INDEX IF NOT EXISTS packages_visible_names ON packages(visibility, registry_name) "
    "WHERE deleted_at IS NULL",
    "CREATE INDEX IF NOT EXISTS packages_owner_names ON packages(owner_id, registry_name) "
    "WHERE deleted_at IS NULL",
    "CREATE INDEX IF NOT EXISTS packages_repository ON packages(repository_id) WHERE deleted_at IS NULL",
)


class StoreError(Exception):
    """A request the data cannot satisfy (unknown name, duplicate, bad value); one line for a person."""


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    kind: str  # user | organization
    created_at: float


@dataclass(frozen=True)
class SourceRepository:
    id: int
    owner: Account
    name: str
    url: str
    visibility: str
    created_at: float

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"


@dataclass(frozen=True)
class Package:
    id: int
    owner: Account
    name: str  # the part after the namespace: IMAGE[/more]
    visibility: str
    repository_id: int | None
    inherit: bool
    created_by: str
    created_at: float
    updated_at: float
    deleted_at: float | None
    description: str | None
    licenses: str | None
    source_url: str | None

    @property
    def registry_name(self) -> str:
        """The repository name clients use: NAMESPACE/IMAGE[/more]."""
        return f"{self.owner.login.lower()}/{self.name}"


@dataclass(frozen=True)
class TokenRecord:
    id: str
    kind: str  # pat | workflow
    user_id: int | None
    repository_id: int | None
    scopes: frozenset[str]
    secret_hash: bytes
    note: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def usable_at(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class PendingPush:
    """A push noted before the registry's commit (see PackageService.manifest_storing)."""

    id: int
    repository: str
    caller: str  # the pusher (callers.Caller as JSON), for the package and its grant
    subject: str | None
    digest: str | None  # None in rows from before digests were noted
    labels: str | None  # JSON object of label values; None as for digest


@dataclass(frozen=True)
class VersionMove:
    """A version delete or restore noted before its registry write (the commit point)."""

    id: int
    package_id: int
    digest: str
    direction: str  # delete | restore
    payload: bytes | None  # a delete's trash copy of the version; None for a restore


_process_writes = itertools.count(1)


class AccountsStore:
    """Typed access to accounts.db. Every method is one short transaction."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._local = threading.local()
        self._write_counter = 0
        self._connection().executescript(SCHEMA)  # executescript commits on its own
        self._migrate()

    # -- connection handling ---------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=True)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # few writes; a printed token must survive a crash
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; inside `atomically()` it joins the open one instead."""
        db = self._connection()
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        begin_immediate(db)
        self._local.depth = 1
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            roll_back(db)
            raise
        finally:
            self._local.depth = 0
        self._write_counter = next(_process_writes)

    def atomically(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Several store writes as one transaction: all land or none (e.g. a package and its grant)."""
        return self._transaction()

    # -- pushes in flight (see PackageService.manifest_storing) --------------------------------
    def add_pending_push(
        self, repository: str, caller: str, subject: str | None, digest: str, labels: str
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pending_pushes (repository, caller, subject, created_at, digest, labels) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (repository, caller, subject, self.clock(), digest, labels),
            )

    def pending_pushes(self) -> list[PendingPush]:
        """Each push whose manifest may have landed without its package, oldest first."""
        rows = self._connection().execute(
            "SELECT id, repository, caller, subject, digest, labels FROM pending_pushes ORDER BY id"
        )
        return [PendingPush(row[0], row[1], row[2], row[3], row[4], row[5]) for row in rows]

    def drop_pending_pushes(self, repository: str) -> None:
        """Every push into `repository` is settled (its package exists)."""
        with self._transaction() as db:
            db.execute("DELETE FROM pending_pushes WHERE repository = ?", (repository,))

    def drop_pending_push(self, push_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM pending_pushes WHERE id = ?", (push_id,))

    def _migrate(self) -> None:
        """Databases from before `packages.registry_name`: add and fill it; from before pending
        pushes kept their digest and labels: add those columns. Then the indexes that
        let the catalog walk readable names in order, page by page (CATALOG_INDEXES)."""
        db = self._connection()
        columns = {row["name"] for row in db.execute("PRAGMA table_info(packages)")}
        pending = {row["name"] for row in db.execute("PRAGMA table_info(pending_pushes)")}
        with self._transaction() as db:
            if "registry_name" not in columns:
                db.execute("ALTER TABLE packages ADD COLUMN registry_name TEXT")
            for column in ("digest", "labels"):  # pending pushes noted before these were kept
                if column not in pending:
                    db.execute(f"ALTER TABLE pending_pushes ADD COLUMN {column} TEXT")
            db.execute(
                "UPDATE packages SET registry_name = "
                "(SELECT lower(login) FROM accounts WHERE accounts.id = packages.owner_id) || '/' || name "
                "WHERE registry_name IS NULL"
            )
            for statement in CATALOG_INDEXES:
                db.execute(statement)

    def generation(self) -> tuple[int, int]:
        """Changes whenever any connection (this process or another) committed a write."""
        (data_version,) = self._connection().execute("PRAGMA data_version").fetchone()
        return data_version, self._write_counter

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- accounts ------------------------------------------------------------------------------
    def create_account(self, login: str, kind: str) -> Account:
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO accounts (login, kind, created_at) VALUES (?, ?, ?)",
                    (login, kind, self.clock()),
                )
                account_id = _inserted_id(cursor)
        except sqlite3.IntegrityError:
            raise StoreError(f"the name {login!r} is already taken") from None
        return Account(account_id, login, kind, self.clock())

    def find_account(self, login: str) -> Account | None:
        row = self._connection().execute("SELECT * FROM accounts WHERE login = ?", (login,)).fetchone()
        return _account(row) if row else None

    def account_by_id(self, account_id: int) -> Account:
        row = self._connection().execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise StoreError(f"no account with id {account_id}")
        return _account(row)

    def account(self, login: str, kind: str | None = None) -> Account:
        found = self.find_account(login)
        if found is None or (kind is not None and found.kind != kind):
            what = {"user": "user", "organization": "organisation"}.get(kind or "", "account")
            raise StoreError(f"no {what} named {login!r}")
        return found

    def list_accounts(self, kind: str) -> list[Account]:
        rows = self._connection().execute("SELECT * FROM accounts WHERE kind = ? ORDER BY login", (kind,))
        return [_account(row) for row in rows]

    # -- organisation membership ------------------------------------------------------------------
    def set_member(self, org: Account, user: Account, role: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?) "
                "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                (org.id, user.id, role),
            )

    def remove_member(self, org: Account, user: Account) -> bool:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM org_members WHERE org_id = ? AND user_id = ?", (org.id, user.id))
        return cursor.rowcount > 0

    def member_role(self, org_id: int, user_id: int) -> str | None:
        row = (
            self._connection()
            .execute("SELECT role FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))
            .fetchone()
        )
        return row["role"] if row else None

    def members(self, org: Account) -> list[tuple[Account, str]]:
        rows = self._connection().execute(
            "SELECT a.*, m.role AS member_role FROM org_members m JOIN accounts a ON a.id = m.user_id "
            "WHERE m.org_id = ? ORDER BY a.login",
            (org.id,),
        )
        return [(_account(row), row["member_role"]) for row in rows]

    # -- source repositories ----------------------------------------------------------------------
    def create_repository(self, owner: Account, name: str, url: str, visibility: str) -> SourceRepository:
        now = self.clock()
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO source_repositories (owner_id, name, url, visibility, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (owner.id, name, url, visibility, now),
                )
        except sqlite3.IntegrityError:
            raise StoreError(f"the repository {owner.login}/{name} already exists") from None
        return SourceRepository(_inserted_id(cursor), owner, name, url, visibility, now)

    def find_repository(self, owner: Account, name: str) -> SourceRepository | None:
        row = (
            self._connection()
            .execute("SELECT * FROM source_repositories WHERE owner_id = ? AND name = ?", (owner.id, name))
            .fetchone()
        )
        return (
            SourceRepository(row["id"], owner, row["name"], row["url"], row["visibility"], row["created_at"])
            if row
            else None
        )

    def repository_by_id(self, repo_id: int) -> SourceRepository:
        row = (
            self._connection()
            .execute("SELECT * FROM source_repositories WHERE id = ?", (repo_id,))
            .fetchone()
        )
        if row is None:
            raise StoreError(f"no repository with id {repo_id}")
        owner = self.account_by_id(row["owner_id"])
        return SourceRepository(
            row["id"], owner, row["name"], row["url"], row["visibility"], row["created_at"]
        )

    def repositories_of(self, owner: Account) -> list[SourceRepository]:
        rows = self._connection().execute(
            "SELECT * FROM source_repositories WHERE owner_id = ? ORDER BY name", (owner.id,)
        )
        return [
            SourceRepository(r["id"], owner, r["name"], r["url"], r["visibility"], r["created_at"])
            for r in rows
        ]

    def list_repositories(self) -> list[SourceRepository]:
        rows = self._connection().execute("SELECT id FROM source_repositories ORDER BY id").fetchall()
        return [self.repository_by_id(row["id"]) for row in rows]

    def set_collaborator(self, repo: SourceRepository, user: Account, role: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO repo_collaborators (repo_id, user_id, role) VALUES (?, ?, ?) "
                "ON CONFLICT (repo_id, user_id) DO UPDATE SET role = excluded.role",
                (repo.id, user.id, role),
            )

    def remove_collaborator(self, repo: SourceRepository, user: Account) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM repo_collaborators WHERE repo_id = ? AND user_id = ?", (repo.id, user.id)
            )
        return cursor.rowcount > 0

    def collaborator_role(self, repo_id: int, user_id: int) -> str | None:
        row = (
            self._connection()
            .execute(
                "SELECT role FROM repo_collaborators WHERE repo_id = ? AND user_id = ?", (repo_id, user_id)
            )
            .fetchone()
        )
        return row["role"] if row else None

    def collaborators(self, repo: SourceRepository) -> list[tuple[Account, str]]:
        rows = self._connection().execute(
            "SELECT a.*, c.role AS collaborator_role FROM repo_collaborators c "
            "JOIN accounts a ON a.id = c.user_id WHERE c.repo_id = ? ORDER BY a.login",
            (repo.id,),
        )
        return [(_account(row), row["collaborator_role"]) for row in rows]

    # -- packages ----------------------------------------------------------------------------------
    def live_package(self, owner: Account, name: str) -> Package | None:
        row = (
            self._connection()
            .execute(
                "SELECT * FROM packages WHERE owner_id = ? AND name = ? AND deleted_at IS NULL",
                (owner.id, name),
            )
            .fetchone()
        )
        return self._package(row, owner) if row else None

    def candidate_names(
        self,
        after: str,
        limit: int,
        *,
        public: bool,
        owner_ids: list[int],
        grantee: tuple[str, int] | None,
        repository_ids: list[int],
    ) -> list[str]:
        """Up to `limit` live package names after `after`, in byte order, that are public (when
        `public`), owned by one of `owner_ids`, granted to `grantee` or connected to one of
        `repository_ids`. Each branch walks an index in name order and SQLite merges them, so the
        work is proportional to the page, not to the number of packages."""
        live = "p.deleted_at IS NULL AND p.registry_name > ?"
        branches: list[str] = []
        params: list[object] = []
        if public:
            branches.append(
                f"SELECT p.registry_name FROM packages p WHERE p.visibility = 'public' AND {live}"
            )
            params.append(after)
        for owner_id in owner_ids:
            branches.append(f"SELECT p.registry_name FROM packages p WHERE p.owner_id = ? AND {live}")
            params += [owner_id, after]
        if grantee is not None:
            branches.append(
                "SELECT p.registry_name FROM package_grants g JOIN packages p ON p.id = g.package_id "
                f"WHERE g.grantee_kind = ? AND g.grantee_id = ? AND {live}"
            )
            params += [grantee[0], grantee[1], after]
        if repository_ids:
            marks = ", ".join("?" for _ in repository_ids)
            branches.append(
                f"SELECT p.registry_name FROM packages p WHERE p.repository_id IN ({marks}) AND {live}"
            )
            params += [*repository_ids, after]
        if not branches or limit <= 0:
            return []
        sql = " UNION ".join(branches) + " ORDER BY 1 LIMIT ?"
        return [row[0] for row in self._connection().execute(sql, (*params, limit))]

    def memberships_of(self, user_id: int) -> list[tuple[int, str]]:
        """(organisation id, role) for each organisation the user belongs to."""
        rows = self._connection().execute(
            "SELECT org_id, role FROM org_members WHERE user_id = ?", (user_id,)
        )
        return [(row[0], row[1]) for row in rows]

    def repositories_collaborating(self, user_id: int) -> list[int]:
        rows = self._connection().execute(
            "SELECT repo_id FROM repo_collaborators WHERE user_id = ?", (user_id,)
        )
        return [row[0] for row in rows]

    def package_by_id(self, package_id: int) -> Package | None:
        row = self._connection().execute("SELECT * FROM packages WHERE id = ?", (package_id,)).fetchone()
        return self._package(row) if row else None

    def deleted_packages(self, owner: Account, name: str) -> list[Package]:
        rows = self._connection().execute(
            "SELECT * FROM packages WHERE owner_id = ? AND name = ? AND deleted_at IS NOT NULL "
            "ORDER BY deleted_at DESC",
            (owner.id, name),
        )
        return [self._package(row, owner) for row in rows]

    def packages_of(self, owner: Account) -> list[Package]:
        rows = self._connection().execute(
            "SELECT * FROM packages WHERE owner_id = ? AND deleted_at IS NULL ORDER BY name", (owner.id,)
        )
        return [self._package(row, owner) for row in rows]

    def all_live_packages(self) -> list[Package]:
        rows = self._connection().execute("SELECT * FROM packages WHERE deleted_at IS NULL ORDER BY id")
        return [self._package(row) for row in rows]

    def create_package(
        self, owner: Account, name: str, visibility: str, created_by: str, repository_id: int | None = None
    ) -> Package:
        """Creates the package unless a live one of that name appeared meanwhile; returns the live one."""
        now = self.clock()
        with self._transaction() as db:
            row = db.execute(
                "SELECT * FROM packages WHERE owner_id = ? AND name = ? AND deleted_at IS NULL",
                (owner.id, name),
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO packages (owner_id, name, visibility, repository_id, inherit, created_by, "
                    "created_at, updated_at, registry_name) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
                    (
                        owner.id,
                        name,
                        visibility,
                        repository_id,
                        created_by,
                        now,
                        now,
                        f"{owner.login.lower()}/{name}",
                    ),
                )
                row = db.execute(
                    "SELECT * FROM packages WHERE owner_id = ? AND name = ? AND deleted_at IS NULL",
                    (owner.id, name),
                ).fetchone()
        return self._package(row, owner)

    def update_package(self, package_id: int, **fields: object) -> None:
        allowed = {
            "visibility",
            "repository_id",
            "inherit",
            "description",
            "licenses",
            "source_url",
            "deleted_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not package fields: {sorted(unknown)}")
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._transaction() as db:
            db.execute(
                f"UPDATE packages SET {assignments}, updated_at = ? WHERE id = ?",
                (*fields.values(), self.clock(), package_id),
            )

    def restore_package(self, package: Package) -> None:
        try:
            with self._transaction() as db:
                db.execute(
                    "UPDATE packages SET deleted_at = NULL, updated_at = ? WHERE id = ?",
                    (self.clock(), package.id),
                )
        except sqlite3.IntegrityError:
            raise StoreError("a package of that name was published since; delete it first") from None

    def set_grant(self, package: Package, grantee_kind: str, grantee_id: int, role: str | None) -> None:
        with self._transaction() as db:
            if role is None:
                db.execute(
                    "DELETE FROM package_grants WHERE package_id = ? AND grantee_kind = ? AND grantee_id = ?",
                    (package.id, grantee_kind, grantee_id),
                )
            else:
                db.execute(
                    "INSERT INTO package_grants (package_id, grantee_kind, grantee_id, role) "
                    "VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (package_id, grantee_kind, grantee_id) DO UPDATE SET role = excluded.role",
                    (package.id, grantee_kind, grantee_id, role),
                )

    def grant_role(self, package_id: int, grantee_kind: str, grantee_id: int) -> str | None:
        row = (
            self._connection()
            .execute(
                "SELECT role FROM package_grants "
                "WHERE package_id = ? AND grantee_kind = ? AND grantee_id = ?",
                (package_id, grantee_kind, grantee_id),
            )
            .fetchone()
        )
        return row["role"] if row else None

    def grants(self, package: Package) -> list[tuple[str, int, str]]:
        rows = self._connection().execute(
            "SELECT grantee_kind, grantee_id, role FROM package_grants WHERE package_id = ? "
            "ORDER BY grantee_kind, grantee_id",
            (package.id,),
        )
        return [(r["grantee_kind"], r["grantee_id"], r["role"]) for r in rows]

    # -- trash: what a deleted package or version needs to come back (kept 30 days) --------------
    def put_trash(self, package_id: int, digest: str, payload: bytes) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO trash (package_id, digest, payload, deleted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (package_id, digest) DO UPDATE SET payload = excluded.payload, "
                "deleted_at = excluded.deleted_at",
                (package_id, digest, payload, self.clock()),
            )

    def trash(self, package_id: int, digest: str) -> tuple[bytes, float] | None:
        row = (
            self._connection()
            .execute(
                "SELECT payload, deleted_at FROM trash WHERE package_id = ? AND digest = ?",
                (package_id, digest),
            )
            .fetchone()
        )
        return (bytes(row["payload"]), row["deleted_at"]) if row else None

    def trashed_digests(self, package_id: int) -> list[tuple[str, float]]:
        rows = self._connection().execute(
            "SELECT digest, deleted_at FROM trash WHERE package_id = ? AND digest != '' "
            "ORDER BY deleted_at DESC",
            (package_id,),
        )
        return [(r["digest"], r["deleted_at"]) for r in rows]

    def whole_package_trash(self) -> list[tuple[int, bool]]:
        """(package id, whether the package is live) for each whole-package trash entry."""
        rows = self._connection().execute(
            "SELECT t.package_id, p.deleted_at IS NULL FROM trash t JOIN packages p ON p.id = t.package_id "
            "WHERE t.digest = ''"
        )
        return [(row[0], bool(row[1])) for row in rows]

    def drop_trash(self, package_id: int, digest: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM trash WHERE package_id = ? AND digest = ?", (package_id, digest))

    # -- version deletes and restores in flight (see PackageService.delete_version) ---------------
    def add_version_move(self, package_id: int, digest: str, direction: str, payload: bytes | None) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO pending_version_moves (package_id, digest, direction, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (package_id, digest, direction, payload, self.clock()),
            )
        return _inserted_id(cursor)

    def version_moves(self) -> list[VersionMove]:
        """Version deletes and restores a crash may have cut between the databases, oldest first."""
        rows = self._connection().execute(
            "SELECT id, package_id, digest, direction, payload FROM pending_version_moves ORDER BY id"
        )
        return [
            VersionMove(
                row["id"],
                row["package_id"],
                row["digest"],
                row["direction"],
                None if row["payload"] is None else bytes(row["payload"]),
            )
            for row in rows
        ]

    def drop_version_move(self, move_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM pending_version_moves WHERE id = ?", (move_id,))

    # -- tokens ------------------------------------------------------------------------------------
    def insert_token(self, record: TokenRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO tokens (id, kind, user_id, repository_id, scopes, secret_hash, note, "
                "created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.kind,
                    record.user_id,
                    record.repository_id,
                    " ".join(sorted(record.scopes)),
                    record.secret_hash,
                    record.note,
                    record.created_at,
                    record.expires_at,
                    record.revoked_at,
                ),
            )

    def token(self, token_id: str) -> TokenRecord | None:
        row = self._connection().execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return _token(row) if row else None

    def tokens(self, user: Account | None = None) -> list[TokenRecord]:
        if user is None:
            rows = self._connection().execute("SELECT * FROM tokens ORDER BY created_at, id")
        else:
            rows = self._connection().execute(
                "SELECT * FROM tokens WHERE user_id = ? ORDER BY created_at, id", (user.id,)
            )
        return [_token(row) for row in rows]

    def revoke_token(self, token_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (self.clock(), token_id),
            )
        return cursor.rowcount > 0

    # -- helpers -----------------------------------------------------------------------------------
    def _package(self, row: sqlite3.Row, owner: Account | None = None) -> Package:
        return Package(
            id=row["id"],
            owner=owner or self.account_by_id(row["owner_id"]),
            name=row["name"],
            visibility=row["visibility"],
            repository_id=row["repository_id"],
            inherit=bool(row["inherit"]),
            created_by=row["created_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted_at=row["deleted_at"],
            description=row["description"],
            licenses=row["licenses"],
            source_url=row["source_url"],
        )


def _account(row: sqlite3.Row) -> Account:
    return Account(row["id"], row["login"], row["kind"], row["created_at"])


def _token(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        kind=row["kind"],
        user_id=row["user_id"],
        repository_id=row["repository_id"],
        scopes=frozenset(row["scopes"].split()),
        secret_hash=bytes(row["secret_hash"]),
        note=row["note"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
