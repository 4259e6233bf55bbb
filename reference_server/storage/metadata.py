"""Registry metadata in SQLite (DATA/registry.db, WAL): repositories, blob links, manifests, tags,
upload sessions.

This module's public methods are the only way other layers (HTTP handlers, the ghcr.io model, the
admin CLI) read or change metadata; nobody touches the tables directly. Manifests by tag and by
digest are served from an in-memory cache that is dropped per repository on every write here and
wholesale when another connection (another process) committed, detected by `PRAGMA data_version`.

That check costs ~3 µs, ~10 % of a cached manifest GET. It is skipped, exactly, for a request that
had fully arrived before the last check started (REQUEST_RECEIVED_NS, set by the HTTP layer): a
write committed after that check cannot have happened-before such a request, so answering from the
state the check saw is still linearizable. Callers that do not set it (admin CLI, ghcr layer, worker
threads) check every time.
"""

from __future__ import annotations

import contextvars
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_server.transactions import begin_immediate, roll_back

SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_links (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX IF NOT EXISTS blob_links_by_digest ON blob_links (digest);
CREATE TABLE IF NOT EXISTS manifests (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    body BLOB NOT NULL,
    subject TEXT,
    artifact_type TEXT,
    annotations TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (repository, subject);
CREATE TABLE IF NOT EXISTS tags (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (repository, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags (repository, digest);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    started_at REAL NOT NULL,
    state TEXT NOT NULL,          -- open | done
    digest TEXT
);
"""

CACHE_BUDGET_BYTES = 64 * 1024 * 1024

# time.monotonic_ns() by which the current request had fully arrived (None: unknown, always check).
REQUEST_RECEIVED_NS: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "keelhaul_request_received_ns", default=None
)


@dataclass(slots=True)
class ManifestRecord:
    """One stored manifest: the exact bytes pushed plus what referrers and listings need."""

    repository: str
    digest: str
    media_type: str
    body: bytes
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    created_at: float = 0.0

    def referrer_descriptor(self) -> dict[str, object]:
        descriptor: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.body),
        }
        if self.artifact_type:
            descriptor["artifactType"] = self.artifact_type
        if self.annotations:
            descriptor["annotations"] = self.annotations
        return descriptor


@dataclass(slots=True)
class ManifestInfo:
    """A manifest as the ghcr.io layer lists it (package versions)."""

    digest: str
    media_type: str
    size: int
    created_at: float
    tags: list[str]


@dataclass(slots=True)
class DeletedManifest:
    """Everything needed to put a deleted manifest back (ghcr.io restore)."""

    record: ManifestRecord
    tags: list[str]


@dataclass(slots=True)
class RepositorySnapshot:
    """A deleted repository's metadata; blob files are never removed, so restoring is complete."""

    name: str
    created_at: float
    blob_links: list[tuple[str, int]] = field(default_factory=list)
    manifests: list[DeletedManifest] = field(default_factory=list)


@dataclass(slots=True)
class UploadRow:
    id: str
    repository: str
    started_at: float
    state: str
    digest: str | None


class _ManifestCache:
    """Manifest records by (repository, tag) and (repository, digest), bounded by total body bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.by_repository: dict[str, dict[str, ManifestRecord]] = {}

    def get(self, repository: str, key: str) -> ManifestRecord | None:
        entries = self.by_repository.get(repository)
        return entries.get(key) if entries is not None else None

    def put(self, repository: str, key: str, record: ManifestRecord) -> None:
        size = len(record.body) + 200
        if size > self.budget // 8:
            return
        if self.used + size > self.budget:
            self.clear()
        self.by_repository.setdefault(repository, {})[key] = record
        self.used += size

    def drop(self, repository: str) -> None:
        entries = self.by_repository.pop(repository, None)
        if entries:
            self.used -= sum(len(r.body) + 200 for r in entries.values())

    def clear(self) -> None:
        self.by_repository.clear()
        self.used = 0


def _record(row: sqlite3.Row | tuple[Any, ...]) -> ManifestRecord:
    repository, digest, media_type, body, subject, artifact_type, annotations, created_at = row
    return ManifestRecord(
        repository,
        digest,
        media_type,
        bytes(body),
        subject,
        artifact_type,
        json.loads(annotations) if annotations else None,
        created_at,
    )


_MANIFEST_COLUMNS = "repository, digest, media_type, body, subject, artifact_type, annotations, created_at"
# The same columns qualified for the tags-join in resolve_tag (built once, not per lookup).
_JOINED_MANIFEST_COLUMNS = ", ".join("m." + column.strip() for column in _MANIFEST_COLUMNS.split(","))


class MetadataStore:
    """All registry metadata. Thread-safe (one connection behind a lock); calls are short."""

    def __init__(self, path: Path, *, cache_budget: int = CACHE_BUDGET_BYTES) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)
        self._cache = _ManifestCache(cache_budget)
        self._data_version = self._read_data_version()
        self._checked_ns = time.monotonic_ns()  # when the last foreign-write check started
        self._own_writes = 0  # writes here that touched manifests or tags (data_version ignores ours)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- internals ---------------------------------------------------------------------------

    def _read_data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _check_foreign_writes(self) -> None:
        """Drop the cache if another connection committed (call with the lock held)."""
        received = REQUEST_RECEIVED_NS.get()
        if received is not None and received < self._checked_ns:
            return  # the request arrived before the last check began: that check covers it
        self._checked_ns = time.monotonic_ns()
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._cache.clear()

    def _write(
        self, statements: Iterable[tuple[str, tuple[Any, ...]]], repositories: Iterable[str] = ()
    ) -> None:
        with self._lock:
            conn = self._conn
            begin_immediate(conn)
            try:
                for sql, params in statements:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                roll_back(conn)
                raise
            finally:
                dropped = list(repositories)
                if dropped:
                    self._own_writes += 1
                for repository in dropped:
                    self._cache.drop(repository)

    def version(self) -> tuple[int, int]:
        """Changes whenever a manifest or tag read may answer differently: a write here that drops a
        repository from the manifest cache, or a commit by another connection (another process). For
        answers kept beyond one request (http/replay.py)."""
        with self._lock:
            self._check_foreign_writes()
            return self._data_version, self._own_writes

    @staticmethod
    def _ensure_repository(repository: str, now: float) -> tuple[str, tuple[Any, ...]]:
        return ("INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)", (repository, now))

    # -- repositories ------------------------------------------------------------------------

    def repository_exists(self, repository: str) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM repositories WHERE name = ?", (repository,)).fetchone()
        return row is not None

    def list_repositories(self, after: str | None = None, limit: int | None = None) -> list[str]:
        """Repository names in byte order, strictly after `after`, at most `limit` of them."""
        sql = "SELECT name FROM repositories WHERE name > ? ORDER BY name"
        params: tuple[Any, ...] = (after or "",)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._lock:
            return [row[0] for row in self._conn.execute(sql, params)]

    def list_repositories_in(self, namespace: str, after: str, limit: int) -> list[str]:
        """Repository names `namespace/...` after `after`, in byte order, at most `limit`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name FROM repositories WHERE name > ? AND name >= ? AND name < ? "
                "ORDER BY name LIMIT ?",
                (after, namespace + "/", namespace + "0", limit),  # "0" is the byte after "/"
            )
            return [row[0] for row in rows]

    def existing_repositories(self, names: Iterable[str]) -> set[str]:
        """Which of `names` are repositories here (one query per batch)."""
        wanted = list(dict.fromkeys(names))
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                marks = ", ".join("?" for _ in batch)
                rows = self._conn.execute(f"SELECT name FROM repositories WHERE name IN ({marks})", batch)
                found.update(row[0] for row in rows)
        return found

    def iter_repository_names(self, after: str | None = None, batch: int = 500) -> Iterable[str]:
        """All repository names in order, fetched in batches (for filtered catalog paging)."""
        cursor = after
        while True:
            names = self.list_repositories(cursor, batch)
            yield from names
            if len(names) < batch:
                return
            cursor = names[-1]

    def repository_created_at(self, repository: str) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT created_at FROM repositories WHERE name = ?", (repository,)
            ).fetchone()
        return row[0] if row else None

    def snapshot_repository(self, repository: str) -> RepositorySnapshot | None:
        """What restores a repository (links, manifests, tags), read without changing anything."""
        with self._lock:
            created_at = self.repository_created_at(repository)
            if created_at is None:
                return None
            snapshot = RepositorySnapshot(repository, created_at)
            snapshot.blob_links = [
                (row[0], row[1])
                for row in self._conn.execute(
                    "SELECT digest, size FROM blob_links WHERE repository = ?", (repository,)
                )
            ]
            for info in self.list_manifests(repository):
                record = self._load_manifest(repository, info.digest)
                if record is not None:
                    snapshot.manifests.append(DeletedManifest(record, info.tags))
            return snapshot

    def delete_repository(self, repository: str) -> RepositorySnapshot | None:
        """Remove a repository with its links, manifests and tags; return what restores it."""
        with self._lock:
            snapshot = self.snapshot_repository(repository)
            if snapshot is None:
                return None
            self._write(
                [
                    ("DELETE FROM tags WHERE repository = ?", (repository,)),
                    ("DELETE FROM manifests WHERE repository = ?", (repository,)),
                    ("DELETE FROM blob_links WHERE repository = ?", (repository,)),
                    ("DELETE FROM repositories WHERE name = ?", (repository,)),
                ],
                [repository],
            )
            return snapshot

    def restore_repository(self, snapshot: RepositorySnapshot) -> None:
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)",
                (snapshot.name, snapshot.created_at),
            )
        ]
        now = time.time()
        statements += [
            (
                "INSERT OR IGNORE INTO blob_links (repository, digest, size, created_at) VALUES (?, ?, ?, ?)",
                (snapshot.name, digest, size, now),
            )
            for digest, size in snapshot.blob_links
        ]
        for deleted in snapshot.manifests:
            statements += self._manifest_statements(deleted.record, deleted.tags, now)
        self._write(statements, [snapshot.name])

    # -- blob links --------------------------------------------------------------------------

    def link_blob(self, repository: str, digest: str, size: int) -> None:
        now = time.time()
        self._write(
            [
                self._ensure_repository(repository, now),
                (
                    "INSERT OR IGNORE INTO blob_links (repository, digest, size, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (repository, digest, size, now),
                ),
            ]
        )

    def linked_blob_size(self, repository: str, digest: str) -> int | None:
        """The blob's size when `repository` links it, else None (blob visibility = link visibility)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT size FROM blob_links WHERE repository = ? AND digest = ?", (repository, digest)
            ).fetchone()
        return row[0] if row else None

    def _rows_for_digests(
        self, select: str, repository: str, digests: Iterable[str]
    ) -> list[tuple[Any, ...]]:
        """Rows of `select` (ending in `digest IN ({marks})`) for each distinct digest, asked in
        batches of 500 so a long list stays under SQLite's bound-parameter limit."""
        wanted = list(dict.fromkeys(digests))
        rows: list[tuple[Any, ...]] = []
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows += self._conn.execute(select.format(marks=marks), (repository, *part))
        return rows

    def linked_blob_sizes(self, repository: str, digests: Iterable[str]) -> dict[str, int]:
        return dict(
            self._rows_for_digests(
                "SELECT digest, size FROM blob_links WHERE repository = ? AND digest IN ({marks})",
                repository,
                digests,
            )
        )

    def unlink_blob(self, repository: str, digest: str) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM blob_links WHERE repository = ? AND digest = ?", (repository, digest)
            )
            return cursor.rowcount > 0

    def repositories_linking(self, digest: str) -> list[str]:
        """Repositories that link `digest` (candidates for automatic mount; the caller filters)."""
        with self._lock:
            return [
                row[0]
                for row in self._conn.execute(
                    "SELECT repository FROM blob_links WHERE digest = ? ORDER BY repository", (digest,)
                )
            ]

    # -- manifests and tags ------------------------------------------------------------------

    @staticmethod
    def _manifest_statements(
        record: ManifestRecord, tags: Iterable[str], now: float
    ) -> list[tuple[str, tuple[Any, ...]]]:
        statements: list[tuple[str, tuple[Any, ...]]] = [
            MetadataStore._ensure_repository(record.repository, now),
            (
                f"INSERT INTO manifests ({_MANIFEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (repository, digest) DO NOTHING",
                (
                    record.repository,
                    record.digest,
                    record.media_type,
                    record.body,
                    record.subject,
                    record.artifact_type,
                    json.dumps(record.annotations) if record.annotations else None,
                    record.created_at or now,
                ),
            ),
        ]
        statements += [
            (
                "INSERT INTO tags (repository, tag, digest, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest,"
                " updated_at = excluded.updated_at",
                (record.repository, tag, record.digest, now),
            )
            for tag in tags
        ]
        return statements

    def put_manifest(self, record: ManifestRecord, tags: Iterable[str] = ()) -> None:
        """Store a manifest (a re-push of the same digest keeps the first row) and point `tags` at it."""
        self._write(self._manifest_statements(record, tags, time.time()), [record.repository])

    def _load_manifest(self, repository: str, digest: str) -> ManifestRecord | None:
        row = self._conn.execute(
            f"SELECT {_MANIFEST_COLUMNS} FROM manifests WHERE repository = ? AND digest = ?",
            (repository, digest),
        ).fetchone()
        return _record(row) if row else None

    def get_manifest(self, repository: str, digest: str) -> ManifestRecord | None:
        with self._lock:
            self._check_foreign_writes()
            key = "@" + digest
            record = self._cache.get(repository, key)
            if record is None:
                record = self._load_manifest(repository, digest)
                if record is not None:
                    self._cache.put(repository, key, record)
            return record

    def resolve_tag(self, repository: str, tag: str) -> ManifestRecord | None:
        with self._lock:
            self._check_foreign_writes()
            key = ":" + tag
            record = self._cache.get(repository, key)
            if record is None:
                row = self._conn.execute(
                    f"SELECT {_JOINED_MANIFEST_COLUMNS}"
                    " FROM tags t JOIN manifests m ON m.repository = t.repository AND m.digest = t.digest"
                    " WHERE t.repository = ? AND t.tag = ?",
                    (repository, tag),
                ).fetchone()
                if row is None:
                    return None
                record = _record(row)
                self._cache.put(repository, key, record)
            return record

    def manifest_sizes(self, repository: str, digests: Iterable[str]) -> dict[str, int]:
        return dict(
            self._rows_for_digests(
                "SELECT digest, length(body) FROM manifests WHERE repository = ? AND digest IN ({marks})",
                repository,
                digests,
            )
        )

    def tags_of(self, repository: str, digest: str) -> list[str]:
        with self._lock:
            return [
                row[0]
                for row in self._conn.execute(
                    "SELECT tag FROM tags WHERE repository = ? AND digest = ? ORDER BY tag",
                    (repository, digest),
                )
            ]

    def delete_manifest(self, repository: str, digest: str) -> DeletedManifest | None:
        """Remove a manifest and every tag pointing at it; None when the repository lacks it."""
        with self._lock:
            record = self._load_manifest(repository, digest)
            if record is None:
                return None
            tags = self.tags_of(repository, digest)
            self._write(
                [
                    ("DELETE FROM tags WHERE repository = ? AND digest = ?", (repository, digest)),
                    ("DELETE FROM manifests WHERE repository = ? AND digest = ?", (repository, digest)),
                ],
                [repository],
            )
            return DeletedManifest(record, tags)

    def restore_manifest(self, deleted: DeletedManifest) -> None:
        self._write(
            self._manifest_statements(deleted.record, deleted.tags, time.time()),
            [deleted.record.repository],
        )

    def delete_tag(self, repository: str, tag: str) -> bool:
        with self._lock:
            exists = self._conn.execute(
                "SELECT 1 FROM tags WHERE repository = ? AND tag = ?", (repository, tag)
            ).fetchone()
            if not exists:
                return False
            self._write(
                [("DELETE FROM tags WHERE repository = ? AND tag = ?", (repository, tag))], [repository]
            )
            return True

    def list_tags(self, repository: str, after: str | None = None, limit: int | None = None) -> list[str]:
        """Tags in byte order, strictly after `after`, at most `limit`."""
        sql = "SELECT tag FROM tags WHERE repository = ? AND tag > ? ORDER BY tag"
        params: tuple[Any, ...] = (repository, after or "")
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._lock:
            return [row[0] for row in self._conn.execute(sql, params)]

    def list_manifests(self, repository: str) -> list[ManifestInfo]:
        """Every manifest of a repository with its tags, newest first (ghcr.io package versions)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT digest, media_type, length(body), created_at FROM manifests"
                " WHERE repository = ? ORDER BY created_at DESC, digest",
                (repository,),
            ).fetchall()
            tags: dict[str, list[str]] = {}
            for tag, digest in self._conn.execute(
                "SELECT tag, digest FROM tags WHERE repository = ? ORDER BY tag", (repository,)
            ):
                tags.setdefault(digest, []).append(tag)
        return [ManifestInfo(d, mt, size, created, tags.get(d, [])) for d, mt, size, created in rows]

    def referrers(
        self, repository: str, subject: str, artifact_type: str | None = None
    ) -> list[ManifestRecord]:
        """Manifests of `repository` whose subject is `subject`, optionally with that artifact type."""
        sql = f"SELECT {_MANIFEST_COLUMNS} FROM manifests WHERE repository = ? AND subject = ?"
        params: tuple[Any, ...] = (repository, subject)
        if artifact_type is not None:
            sql += " AND artifact_type = ?"
            params += (artifact_type,)
        sql += " ORDER BY digest"
        with self._lock:
            return [_record(row) for row in self._conn.execute(sql, params)]

    # -- upload sessions ---------------------------------------------------------------------

    def create_upload(self, upload_id: str, repository: str, started_at: float) -> None:
        self._write(
            [
                (
                    "INSERT INTO uploads (id, repository, started_at, state) VALUES (?, ?, ?, 'open')",
                    (upload_id, repository, started_at),
                )
            ]
        )

    def get_upload(self, upload_id: str) -> UploadRow | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, repository, started_at, state, digest FROM uploads WHERE id = ?", (upload_id,)
            ).fetchone()
        return UploadRow(*row) if row else None

    def finish_upload(self, upload_id: str, digest: str) -> None:
        self._write([("UPDATE uploads SET state = 'done', digest = ? WHERE id = ?", (digest, upload_id))])

    def delete_upload(self, upload_id: str) -> None:
        self._write([("DELETE FROM uploads WHERE id = ?", (upload_id,))])

    def uploads_started_before(self, moment: float) -> list[str]:
        with self._lock:
            return [
                row[0] for row in self._conn.execute("SELECT id FROM uploads WHERE started_at < ?", (moment,))
            ]
