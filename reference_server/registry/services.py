"""The registry's services for one running server, and the rules that span several of them.

`Registry` bundles configuration, storage and uploads; handlers receive it. Who may see what is
not its business: where a rule needs that (mount sources), the caller passes a `may_read` check.
The manifest-reference rule lives here as a plain function so tests can call it directly.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_server.config import ServerConfig
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.grammar import try_parse_digest
from reference_server.registry.manifests import ParsedManifest
from reference_server.registry.uploads import UploadManager
from reference_server.storage.blobs import BlobStore
from reference_server.storage.metadata import MetadataStore

MAX_CONFIG_READ_BYTES = 1024 * 1024  # image configs read for the access policy's label handling
CONFIG_MEDIA_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)


@dataclass
class Registry:
    config: ServerConfig
    metadata: MetadataStore
    blobs: BlobStore
    uploads: UploadManager
    executor: concurrent.futures.ThreadPoolExecutor

    @classmethod
    def open(cls, config: ServerConfig) -> Registry:
        data_dir = Path(config.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="keelhaul-io")
        metadata = MetadataStore(data_dir / "registry.db")
        blobs = BlobStore(data_dir)
        uploads = UploadManager(
            data_dir,
            metadata,
            blobs,
            executor,
            max_layer_bytes=config.max_layer_bytes,
            timeout_seconds=config.upload_timeout_seconds,
            direct_io=config.direct_io,
        )
        return cls(config, metadata, blobs, uploads, executor)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.metadata.close()

    def readable_source(
        self, digest: str, preferred: str | None, may_read: Callable[[str], bool]
    ) -> str | None:
        """A repository the caller may read that links `digest` (for mounts), or None.

        With `preferred` (the `from` parameter) only that repository is considered; without it,
        any repository `may_read` allows (automatic mount). Never a repository the
        caller cannot read, so a mount never reveals another tenant's blob."""
        parsed = try_parse_digest(digest)
        if parsed is None or self.blobs.size(parsed) is None:
            return None
        candidates = [preferred] if preferred else self.metadata.repositories_linking(digest)
        for repository in candidates:
            if self.metadata.linked_blob_size(repository, digest) is None:
                continue
            if may_read(repository):
                return repository
        return None

    def read_config(self, parsed: ParsedManifest) -> dict[str, Any] | None:
        """The image config as JSON when the manifest has a small JSON config we store, else None."""
        if parsed.config is None or parsed.config.media_type not in CONFIG_MEDIA_TYPES:
            return None
        digest = try_parse_digest(parsed.config.digest)
        if digest is None or parsed.config.size > MAX_CONFIG_READ_BYTES:
            return None
        data = self.blobs.read_small(digest, MAX_CONFIG_READ_BYTES)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None


def check_references(metadata: MetadataStore, repository: str, parsed: ParsedManifest) -> None:
    """Every blob and child manifest a manifest names must be linked in *this* repository, with the
    size the descriptor claims. `subject` and foreign layers with `urls` are exempt.

    Missing references: 400 MANIFEST_BLOB_UNKNOWN with one error entry per digest."""
    blob_sizes = metadata.linked_blob_sizes(repository, (d.digest for d in parsed.blobs))
    child_sizes = metadata.manifest_sizes(repository, (d.digest for d in parsed.children))
    missing: list[str] = []
    for descriptor, sizes in [(d, blob_sizes) for d in parsed.blobs] + [
        (d, child_sizes) for d in parsed.children
    ]:
        size = sizes.get(descriptor.digest)
        if size is None:
            if descriptor.digest not in missing:
                missing.append(descriptor.digest)
        elif size != descriptor.size:
            raise OCIError(
                ErrorCode.MANIFEST_INVALID,
                f"descriptor size {descriptor.size} differs from the stored size {size}",
                detail={"digest": descriptor.digest},
            )
    if missing:
        message = "manifest references a blob or manifest not in this repository"
        raise OCIError(
            ErrorCode.MANIFEST_BLOB_UNKNOWN,
            message,
            detail={"digest": missing[0]},
            extra=[(ErrorCode.MANIFEST_BLOB_UNKNOWN, message, {"digest": d}) for d in missing[1:]],
        )
