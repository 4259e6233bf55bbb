"""Package lifecycle: created by the first push, described by labels, connected to a source
repository, deleted and restored (package or one version) within 30 days.

The registry's manifests and tags are read and changed only through the core's metadata store
(handed over through `reference_server.access`). A deleted package's or version's metadata is removed
from the registry (so nothing of it can be pulled) and kept here, in the accounts database, for restore.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reference_server.access import (
    DeletedManifest,
    ManifestInfo,
    ManifestRecord,
    MetadataStore,
    RepositorySnapshot,
    StoredManifest,
)
from reference_server.ghcr.data.callers import Caller, caller_from_json, caller_to_json, split_name
from reference_server.ghcr.data.labels import ImageLabels, normalise_url, read_labels
from reference_server.ghcr.data.store import Account, AccountsStore, Package, SourceRepository, StoreError

if TYPE_CHECKING:
    from reference_server.config import ServerConfig

RESTORE_WINDOW_SECONDS = 30 * 24 * 3600
REGISTRY_DB = "registry.db"
WHOLE_PACKAGE = ""


class RestoreError(Exception):
    """Restore refused: too late, never deleted, or the name/version was reused since."""


@dataclass(frozen=True)
class DeletedVersion:
    digest: str
    tags: list[str]
    media_type: str
    size: int
    created_at: float
    deleted_at: float


def version_id(digest: str) -> int:
    """GitHub gives versions integer ids; ours derive from the digest, so they need no table."""
    return int(digest.partition(":")[2][:12] or "0", 16)


class PackageService:
    def __init__(self, store: AccountsStore, config: ServerConfig) -> None:
        self.store = store
        self.config = config
        self._metadata: MetadataStore | None = None

    def attach(self, metadata: MetadataStore) -> None:
        """Use the running registry's own metadata store (its manifest cache stays right)."""
        self._metadata = metadata

    @property
    def metadata(self) -> MetadataStore:
        if self._metadata is None:
            self._metadata = MetadataStore(Path(self.config.data_dir) / REGISTRY_DB)
        return self._metadata

    # -- first push, labels, repository link ------------------------------------------------------
    # -- a push: the registry's commit and ours, made one outcome --------------------------------
    # The manifest is committed to registry.db by the core, the package (and an organisation
    # publisher's grant) here, in accounts.db: two databases, so no single transaction covers both
    # (README, "One push, two databases"). Order plus repair: before the core's commit a push that
    # may create a package writes a pending row; after it, one transaction here creates the package,
    # its grant and the labels and drops the row. A crash in between leaves the row, and the next
    # start completes the push (recover_pushes) or, when its manifest never landed, forgets it.

    def manifest_storing(self, caller: Caller, subject: str | None, stored: StoredManifest) -> None:
        """Before the core commits a manifest to its repository: note a push that may create its
        package, with what completing it needs (the labels too, read now from the image config)."""
        parts = split_name(stored.repository)
        owner = self.store.find_account(parts[0]) if parts else None
        if parts is None or owner is None or self.store.live_package(owner, parts[1]) is not None:
            return  # nothing here to create: a crash after the core's commit leaves nothing half-done
        labels = {} if stored.manifest.get("subject") else read_labels(stored.manifest, stored.config).values
        self.store.add_pending_push(
            stored.repository, caller_to_json(caller), subject, stored.digest, json.dumps(labels)
        )

    def manifest_stored(self, caller: Caller, subject: str | None, stored: StoredManifest) -> list[str]:
        parts = split_name(stored.repository)
        owner = self.store.find_account(parts[0]) if parts else None
        if parts is None or owner is None:
            return []
        with self.store.atomically():  # package, grant, labels and the pending row: one commit
            package = self.store.live_package(owner, parts[1])
            if package is None:
                package = self._create(caller, subject, owner, parts[1])
            self.store.drop_pending_pushes(stored.repository)
            if stored.manifest.get("subject"):
                return []  # a referrer (signature, SBOM) describes itself, not the package
            labels = read_labels(stored.manifest, stored.config)
            self._apply_labels(package, labels)
        return labels.warnings

    def _apply_labels(self, package: Package, labels: ImageLabels) -> None:
        updates: dict[str, object] = {}
        if labels.description is not None:
            updates["description"] = labels.description
        if labels.licenses is not None:
            updates["licenses"] = labels.licenses
        if labels.source is not None:
            updates["source_url"] = labels.source
            repository = self.matching_repository(package, labels.source)
            if repository is not None:
                updates["repository_id"] = repository.id  # PUSH-4: the label connects (same owner only)
        self.store.update_package(package.id, **updates)

    def recover_pushes(self) -> int:
        """At start: finish each push whose manifest landed but whose package did not (package,
        grant and the labels noted with the push); forget those whose manifest never landed (they
        leave no trace). Returns how many were finished."""
        finished = 0
        for pending in self.store.pending_pushes():
            parts = split_name(pending.repository)
            owner = self.store.find_account(parts[0]) if parts else None
            if pending.digest is None:  # noted before pushes recorded their digest
                landed = bool(self.metadata.list_manifests(pending.repository))
            else:
                landed = self.metadata.get_manifest(pending.repository, pending.digest) is not None
            with self.store.atomically():
                if landed and parts is not None and owner is not None:
                    package = self.store.live_package(owner, parts[1])
                    if package is None:
                        caller = caller_from_json(pending.caller)
                        package = self._create(caller, pending.subject, owner, parts[1])
                        finished += 1
                    # In push order, so the last landed push's labels win, as they would have.
                    self._apply_labels(package, ImageLabels(dict(json.loads(pending.labels or "{}"))))
                self.store.drop_pending_push(pending.id)
        return finished

    def _create(self, caller: Caller, subject: str | None, owner: Account, name: str) -> Package:
        repository_id = None
        visibility = "private"  # PUSH-2
        if caller.kind == "workflow" and caller.repository_id is not None:
            # A workflow's package is connected to its repository and takes its visibility.
            repository = self.store.repository_by_id(caller.repository_id)
            repository_id = repository.id
            visibility = repository.visibility
            if visibility == "internal" and owner.kind != "organization":
                visibility = "private"
        package = self.store.create_package(owner, name, visibility, subject or "unknown", repository_id)
        if (
            caller.kind == "user"
            and caller.user_id is not None
            and owner.kind == "organization"
            and package.created_by == subject
        ):
            self.store.set_grant(package, "user", caller.user_id, "admin")  # the publisher administers it
        return package

    def matching_repository(self, package: Package, source_url: str) -> SourceRepository | None:
        wanted = normalise_url(source_url)
        for repository in self.store.repositories_of(package.owner):
            if normalise_url(repository.url) == wanted:
                return repository
        return None

    # -- versions --------------------------------------------------------------------------------
    def versions(self, package: Package) -> list[ManifestInfo]:
        return self.metadata.list_manifests(package.registry_name)

    def deleted_versions(self, package: Package) -> list[DeletedVersion]:
        result = []
        now = self.store.clock()
        for digest, deleted_at in self.store.trashed_digests(package.id):
            if now - deleted_at > RESTORE_WINDOW_SECONDS:
                continue
            found = self.store.trash(package.id, digest)
            if found is None:
                continue
            deleted = _load_manifest(json.loads(found[0]))
            result.append(
                DeletedVersion(
                    digest,
                    deleted.tags,
                    deleted.record.media_type,
                    len(deleted.record.body),
                    deleted.record.created_at,
                    deleted_at,
                )
            )
        return result

    # -- one version: moved between registry.db and the trash here ------------------------------
    # The registry's write is the commit point, as for a push: a move is first noted here (a
    # pending row), then the registry drops or gets back the manifest, then one transaction here
    # settles the trash and drops the row. At start (recover_version_moves) a noted move whose
    # registry write landed is finished and one whose write did not is forgotten, so the version is
    # either wholly deleted (nothing pulls, a trash copy restores it) or wholly live.
    def delete_version(self, package: Package, digest: str) -> bool:
        """Move a version to the trash; False when the registry does not have it."""
        record = self.metadata.get_manifest(package.registry_name, digest)
        if record is None:
            return False
        copy = DeletedManifest(record, self.metadata.tags_of(package.registry_name, digest))
        payload = json.dumps(_dump_manifest(copy)).encode()
        move = self.store.add_version_move(package.id, digest, "delete", payload)
        if self.metadata.delete_manifest(package.registry_name, digest) is None:
            self.store.drop_version_move(move)  # someone else deleted it meanwhile
            return False
        self._settle_delete(package.id, digest, payload, move)
        return True

    def _settle_delete(self, package_id: int, digest: str, payload: bytes, move: int) -> None:
        with self.store.atomically():
            self.store.put_trash(package_id, digest, payload)
            self.store.update_package(package_id)  # bumps updated_at
            self.store.drop_version_move(move)

    def restore_version(self, package: Package, digest: str) -> None:
        found = self.store.trash(package.id, digest)
        if found is None or self.store.clock() - found[1] > RESTORE_WINDOW_SECONDS:
            raise RestoreError("no deleted version with that id in the last 30 days")
        if self.metadata.get_manifest(package.registry_name, digest) is not None:
            raise RestoreError("that version was published again since it was deleted")
        deleted = _load_manifest(json.loads(found[0]))
        # Tags moved to other versions meanwhile stay where they are.
        deleted.tags = [
            tag for tag in deleted.tags if self.metadata.resolve_tag(package.registry_name, tag) is None
        ]
        move = self.store.add_version_move(package.id, digest, "restore", None)
        self.metadata.restore_manifest(deleted)
        self._settle_restore(package.id, digest, move)

    def _settle_restore(self, package_id: int, digest: str, move: int) -> None:
        with self.store.atomically():
            self.store.drop_trash(package_id, digest)
            self.store.update_package(package_id)
            self.store.drop_version_move(move)

    def recover_version_moves(self) -> int:
        """At start: finish each version delete or restore whose registry write landed, forget
        each whose write did not. Returns how many were finished."""
        finished = 0
        for move in self.store.version_moves():
            package = self.store.package_by_id(move.package_id)
            present = package is not None and (
                self.metadata.get_manifest(package.registry_name, move.digest) is not None
            )
            if move.direction == "delete" and not present and move.payload is not None:
                self._settle_delete(move.package_id, move.digest, move.payload, move.id)
                finished += 1
            elif move.direction == "restore" and present:
                self._settle_restore(move.package_id, move.digest, move.id)
                finished += 1
            else:
                self.store.drop_version_move(move.id)  # the registry never saw it: no trace
        return finished

    # -- whole packages --------------------------------------------------------------------------
    # Delete and restore touch both databases too; their order leaves every crash repairable by
    # recover_package_moves at the next start. Delete: the trash entry and the deleted mark commit
    # first (one accounts transaction, the registry's data copied into it), then the registry data
    # goes. Restore: the package is live again first, then the registry data returns, then the
    # trash entry goes. A deleted package whose registry data is still there, or a live package
    # with a whole-package trash entry, is therefore a move a crash cut short.
    def delete_package(self, package: Package) -> None:
        snapshot = self.metadata.snapshot_repository(package.registry_name)
        payload = _dump_snapshot(snapshot) if snapshot is not None else None
        with self.store.atomically():
            self.store.put_trash(package.id, WHOLE_PACKAGE, json.dumps(payload).encode())
            self.store.update_package(package.id, deleted_at=self.store.clock())
        self.metadata.delete_repository(package.registry_name)

    def restore_package(self, package: Package) -> None:
        found = self.store.trash(package.id, WHOLE_PACKAGE)
        if package.deleted_at is None or found is None:
            raise RestoreError("that package is not deleted")
        if self.store.clock() - package.deleted_at > RESTORE_WINDOW_SECONDS:
            raise RestoreError("the package was deleted more than 30 days ago")
        if self.store.live_package(package.owner, package.name) is not None:
            raise RestoreError("a package of that name was published since; delete it first")
        try:
            self.store.restore_package(package)
        except StoreError as error:
            raise RestoreError(str(error)) from None
        self._finish_restore(package.id, found[0])

    def _finish_restore(self, package_id: int, payload: bytes) -> None:
        snapshot = json.loads(payload)
        if snapshot is not None:
            self.metadata.restore_repository(_load_snapshot(snapshot))  # idempotent
        self.store.drop_trash(package_id, WHOLE_PACKAGE)

    def recover_package_moves(self) -> int:
        """At start: finish package deletes and restores a crash cut between the databases.
        Returns how many were finished."""
        finished = 0
        for package_id, live in self.store.whole_package_trash():
            package = self.store.package_by_id(package_id)
            found = self.store.trash(package_id, WHOLE_PACKAGE)
            if package is None or found is None:
                continue
            if live:  # restored in accounts.db, maybe not yet in registry.db
                self._finish_restore(package_id, found[0])
                finished += 1
                continue
            # Deleted in accounts.db; its registry data may still be there (unless the name was
            # taken by a new package since).
            name_free = self.store.live_package(package.owner, package.name) is None
            if name_free and self.metadata.list_manifests(package.registry_name):
                self.metadata.delete_repository(package.registry_name)
                finished += 1
        return finished


def _dump_record(record: ManifestRecord) -> dict[str, object]:
    return {
        "repository": record.repository,
        "digest": record.digest,
        "media_type": record.media_type,
        "body": base64.b64encode(record.body).decode("ascii"),
        "subject": record.subject,
        "artifact_type": record.artifact_type,
        "annotations": record.annotations,
        "created_at": record.created_at,
    }


def _load_record(data: dict[str, Any]) -> ManifestRecord:
    return ManifestRecord(
        data["repository"],
        data["digest"],
        data["media_type"],
        base64.b64decode(data["body"]),
        data["subject"],
        data["artifact_type"],
        data["annotations"],
        data["created_at"],
    )


def _dump_manifest(deleted: DeletedManifest) -> dict[str, object]:
    return {"record": _dump_record(deleted.record), "tags": deleted.tags}


def _load_manifest(data: dict[str, Any]) -> DeletedManifest:
    return DeletedManifest(_load_record(data["record"]), list(data["tags"]))


def _dump_snapshot(snapshot: RepositorySnapshot) -> dict[str, object]:
    return {
        "name": snapshot.name,
        "created_at": snapshot.created_at,
        "blob_links": [list(link) for link in snapshot.blob_links],
        "manifests": [_dump_manifest(m) for m in snapshot.manifests],
    }


def _load_snapshot(data: dict[str, Any]) -> RepositorySnapshot:
    return RepositorySnapshot(
        data["name"],
        data["created_at"],
        [(digest, size) for digest, size in data["blob_links"]],
        [_load_manifest(m) for m in data["manifests"]],
    )
