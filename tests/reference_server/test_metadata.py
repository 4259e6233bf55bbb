"""The metadata store's public API, which the ghcr.io layer and the admin CLI call directly:
listing, delete/restore of manifests and repositories, and cache invalidation across processes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from reference_server.storage.metadata import ManifestRecord, MetadataStore


def _record(repo: str, digest: str, body: bytes = b"{}", subject: str | None = None) -> ManifestRecord:
    return ManifestRecord(repo, digest, "application/vnd.oci.image.manifest.v1+json", body, subject=subject)


D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_manifests_tags_and_listing(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path / "registry.db")
    store.put_manifest(_record("o/app", D1, b"one"), ["v1", "latest"])
    store.put_manifest(_record("o/app", D2, b"two"), ["v2"])
    assert store.resolve_tag("o/app", "latest").body == b"one"
    assert store.get_manifest("o/app", D2).body == b"two"
    assert store.list_tags("o/app") == ["latest", "v1", "v2"]
    assert store.list_tags("o/app", after="latest", limit=1) == ["v1"]
    infos = {info.digest: info for info in store.list_manifests("o/app")}
    assert infos[D1].tags == ["latest", "v1"] and infos[D1].size == 3
    assert infos[D2].tags == ["v2"]
    store.put_manifest(_record("o/app", D2, b"two"), ["latest"])  # the tag moves
    assert store.resolve_tag("o/app", "latest").digest == D2
    assert store.list_repositories() == ["o/app"]


def test_delete_and_restore_manifest(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path / "registry.db")
    store.put_manifest(_record("o/app", D1, b"one"), ["v1"])
    assert store.resolve_tag("o/app", "v1") is not None  # now cached
    deleted = store.delete_manifest("o/app", D1)
    assert deleted is not None and deleted.tags == ["v1"]
    assert store.resolve_tag("o/app", "v1") is None and store.get_manifest("o/app", D1) is None
    assert store.delete_manifest("o/app", D1) is None
    store.restore_manifest(deleted)
    assert store.resolve_tag("o/app", "v1").body == b"one"


def test_delete_and_restore_repository(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path / "registry.db")
    store.link_blob("o/app", D1, 10)
    store.put_manifest(_record("o/app", D2, b"m", subject=D1), ["v1"])
    snapshot = store.delete_repository("o/app")
    assert snapshot is not None
    assert not store.repository_exists("o/app")
    assert store.linked_blob_size("o/app", D1) is None
    assert store.resolve_tag("o/app", "v1") is None
    assert store.delete_repository("o/app") is None
    store.restore_repository(snapshot)
    assert store.linked_blob_size("o/app", D1) == 10
    assert store.resolve_tag("o/app", "v1").digest == D2
    assert [r.digest for r in store.referrers("o/app", D1)] == [D2]


def test_blob_links_are_per_repository(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path / "registry.db")
    store.link_blob("a/x", D1, 5)
    store.link_blob("b/y", D1, 5)
    assert store.repositories_linking(D1) == ["a/x", "b/y"]
    assert store.unlink_blob("a/x", D1) and not store.unlink_blob("a/x", D1)
    assert store.linked_blob_size("a/x", D1) is None and store.linked_blob_size("b/y", D1) == 5
    assert store.linked_blob_sizes("b/y", [D1, D2]) == {D1: 5}


def test_cache_sees_writes_from_another_connection(tmp_path: Path) -> None:
    """A running server must not serve a tag another process (the admin CLI) deleted."""
    path = tmp_path / "registry.db"
    server_side = MetadataStore(path)
    server_side.put_manifest(_record("o/app", D1, b"one"), ["v1"])
    assert server_side.resolve_tag("o/app", "v1") is not None  # cached
    other = MetadataStore(path)
    assert other.delete_tag("o/app", "v1")
    assert server_side.resolve_tag("o/app", "v1") is None
    # Even a raw write by a third connection is noticed.
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("DELETE FROM manifests")
    raw.close()
    assert server_side.get_manifest("o/app", D1) is None


def test_cache_is_bounded(tmp_path: Path) -> None:
    store = MetadataStore(tmp_path / "registry.db", cache_budget=10_000)
    for i in range(50):
        digest = f"sha256:{i:064x}"
        store.put_manifest(_record("o/app", digest, b"x" * 1000), [f"t{i}"])
        assert store.resolve_tag("o/app", f"t{i}").digest == digest
    assert store._cache.used <= 10_000


def test_failed_transaction_keeps_its_own_error_and_the_connection_usable(tmp_path: Path) -> None:
    """SQLite may roll back by itself (SQLITE_FULL); our ROLLBACK must not replace the real error,
    and a transaction a failed ROLLBACK left open must not block the next write."""
    from reference_server.transactions import begin_immediate, roll_back

    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x INTEGER)")
    roll_back(conn)  # nothing open: no "no transaction is active" error
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t VALUES (1)")
    begin_immediate(conn)  # a stale transaction is closed first
    conn.execute("INSERT INTO t VALUES (2)")
    conn.execute("COMMIT")
    assert [row[0] for row in conn.execute("SELECT x FROM t")] == [2]
