"""The seeded defects: each one a real registry bug (see shared/research/registry-failure-modes.md and the
OCI/ghcr.io issue texts), the requirement IDs it breaks, and how it is injected (hooks.py).

A defect is registered with `@defect(...)` on a function that receives the Injection. Requirement IDs
must exist in conformance/requirements.toml (tests/mutation checks it).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web

from reference_server.access import Action, Endpoint, Route
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.storage.blobs import Digest

from .hooks import Handler, Injection, is_endpoint, replace_response, rewrite, route_of


@dataclass(frozen=True)
class Defect:
    name: str
    summary: str
    requirements: tuple[str, ...]
    modelled_on: str
    needs_auth: bool
    inject: Callable[[Injection], None]


DEFECTS: dict[str, Defect] = {}


def defect(
    name: str, summary: str, *, requirements: tuple[str, ...], modelled_on: str, needs_auth: bool = False
):
    def register(inject: Callable[[Injection], None]) -> Callable[[Injection], None]:
        assert name not in DEFECTS, name
        DEFECTS[name] = Defect(name, summary, requirements, modelled_on, needs_auth, inject)
        return inject

    return register


MANIFEST_TYPES_WITH_INDEX = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
DESCRIPTION = "org.opencontainers.image.description"


# ---- blobs and uploads --------------------------------------------------------------------------------
@defect(
    "accept-wrong-blob-digest",
    "the closing PUT stores the bytes under whatever digest the client claims",
    requirements=("OCI-PUSH-19",),
    modelled_on="distribution's 'bad layer push' test; artifact-keeper#3116 (digest never compared)",
)
def accept_wrong_blob_digest(injection: Injection) -> None:
    """Through public parts only: finish the session under the digest its bytes really have, then
    store and link the same bytes under the claimed digest as well."""
    registry = injection.registry
    uploads, blobs, metadata = registry.uploads, registry.blobs, registry.metadata
    injection.require(uploads, "executor", callable_=False)
    injection.require(blobs, "commit")

    def make(original: Callable) -> Callable:
        async def finish(session: Any, digest: Digest) -> int:
            loop = asyncio.get_running_loop()
            actual = await loop.run_in_executor(uploads.executor, _file_hex, session.path, digest.algorithm)
            if actual == digest.hex:
                return await original(session, digest)
            real = Digest(digest.algorithm, actual)
            size = await original(session, real)
            copy = uploads.dir / f"tmp-defect-{session.id}"
            await loop.run_in_executor(uploads.executor, shutil.copyfile, blobs.path(real), copy)
            await loop.run_in_executor(uploads.executor, blobs.commit, copy, digest)
            metadata.link_blob(session.repository, str(digest), size)
            metadata.finish_upload(session.id, str(digest))
            return size

        return finish

    injection.patch(uploads, "finish", make)


def _file_hex(path: Any, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            hasher.update(block)
    return hasher.hexdigest()


@defect(
    "serve-foreign-blob",
    "a blob is served from any repository once any repository holds it (no per-repository link check)",
    requirements=("OCI-PULL-7", "AUTH-10", "AUTH-5"),
    modelled_on="openshift/origin#9755 'registry allows to serve any blob user wants'; zot CVE-2024-39897",
)
def serve_foreign_blob(injection: Injection) -> None:
    metadata = injection.registry.metadata
    injection.require(metadata, "repositories_linking")

    def make(original: Callable) -> Callable:
        def linked_blob_size(repository: str, digest: str) -> int | None:
            size = original(repository, digest)
            if size is None:
                for other in metadata.repositories_linking(digest):
                    size = original(other, digest)
                    if size is not None:
                        break
            return size

        return linked_blob_size

    injection.patch(metadata, "linked_blob_size", make)


@defect(
    "blob-delete-keeps-serving",
    "DELETE of a blob answers 202 but the blob stays downloadable",
    requirements=("OCI-MGMT-3",),
    modelled_on="distribution CVE-2026-35172 / #4269: a descriptor cache resurrected deleted blobs",
)
def blob_delete_keeps_serving(injection: Injection) -> None:
    metadata = injection.registry.metadata

    def make(original: Callable) -> Callable:
        def unlink_blob(repository: str, digest: str) -> bool:
            return metadata.linked_blob_size(repository, digest) is not None

        return unlink_blob

    injection.patch(metadata, "unlink_blob", make)


@defect(
    "mount-without-source-check",
    "a cross-repository mount links the blob without checking the caller may read the source",
    requirements=("AUTH-10", "AUTH-5"),
    modelled_on="zot CVE-2024-39897 (global dedupe cache); Gitea CVE-2026-117685 (mount source unchecked)",
    needs_auth=True,
)
def mount_without_source_check(injection: Injection) -> None:
    injection.ghcr_policy()
    metadata = injection.registry.metadata

    def make(original: Callable) -> Callable:
        def readable_source(digest: str, preferred: str | None, may_read: Any) -> str | None:
            candidates = [preferred] if preferred else metadata.repositories_linking(digest)
            for repository in candidates:
                if repository and metadata.linked_blob_size(repository, digest) is not None:
                    return repository
            return None

        return readable_source

    injection.patch(injection.registry, "readable_source", make)


@defect(
    "upload-session-any-repository",
    "an upload session id is honoured under any repository's path (sessions not scoped to their repository)",
    requirements=("AUTH-10", "OCI-NEG-UPLOAD-1"),
    modelled_on="Quay CVE-2026-32589: blob-upload IDOR across repositories and tenants",
    needs_auth=True,
)
def upload_session_any_repository(injection: Injection) -> None:
    injection.ghcr_policy()
    uploads = injection.registry.uploads

    def make(original: Callable) -> Callable:
        def session(repository: str, upload_id: str, *, allow_done: bool = False) -> Any:
            try:
                row = uploads.metadata.get_upload(upload_id)
            except Exception:
                row = None
            owner = row.repository if row is not None else repository
            return original(owner, upload_id, allow_done=allow_done)

        return session

    injection.patch(uploads, "session", make)


@defect(
    "ignore-upload-expiry",
    "upload sessions never expire",
    requirements=("LIM-2",),
    modelled_on="distribution: a missing `startedat` made PurgeUploads treat a session as never expiring",
)
def ignore_upload_expiry(injection: Injection) -> None:
    injection.set_value(injection.registry.uploads, "timeout_seconds", 10.0**9)


@defect(
    "ignore-layer-limit",
    "blobs over the declared per-layer limit are accepted",
    requirements=("LIM-1",),
    modelled_on="zot before commit 934b22d1 / 35c29b95: no body limits (unbounded uploads)",
)
def ignore_layer_limit(injection: Injection) -> None:
    injection.set_value(injection.registry.uploads, "max_layer_bytes", 1 << 62)


@defect(
    "chunk-out-of-order-202",
    "an out-of-order or repeated chunk is answered 202 instead of 416",
    requirements=("OCI-PUSH-6", "OCI-PUSH-7"),
    modelled_on="distribution 2.8 (Debian docker-registry): out-of-order/repeated chunks get 202, not 416",
)
def chunk_out_of_order_202(injection: Injection) -> None:
    async def accept_any_chunk(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "PATCH" and response.status == 416 and is_endpoint(request, Endpoint.UPLOAD):
            return replace_response(
                response, 202, b"", "text/plain", ("Location", "Range", "Docker-Upload-UUID")
            )
        return response

    injection.middleware(accept_any_chunk)


@defect(
    "upload-status-404",
    "GET on a live upload session answers 404 instead of 204 with its Range",
    requirements=("OCI-PUSH-8",),
    modelled_on="distribution 2.8: GET on an upload by its first Location answers 404 BLOB_UPLOAD_UNKNOWN",
)
def upload_status_404(injection: Injection) -> None:
    async def lose_status(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "GET" and response.status == 204 and is_endpoint(request, Endpoint.UPLOAD):
            error = OCIError(ErrorCode.BLOB_UPLOAD_UNKNOWN)
            return replace_response(response, 404, error.body(), "application/json")
        return response

    injection.middleware(lose_status)


@defect(
    "upload-range-off-by-one",
    "upload answers report `Range: 0-<offset>` (one byte too many), so clients resume at the wrong place",
    requirements=("OCI-PUSH-5", "OCI-PUSH-8"),
    modelled_on="an inclusive/exclusive mix-up in the upload Range (distribution reports 0-<offset-1>)",
)
def upload_range_off_by_one(injection: Injection) -> None:
    async def shift_range(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        value = response.headers.get("Range")
        if value and is_endpoint(request, Endpoint.UPLOAD, Endpoint.UPLOADS) and value.startswith("0-"):
            end = value[2:]
            if end.isdigit() and not (response.status == 202 and request.method == "POST"):
                response.headers["Range"] = f"0-{int(end) + 1}"
        return response

    injection.middleware(shift_range)


@defect(
    "ignore-range",
    "blob GET ignores the Range header and always sends the whole blob with 200",
    requirements=("OCI-PULL-8",),
    modelled_on="registries behind proxies that drop Range; distribution-spec conformance 'Range' checks",
)
def ignore_range(injection: Injection) -> None:
    async def drop_range(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "Range" in request.headers and is_endpoint(request, Endpoint.BLOB):
            request = rewrite(request, drop_headers=("Range",))
            response = await handler(request)
            await response.prepare(request)  # a FileResponse reads Range when prepared: use the copy
            return response
        return await handler(request)

    injection.middleware(drop_range)


# ---- manifests ------------------------------------------------------------------------------------------
@defect(
    "drop-content-digest",
    "manifest and blob answers carry no Docker-Content-Digest",
    requirements=("PULL-2",),
    modelled_on="registries/CDNs stripping Docker-Content-Digest: containerd cannot resolve tags by HEAD",
)
def drop_content_digest(injection: Injection) -> None:
    async def strip_digest(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers.popall("Docker-Content-Digest", None)
        return response

    injection.middleware(strip_digest)


@defect(
    "wrong-content-digest",
    "manifest answers report the digest of a re-serialised manifest, not of the bytes served",
    requirements=("PULL-2", "OCI-PULL-3", "OCI-PUSH-12"),
    modelled_on="schema1 'signed manifest' digests computed over a canonical payload, not the bytes served",
)
def wrong_content_digest(injection: Injection) -> None:
    async def canonical_digest(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if "Docker-Content-Digest" in response.headers and is_endpoint(request, Endpoint.MANIFEST):
            seed = response.headers["Docker-Content-Digest"].encode() + b"\n"
            response.headers["Docker-Content-Digest"] = "sha256:" + hashlib.sha256(seed).hexdigest()
        return response

    injection.middleware(canonical_digest)


@defect(
    "manifest-reserialized",
    "manifests are re-encoded (compact JSON, sorted keys) instead of served byte-exact",
    requirements=("OCI-PUSH-14", "OCI-PULL-1", "FMT-1", "FMT-2", "PULL-1"),
    modelled_on="registries converting/re-encoding manifests (schema1/schema2 conversion on pull)",
)
def manifest_reserialized(injection: Injection) -> None:
    async def reencode(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.method == "GET" and response.status == 200 and is_endpoint(request, Endpoint.MANIFEST):
            body = getattr(response, "body", None)
            if isinstance(body, bytes):
                try:
                    document = json.loads(body)
                except ValueError:
                    return response
                response.body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        return response

    injection.middleware(reencode)


@defect(
    "wrong-manifest-content-type",
    "manifests are served as application/json instead of their media type",
    requirements=("OCI-PULL-9",),
    modelled_on="static-file and object-store registries serving manifests as application/json",
)
def wrong_manifest_content_type(injection: Injection) -> None:
    async def plain_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 200 and is_endpoint(request, Endpoint.MANIFEST):
            response.headers["Content-Type"] = "application/json"
        return response

    injection.middleware(plain_json)


@defect(
    "accept-wrong-manifest-digest",
    "a manifest PUT by digest is stored under the body's real digest even when the URL names another",
    requirements=("OCI-NEG-DIGEST-2",),
    modelled_on="artifact-keeper#3116: manifest PUT by digest never compared with the body hash",
)
def accept_wrong_manifest_digest(injection: Injection) -> None:
    async def ignore_url_digest(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if (
            request.method == "PUT"
            and route is not None
            and route.endpoint is Endpoint.MANIFEST
            and route.argument.startswith("sha256:")
        ):
            body = await request.read()
            actual = "sha256:" + hashlib.sha256(body).hexdigest()
            if actual != route.argument:
                path = request.raw_path.split("?", 1)[0].rsplit("/", 1)[0] + "/" + actual
                url = request.rel_url.with_path(path)
                request = request.clone(rel_url=url.with_query(request.rel_url.query))
                request._payload = _Replay(body)
        return await handler(request)

    injection.middleware(ignore_url_digest)


class _Replay:
    """A consumed request body, readable once more through the StreamReader calls the core makes."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    async def readany(self) -> bytes:
        body, self._body = self._body, b""
        return body

    async def read(self, n: int = -1) -> bytes:
        return await self.readany()

    async def readchunk(self) -> tuple[bytes, bool]:
        return await self.readany(), False

    def at_eof(self) -> bool:
        return not self._body


@defect(
    "no-manifest-size-limit",
    "manifests of any size are accepted (no 413 past the declared limit)",
    requirements=("LIM-3", "OCI-PUSH-18"),
    modelled_on="distribution CVE-2017-11468; zot before commit 35c29b95: unbounded manifest reads",
)
def no_manifest_size_limit(injection: Injection) -> None:
    registry = injection.registry
    injection.require(registry, "config", callable_=False)
    registry.config = dataclasses.replace(registry.config, max_manifest_bytes=1 << 40)
    injection.changes.append("registry.config.max_manifest_bytes = 2**40")


@defect(
    "docker-manifest-rejected",
    "Docker Image Manifest V2 Schema 2 and manifest lists are refused (OCI types only)",
    requirements=("FMT-1",),
    modelled_on="OCI-only registries refusing Docker media types",
)
def docker_manifest_rejected(injection: Injection) -> None:
    async def oci_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        content_type = request.headers.get("Content-Type", "")
        if (
            request.method == "PUT"
            and "vnd.docker.distribution" in content_type
            and is_endpoint(request, Endpoint.MANIFEST)
        ):
            raise OCIError(ErrorCode.MANIFEST_INVALID, "unsupported manifest media type")
        return await handler(request)

    injection.middleware(oci_only)


@defect(
    "drop-oci-subject-header",
    "a manifest PUT with a subject gets no OCI-Subject header",
    requirements=("OCI-PUSH-21",),
    modelled_on="distribution 2.8: no referrers API and no OCI-Subject (OCI v1.1 conformance failures)",
)
def drop_oci_subject_header(injection: Injection) -> None:
    async def strip_subject(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers.popall("OCI-Subject", None)
        return response

    injection.middleware(strip_subject)


@defect(
    "lose-subject",
    "the `subject` of a pushed manifest is dropped: referrers never list it",
    requirements=("OCI-DISC-8", "OCI-DISC-10", "OCI-PUSH-21"),
    modelled_on="registries predating OCI v1.1 that store manifests without indexing `subject`",
)
def lose_subject(injection: Injection) -> None:
    def make(original: Callable) -> Callable:
        def put_manifest(record: Any, tags: Any = ()) -> None:
            return original(dataclasses.replace(record, subject=None), tags)

        return put_manifest

    injection.patch(injection.registry.metadata, "put_manifest", make)
    drop_oci_subject_header(injection)


# ---- tags, deletes, discovery ---------------------------------------------------------------------------
@defect(
    "keep-tags-after-manifest-delete",
    "deleting a manifest leaves its tags listed and resolving",
    requirements=("OCI-MGMT-2",),
    modelled_on="distribution#4269/#4569: caches (a second metadata store) kept deleted content alive",
)
def keep_tags_after_manifest_delete(injection: Injection) -> None:
    metadata = injection.registry.metadata
    injection.require(metadata, "tags_of")
    ghosts: dict[str, dict[str, Any]] = {}

    def make_delete(original: Callable) -> Callable:
        def delete_manifest(repository: str, digest: str) -> Any:
            deleted = original(repository, digest)
            if deleted is not None:
                for tag in deleted.tags:
                    ghosts.setdefault(repository, {})[tag] = deleted.record
            return deleted

        return delete_manifest

    def make_list(original: Callable) -> Callable:
        def list_tags(repository: str, after: str | None = None, limit: int | None = None) -> list[str]:
            tags = set(original(repository, after, None)) | {
                t for t in ghosts.get(repository, {}) if after is None or t > after
            }
            ordered = sorted(tags)
            return ordered if limit is None else ordered[:limit]

        return list_tags

    def make_resolve(original: Callable) -> Callable:
        def resolve_tag(repository: str, tag: str) -> Any:
            found = original(repository, tag)
            return found if found is not None else ghosts.get(repository, {}).get(tag)

        return resolve_tag

    injection.patch(metadata, "delete_manifest", make_delete)
    injection.patch(metadata, "list_tags", make_list)
    injection.patch(metadata, "resolve_tag", make_resolve)


@defect(
    "tag-delete-deletes-manifest",
    "DELETE of a tag deletes the whole manifest and every other tag pointing at it",
    requirements=("OCI-MGMT-1",),
    modelled_on="registries implementing untag as manifest delete (distribution before tag-delete support)",
)
def tag_delete_deletes_manifest(injection: Injection) -> None:
    metadata = injection.registry.metadata

    def make(original: Callable) -> Callable:
        def delete_tag(repository: str, tag: str) -> bool:
            record = metadata.resolve_tag(repository, tag)
            if record is None:
                return original(repository, tag)
            return metadata.delete_manifest(repository, record.digest) is not None

        return delete_tag

    injection.patch(metadata, "delete_tag", make)


@defect(
    "tag-not-moved",
    "re-pushing an existing tag keeps it on the old manifest",
    requirements=("OCI-PUSH-20",),
    modelled_on="stale tag caches after a re-push (failure-modes lesson 9: caches are a 2nd metadata store)",
)
def tag_not_moved(injection: Injection) -> None:
    metadata = injection.registry.metadata

    def make(original: Callable) -> Callable:
        def put_manifest(record: Any, tags: Any = ()) -> None:
            fresh = [t for t in tags if metadata.resolve_tag(record.repository, t) is None]
            return original(record, fresh)

        return put_manifest

    injection.patch(metadata, "put_manifest", make)


@defect(
    "tags-unsorted",
    "tag lists come in reverse order",
    requirements=("OCI-DISC-2",),
    modelled_on="registries listing tags in storage/insertion order instead of lexical order",
)
def tags_unsorted(injection: Injection) -> None:
    def make(original: Callable) -> Callable:
        def list_tags(repository: str, after: str | None = None, limit: int | None = None) -> list[str]:
            return list(reversed(original(repository, after, limit)))

        return list_tags

    injection.patch(injection.registry.metadata, "list_tags", make)


@defect(
    "ignore-pagination",
    "tag and catalog listings ignore `n` and `last`",
    requirements=("OCI-DISC-3", "OCI-DISC-4", "OCI-DISC-5"),
    modelled_on="distribution 2.8 (Debian docker-registry): tag listing ignores n and last",
)
def ignore_pagination(injection: Injection) -> None:
    async def drop_paging(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_endpoint(request, Endpoint.TAGS, Endpoint.CATALOG):
            request = rewrite(request, drop_query=("n", "last"))
        return await handler(request)

    injection.middleware(drop_paging)


@defect(
    "no-link-header",
    "tag and catalog pages are cut to 2 entries whatever `n` asks, with no Link header to the rest",
    requirements=("OCI-DISC-3", "OCI-DISC-6"),
    modelled_on="registries clamping `n` silently (spec: fewer than n only with a Link; cf. CVE-2023-2253)",
)
def no_link_header(injection: Injection) -> None:
    async def clamp_silently(request: web.Request, handler: Handler) -> web.StreamResponse:
        paged = is_endpoint(request, Endpoint.TAGS, Endpoint.CATALOG)
        n = request.query.get("n", "")
        if paged and n.isdigit() and int(n) > 2:
            request = rewrite(request, drop_query=("n",), add_query={"n": "2"})
        response = await handler(request)
        if paged:
            response.headers.popall("Link", None)
        return response

    injection.middleware(clamp_silently)


@defect(
    "referrers-404-unknown-subject",
    "the referrers API answers 404 for a subject nothing refers to",
    requirements=("OCI-DISC-7", "OCI-DISC-10"),
    modelled_on="pre-1.1 registries answering 404 on /referrers (clients then fall back to tag schema)",
)
def referrers_404_unknown_subject(injection: Injection) -> None:
    async def empty_is_missing(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 200 and is_endpoint(request, Endpoint.REFERRERS):
            body = getattr(response, "body", None)
            if isinstance(body, bytes) and not json.loads(body).get("manifests"):
                error = OCIError(ErrorCode.MANIFEST_UNKNOWN)
                return replace_response(response, 404, error.body(), "application/json")
        return response

    injection.middleware(empty_is_missing)


@defect(
    "referrers-filter-ignored",
    "referrers claim `OCI-Filters-Applied: artifactType` but list every artifact type",
    requirements=("OCI-DISC-9",),
    modelled_on="registries advertising filtering they do not do (distribution-spec v1.1 conformance)",
)
def referrers_filter_ignored(injection: Injection) -> None:
    async def unfiltered(request: web.Request, handler: Handler) -> web.StreamResponse:
        filtered = "artifactType" in request.query and is_endpoint(request, Endpoint.REFERRERS)
        if filtered:
            request = rewrite(request, drop_query=("artifactType",))
        response = await handler(request)
        if filtered:
            response.headers["OCI-Filters-Applied"] = "artifactType"
        return response

    injection.middleware(unfiltered)


@defect(
    "bad-input-500-text",
    "bad input (malformed digest, name, Content-Range, manifest) gets a 500 with a text body",
    requirements=("OCI-ERR-2", "OCI-ERR-1"),
    modelled_on="distribution: unparsable Content-Range and bad Content-Type answered 500 UNKNOWN",
)
def bad_input_500_text(injection: Injection) -> None:
    async def crash_on_bad_input(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 400 and request.path.startswith("/v2"):
            return replace_response(response, 500, b"internal server error", "text/plain")
        return response

    injection.middleware(crash_on_bad_input)


# ---- ghcr.io model: tokens, permissions, visibility, labels --------------------------------------------
def _widen(injection: Injection, *actions: Action, when: Callable[[Any, Any, str], bool]) -> None:
    """Let `actions` through when `when(policy, principal, repository)` holds, skipping token scopes."""
    policy = injection.ghcr_policy()
    injection.require(policy, "allowed")

    def make(original: Callable) -> Callable:
        def authorize(request: web.Request, route: Route, principal: Any, wanted: Action) -> None:
            repository = route.name
            if wanted in actions and when(policy, principal, repository):
                return None
            return original(request, route, principal, wanted)

        return authorize

    injection.patch(policy, "authorize", make)


def _can_pull(policy: Any, principal: Any, repository: str) -> bool:
    caller = principal.caller
    return (
        caller is not None
        and not principal.is_anonymous
        and Action.PULL in policy.allowed(caller, repository)
    )


@defect(
    "reader-can-push",
    "a token with read:packages may push to packages it can read",
    requirements=("AUTH-2",),
    modelled_on="gitlab#31599: token scopes not checked at the registry (read-only deploy tokens pushed)",
    needs_auth=True,
)
def reader_can_push(injection: Injection) -> None:
    _widen(injection, Action.PUSH, when=_can_pull)


@defect(
    "reader-can-delete",
    "a token with read:packages may delete in packages it can read",
    requirements=("AUTH-2", "AUTH-4"),
    modelled_on="zot CVE-2026-61833 (DELETE not mapped to its own action) combined with gitlab#31599",
    needs_auth=True,
)
def reader_can_delete(injection: Injection) -> None:
    _widen(injection, Action.DELETE, when=_can_pull)


@defect(
    "push-implies-delete",
    "DELETE is authorised as a push: write:packages deletes without delete:packages",
    requirements=("AUTH-4",),
    modelled_on="zot CVE-2026-61833 / GHSA-qg67-7m6v-qg25: bearer DELETE mapped to `push`",
    needs_auth=True,
)
def push_implies_delete(injection: Injection) -> None:
    policy = injection.ghcr_policy()

    def make(original: Callable) -> Callable:
        def authorize(request: web.Request, route: Route, principal: Any, wanted: Action) -> None:
            return original(request, route, principal, Action.PUSH if wanted is Action.DELETE else wanted)

        return authorize

    injection.patch(policy, "authorize", make)


@defect(
    "anonymous-pull-private",
    "anyone may pull any package, private ones included",
    requirements=("AUTH-5",),
    modelled_on="Gitea CVE-2026-27771: anonymous 'ghost' tokens and no visibility check on pull",
    needs_auth=True,
)
def anonymous_pull_private(injection: Injection) -> None:
    _widen(injection, Action.PULL, when=lambda policy, principal, repository: True)
    injection.patch(injection.policy, "may_read", lambda original: lambda principal, repository: True)
    injection.patch(injection.policy, "catalog_candidates", lambda original: lambda *args: None)


@defect(
    "leak-private-existence",
    "a private package the caller cannot see answers differently from a missing one (401/403 vs 404)",
    requirements=("AUTH-11",),
    modelled_on="Harbor CVE-2019-19030: unauthenticated enumeration through 401 vs 404",
    needs_auth=True,
)
def leak_private_existence(injection: Injection) -> None:
    policy = injection.ghcr_policy()
    metadata = injection.registry.metadata

    def make(original: Callable) -> Callable:
        def authorize(request: web.Request, route: Route, principal: Any, wanted: Action) -> None:
            repository = route.name
            try:
                return original(request, route, principal, wanted)
            except OCIError:
                if not metadata.repository_exists(repository):
                    raise OCIError(ErrorCode.NAME_UNKNOWN, detail={"name": repository}) from None
                raise

        return authorize

    injection.patch(policy, "authorize", make)


@defect(
    "workflow-pushes-unlinked",
    "a workflow token may push to any package of its namespace, linked to its repository or not",
    requirements=("AUTH-8",),
    modelled_on="GitLab CVE-2019-12825: CI job tokens usable outside their own project",
    needs_auth=True,
)
def workflow_pushes_unlinked(injection: Injection) -> None:
    def workflow_in_namespace(policy: Any, principal: Any, repository: str) -> bool:
        return principal.kind == "workflow"

    _widen(injection, Action.PUSH, Action.PULL, when=workflow_in_namespace)


def _lenient_verify(injection: Injection, accept: Callable[[dict, str, Any, str], dict | None]) -> None:
    """Wrap the token signer's verify: when it refuses, `accept(header, token, signer, audience)` may
    still return claims (the defect)."""
    policy = injection.ghcr_policy()
    signer = policy.signer
    injection.require(signer, "public_key")

    def make(original: Callable) -> Callable:
        def verify(token: str, *, audience: str, use: str) -> dict[str, Any]:
            try:
                return original(token, audience=audience, use=use)
            except Exception:
                try:
                    header = jwt.get_unverified_header(token)
                    claims = accept(header, token, signer, audience)
                except Exception:
                    claims = None
                if claims is None or claims.get("use") != use:
                    raise
                return claims

        return verify

    injection.patch(signer, "verify", make)


@defect(
    "accept-expired-token",
    "registry tokens are accepted after their expiry",
    requirements=("AUTH-1", "AUTH-5"),
    modelled_on="failure-modes §4.7: missing/ignored `exp` (distribution rejects a missing exp as exp=0)",
    needs_auth=True,
)
def accept_expired_token(injection: Injection) -> None:
    from reference_server.ghcr.auth import signing

    issuer = injection.require(signing, "ISSUER", callable_=False)
    algorithm = injection.require(signing, "ALGORITHM", callable_=False)

    def ignore_exp(header: dict, token: str, signer: Any, audience: str) -> dict | None:
        key = signer.public_key(header.get("kid"))
        if key is None:
            return None
        return jwt.decode(  # everything checked as usual except `exp` (still required to be present)
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={"verify_exp": False, "require": ["exp", "iss", "aud"]},
        )

    _lenient_verify(injection, ignore_exp)


@defect(
    "accept-alg-none",
    "unsigned tokens (`alg: none`) are accepted",
    requirements=("AUTH-1", "AUTH-5"),
    modelled_on="the classic JWT alg=none bypass; distribution now pins an algorithm allowlist (52d68216c)",
    needs_auth=True,
)
def accept_alg_none(injection: Injection) -> None:
    def unsigned(header: dict, token: str, signer: Any, audience: str) -> dict | None:
        if str(header.get("alg", "")).lower() != "none":
            return None
        return jwt.decode(token, options={"verify_signature": False})

    _lenient_verify(injection, unsigned)


@defect(
    "revoked-token-accepted",
    "a revoked personal access token keeps working once it has been used (credential check cached)",
    requirements=("AUTH-1",),
    modelled_on="zot CVE-2025-23208: removal from a group never revoked access (sticky credentials)",
    needs_auth=True,
)
def revoked_token_accepted(injection: Injection) -> None:
    identities = injection.ghcr_policy().identities
    remembered: dict[str, Any] = {}

    def make(original: Callable) -> Callable:
        def from_credential_id(credential_id: str) -> Any:
            identity = original(credential_id)
            if identity is not None:
                remembered[credential_id] = identity
                return identity
            return remembered.get(credential_id)

        return from_credential_id

    def make_secret(original: Callable) -> Callable:
        def from_secret(username: str | None, secret: str) -> Any:
            identity = original(username, secret)
            if identity is not None:
                remembered[secret] = identity
                return identity
            return remembered.get(secret)

        return from_secret

    injection.patch(identities, "from_credential_id", make)
    injection.patch(identities, "from_secret", make_secret)


@defect(
    "first-push-public",
    "a package's first push makes it public",
    requirements=("PUSH-2",),
    modelled_on="registries defaulting new repositories to public (cf. Harbor's disputed CVE-2022-46463)",
    needs_auth=True,
)
def first_push_public(injection: Injection) -> None:
    store = injection.ghcr_policy().store

    def make(original: Callable) -> Callable:
        def create_package(owner: Any, name: str, visibility: str, *rest: Any, **options: Any) -> Any:
            return original(owner, name, "public", *rest, **options)

        return create_package

    injection.patch(store, "create_package", make)


@defect(
    "source-label-ignored",
    "the org.opencontainers.image.source label never links the package to its repository",
    requirements=("PUSH-4", "LBL-1"),
    modelled_on="registries reading labels only from manifest annotations, not from the image config",
    needs_auth=True,
)
def source_label_ignored(injection: Injection) -> None:
    packages = injection.ghcr_policy().packages
    injection.patch(packages, "matching_repository", lambda original: lambda package, source_url: None)


@defect(
    "description-not-truncated",
    "a 600-character description is stored and shown whole (past ghcr.io's 512)",
    requirements=("LBL-2", "LBL-7"),
    modelled_on="ghcr.io's documented 512-character limit not enforced (unbounded metadata writes)",
    needs_auth=True,
)
def description_not_truncated(injection: Injection) -> None:
    packages = injection.ghcr_policy().packages
    store = packages.store
    pending: dict[str, str] = {}

    def full_description(stored: Any) -> str | None:
        found = None
        labels = ((stored.config or {}).get("config") or {}).get("Labels") or {}
        for source in (labels, stored.manifest.get("annotations") or {}):
            if isinstance(source, dict) and isinstance(source.get(DESCRIPTION), str):
                found = source[DESCRIPTION]
        return found

    def make_stored(original: Callable) -> Callable:
        def manifest_stored(caller: Any, subject: Any, stored: Any) -> list[str]:
            text = full_description(stored)
            if text is not None:
                pending["description"] = text
            try:
                warnings = original(caller, subject, stored)
            finally:
                pending.clear()
            return [w for w in warnings if DESCRIPTION not in w]

        return manifest_stored

    def make_update(original: Callable) -> Callable:
        def update_package(package_id: Any, **updates: Any) -> Any:
            if "description" in updates and "description" in pending:
                updates["description"] = pending["description"]
            return original(package_id, **updates)

        return update_package

    injection.patch(packages, "manifest_stored", make_stored)
    injection.patch(store, "update_package", make_update)


@defect(
    "drop-index-annotations",
    "a multi-arch index's annotations are ignored: its description never reaches the package",
    requirements=("LBL-5",),
    modelled_on="registries reading package metadata only from image configs, never from the index",
    needs_auth=True,
)
def drop_index_annotations(injection: Injection) -> None:
    packages = injection.ghcr_policy().packages

    def make(original: Callable) -> Callable:
        def manifest_stored(caller: Any, subject: Any, stored: Any) -> list[str]:
            if stored.media_type in MANIFEST_TYPES_WITH_INDEX:
                manifest = {k: v for k, v in stored.manifest.items() if k != "annotations"}
                stored = dataclasses.replace(stored, manifest=manifest)
            return original(caller, subject, stored)

        return manifest_stored

    injection.patch(packages, "manifest_stored", make)


# ---- more bad-input and isolation defects (failure-modes §4) ---------------------------------------------
@defect(
    "mount-unknown-blob-201",
    "a mount of a blob that exists nowhere answers 201 (nothing is there)",
    requirements=("OCI-PUSH-10",),
    modelled_on="a dedupe/descriptor cache entry trusted for a blob that is gone (distribution#4569)",
)
def mount_unknown_blob_201(injection: Injection) -> None:
    async def claim_mounted(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        route = route_of(request)
        mount = request.query.get("mount")
        if request.method == "POST" and mount and response.status == 202 and route is not None:
            new = replace_response(response, 201, b"", "text/plain")
            new.headers["Location"] = f"/v2/{route.name}/blobs/{mount}"
            new.headers["Docker-Content-Digest"] = mount
            return new
        return response

    injection.middleware(claim_mounted)


async def _read_manifest_put(request: web.Request) -> tuple[bytes, dict | None]:
    body = await request.read()
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return body, document if isinstance(document, dict) else None


def _with_body(request: web.Request, body: bytes, headers: dict[str, str] | None = None) -> web.Request:
    clone = request.clone(headers={**request.headers, **(headers or {})}) if headers else request.clone()
    clone._payload = _Replay(body)  # the body was consumed to look at it
    return clone


@defect(
    "type-confusion-accepted",
    "a manifest whose mediaType contradicts its Content-Type is accepted (stored as the body says)",
    requirements=("OCI-NEG-MANIFEST-2",),
    modelled_on="CVE-2021-41190 / GHSA-qq97-vm5h-rrhg: manifest/index type confusion",
)
def type_confusion_accepted(injection: Injection) -> None:
    async def trust_the_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "PUT" and is_endpoint(request, Endpoint.MANIFEST):
            body, document = await _read_manifest_put(request)
            media_type = document.get("mediaType") if document else None
            if isinstance(media_type, str) and media_type != request.headers.get("Content-Type"):
                request = _with_body(request, body, {"Content-Type": media_type})
            else:
                request = _with_body(request, body)
        return await handler(request)

    injection.middleware(trust_the_body)


@defect(
    "manifest-get-serves-blob",
    "GET /manifests/<digest of a layer> serves the layer's bytes",
    requirements=("OCI-NEG-MANIFEST-3",),
    modelled_on="distribution#2325: the manifest store read a 2 GB layer (the repository link check passed)",
)
def manifest_get_serves_blob(injection: Injection) -> None:
    registry = injection.registry
    from reference_server.registry.grammar import try_parse_digest

    async def blob_as_manifest(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        route = route_of(request)
        if (
            response.status == 404
            and request.method in ("GET", "HEAD")
            and route is not None
            and route.endpoint is Endpoint.MANIFEST
        ):
            digest = try_parse_digest(route.argument)
            if digest is not None and registry.metadata.linked_blob_size(route.name, str(digest)) is not None:
                data = registry.blobs.read_small(digest, 1 << 20) or b""
                new = web.Response(status=200, body=data, content_type="application/octet-stream")
                new.headers["Docker-Content-Digest"] = str(digest)
                return new
        return response

    injection.middleware(blob_as_manifest)


@defect(
    "chunk-length-mismatch-accepted",
    "a chunk whose Content-Length differs from its Content-Range length is appended anyway",
    requirements=("OCI-NEG-CHUNK-2",),
    modelled_on="distribution skips the Content-Length check for chunked bodies (failure-modes 4.4)",
)
def chunk_length_mismatch_accepted(injection: Injection) -> None:
    async def trust_the_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.method == "PATCH"
            and "Content-Range" in request.headers
            and is_endpoint(request, Endpoint.UPLOAD)
        ):
            value = request.headers["Content-Range"].strip().removeprefix("bytes=").split("/")[0]
            first, _, last = value.partition("-")
            if (
                first.isdigit()
                and last.isdigit()
                and request.content_length is not None
                and int(last) - int(first) + 1 != request.content_length
            ):
                request = rewrite(request, drop_headers=("Content-Range",))
        return await handler(request)

    injection.middleware(trust_the_body)


@defect(
    "foreign-layer-needs-blob",
    "manifests with foreign/non-distributable layers are refused unless the layer blob was uploaded",
    requirements=("FMT-3",),
    modelled_on="registries without foreign-layer support refusing Windows base layers",
)
def foreign_layer_needs_blob(injection: Injection) -> None:
    metadata = injection.registry.metadata

    async def demand_foreign_blobs(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if request.method == "PUT" and route is not None and route.endpoint is Endpoint.MANIFEST:
            body, document = await _read_manifest_put(request)
            for layer in (document or {}).get("layers") or []:
                if (
                    isinstance(layer, dict)
                    and layer.get("urls")
                    and isinstance(layer.get("digest"), str)
                    and metadata.linked_blob_size(route.name, layer["digest"]) is None
                ):
                    raise OCIError(ErrorCode.MANIFEST_BLOB_UNKNOWN, detail={"digest": layer["digest"]})
            request = _with_body(request, body)
        return await handler(request)

    injection.middleware(demand_foreign_blobs)


@defect(
    "token-grants-what-is-asked",
    "the token service grants every asked action and the registry trusts the token alone",
    requirements=("AUTH-10", "AUTH-11"),
    modelled_on="Harbor CVE-2019-16919 (asked scopes not intersected with the creator's rights)",
    needs_auth=True,
)
def token_grants_what_is_asked(injection: Injection) -> None:
    policy = injection.ghcr_policy()
    tokens = injection.require(policy, "tokens", callable_=False)

    def make_grant(original: Callable) -> Callable:
        def grant(identity: Any, scopes: list[Any]) -> list[dict[str, Any]]:
            access = original(identity, scopes)
            granted = {entry["name"] for entry in access if entry.get("type") == "repository"}
            for scope in scopes:
                if scope.type == "repository" and scope.name not in granted and not identity.is_anonymous:
                    actions = sorted(a for a in scope.actions if a in ("pull", "push", "delete"))
                    if actions:
                        access.append({"type": "repository", "name": scope.name, "actions": actions})
            return access

        return grant

    def make_authorize(original: Callable) -> Callable:
        def authorize(request: web.Request, route: Route, principal: Any, wanted: Action) -> None:
            repository = route.name
            if str(wanted) in principal.access.get(repository, frozenset()):
                return None
            return original(request, route, principal, wanted)

        return authorize

    injection.patch(tokens, "grant", make_grant)
    injection.patch(policy, "authorize", make_authorize)


@defect(
    "catalog-lists-everything",
    "/v2/_catalog lists every repository, private ones of other tenants included",
    requirements=("AUTH-11", "AUTH-2"),
    modelled_on="Harbor CVE-2020-29662 (catalog exposed) and Gitea CVE-2026-27771 (enumeration via _catalog)",
    needs_auth=True,
)
def catalog_lists_everything(injection: Injection) -> None:
    policy = injection.ghcr_policy()
    listing = contextvars.ContextVar("keelhaul_defect_catalog", default=False)

    async def mark_catalog(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = listing.set(is_endpoint(request, Endpoint.CATALOG))
        try:
            return await handler(request)
        finally:
            listing.reset(token)

    def make(original: Callable) -> Callable:
        def may_read(principal: Any, repository: str) -> bool:
            return True if listing.get() else original(principal, repository)

        return may_read

    injection.patch(policy, "may_read", make)
    injection.patch(policy, "catalog_candidates", lambda original: lambda *args: None)  # walk every name
    injection.middleware(mark_catalog)


@defect(
    "truncation-without-warning",
    "over-long labels are cut silently: no Warning header tells the publisher",
    requirements=("LBL-7",),
    modelled_on="registries dropping over-long metadata quietly (ghcr.io model, LBL-7: never silently)",
    needs_auth=True,
)
def truncation_without_warning(injection: Injection) -> None:
    packages = injection.ghcr_policy().packages

    def make(original: Callable) -> Callable:
        def manifest_stored(caller: Any, subject: Any, stored: Any) -> list[str]:
            original(caller, subject, stored)
            return []

        return manifest_stored

    injection.patch(packages, "manifest_stored", make)


# ---- upload session lifecycle, discovery details ---------------------------------------------------------
@defect(
    "finished-upload-reusable",
    "an upload session stays open after its closing PUT: GET answers 204 and PATCH appends",
    requirements=("OCI-NEG-UPLOAD-1",),
    modelled_on="failure-modes 4.4: committed sessions must be unknown (distribution removes _uploads/<id>)",
)
def finished_upload_reusable(injection: Injection) -> None:
    uploads = injection.registry.uploads

    def make(original: Callable) -> Callable:
        def session(repository: str, upload_id: str, *, allow_done: bool = False) -> Any:
            return original(repository, upload_id, allow_done=True)

        return session

    injection.patch(uploads, "session", make)


@defect(
    "cancel-upload-noop",
    "DELETE of an upload session answers 204 but the session stays usable",
    requirements=("OCI-NEG-UPLOAD-1",),
    modelled_on="Quay CVE-2026-32589 class: upload sessions outliving their cancel (no cleanup)",
)
def cancel_upload_noop(injection: Injection) -> None:
    cancelling = contextvars.ContextVar("keelhaul_defect_cancel", default=False)

    async def mark_cancel(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = cancelling.set(request.method == "DELETE" and is_endpoint(request, Endpoint.UPLOAD))
        try:
            return await handler(request)
        finally:
            cancelling.reset(token)

    def make(original: Callable) -> Callable:
        def discard(upload_id: str) -> None:
            return None if cancelling.get() else original(upload_id)

        return discard

    injection.patch(injection.registry.uploads, "discard", make)
    injection.middleware(mark_cancel)


@defect(
    "ping-without-challenge",
    "GET /v2/ answers 200 to anonymous callers: clients never learn the token realm",
    requirements=("OCI-BASE-1", "AUTH-1"),
    modelled_on="registries answering the version check without the Bearer challenge (docker login fails)",
    needs_auth=True,
)
def ping_without_challenge(injection: Injection) -> None:
    policy = injection.ghcr_policy()
    injection.patch(policy, "authorize_ping", lambda original: lambda request, principal: None)


@defect(
    "malformed-warning-header",
    "Warning headers are sent without the `299 -` warn-code and agent",
    requirements=("OCI-ERR-3", "LBL-7"),
    modelled_on="registries emitting free-text Warning headers (spec: warn-code 299, agent `-`)",
)
def malformed_warning_header(injection: Injection) -> None:
    async def free_text(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        warnings = response.headers.getall("Warning", [])
        if warnings:
            response.headers.popall("Warning")
            for value in warnings:
                response.headers.add("Warning", value.removeprefix('299 - "').removesuffix('"'))
        return response

    injection.middleware(free_text)


@defect(
    "referrers-wrong-content-type",
    "the referrers API answers with Content-Type application/json",
    requirements=("OCI-DISC-7",),
    modelled_on="registries serving the referrers index as plain JSON (spec: the OCI index media type)",
)
def referrers_wrong_content_type(injection: Injection) -> None:
    async def plain_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 200 and is_endpoint(request, Endpoint.REFERRERS):
            response.headers["Content-Type"] = "application/json"
        return response

    injection.middleware(plain_json)


@defect(
    "tag-list-wrong-name",
    "the tag list's `name` is the last path component instead of the repository name",
    requirements=("OCI-DISC-1", "PULL-4"),
    modelled_on="nested-name handling bugs (failure-modes 4.1: names with several components)",
)
def tag_list_wrong_name(injection: Injection) -> None:
    async def short_name(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        body = getattr(response, "body", None)
        if response.status == 200 and isinstance(body, bytes) and is_endpoint(request, Endpoint.TAGS):
            document = json.loads(body)
            document["name"] = str(document.get("name", "")).rsplit("/", 1)[-1]
            response.body = json.dumps(document).encode()
        return response

    injection.middleware(short_name)


# ---- verdict classes (issue 11): defects whose right verdict is not simply "some check failed" --------
@defect(
    "referrers-content-type-parameter",
    "the referrers API answers `Content-Type: application/vnd.oci.image.index.v1+json; charset=utf-8`",
    requirements=("OCI-DISC-14",),
    modelled_on="aiohttp's json_response (this reference server until issue 11): a parameter where the "
    "spec says the Content-Type 'MUST be set to' the index type; the official suite fails it",
)
def referrers_content_type_parameter(injection: Injection) -> None:
    async def with_charset(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 200 and is_endpoint(request, Endpoint.REFERRERS):
            response.headers["Content-Type"] = "application/vnd.oci.image.index.v1+json; charset=utf-8"
        return response

    injection.middleware(with_charset)


@defect(
    "tag-delete-disabled-405",
    "tag deletion is disabled: DELETE of a tag answers 405 with a DENIED body and the tag stays",
    requirements=("OCI-MGMT-1", "OCI-MGMT-6"),
    modelled_on="registries that allow deletion only by manifest (the spec: 'MUST respond with either a "
    "400 Bad Request or a 405 Method Not Allowed', any error code); a FAIL only where the profile "
    "declares tag_delete",
)
def tag_delete_disabled_405(injection: Injection) -> None:
    async def refuse_tag_delete(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if (
            request.method == "DELETE"
            and route is not None
            and route.endpoint is Endpoint.MANIFEST
            and not route.argument.startswith("sha256:")
        ):
            body = {"errors": [{"code": "DENIED", "message": "tag deletion is disabled here"}]}
            return web.json_response(body, status=405)
        return await handler(request)

    injection.middleware(refuse_tag_delete)


@defect(
    "malformed-digest-500",
    "a manifest reference that is neither a tag nor a digest (`sha256:totallywrong`) gets a 500",
    requirements=("OCI-NEG-DIGEST-1",),
    modelled_on="distribution 2.8: GET /manifests/sha256:totallywrong answers 500 UNKNOWN (a path error)",
)
def malformed_digest_500(injection: Injection) -> None:
    async def crash(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if (
            route is not None
            and route.endpoint is Endpoint.MANIFEST
            and route.argument == "sha256:totallywrong"
        ):
            body = {"errors": [{"code": "UNKNOWN", "message": "unknown error"}]}
            return web.json_response(body, status=500)
        return await handler(request)

    injection.middleware(crash)
