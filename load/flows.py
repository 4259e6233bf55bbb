"""What the scenarios do, one registry workflow per function, through the shared client only.

Each flow reports the exchanges it makes through the client's recorder (see events.py) and adds
one composite event for the whole workflow (an upload, a pull), so Locust's tables show both the
per-request latencies and the per-upload figures. Functions take the user they act for, so the
user classes in scenarios.py stay a few lines each.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import httpx
from locust.env import Environment

from keelhaul.client import GeneratedBlob, RegistryClient, digest_of, images, media_types, uploads
from keelhaul.client.uploads import (
    OCTET,
    UploadResult,
    cancel_upload,
    location_of,
    start_upload,
    upload_status,
)
from load.events import LocustRecorder, fire_summary_event
from load.failures import CheckFailure, OCIFailure, TransportFailure
from load.ledger import UploadRecord
from load.prehash import LayerQueue
from load.run import LoadRun
from load.sizes import format_size
from load.verify import check_blob


class FlowUser(Protocol):
    """What a flow needs from the Locust user it acts for (scenarios.RegistryUser provides it); named
    here so the flows sit below the scenarios that call them."""

    environment: Environment
    client: RegistryClient
    recorder: LocustRecorder
    layers: LayerQueue
    load_run: LoadRun
    scenario: str
    repository: str

    def acting_as(self, role: str) -> AbstractContextManager[None]: ...


PULL_READ_SIZE = 1 << 20


def _failure_of(result: UploadResult) -> Exception:
    response = result.response
    if response is None:
        return TransportFailure("no response")
    return OCIFailure.from_body(response.status_code, response.text)


def push_blob(
    user: FlowUser, size: int, *, chunk_size: int | None, label: str, repository: str | None = None
) -> UploadRecord | None:
    """Upload one generated blob (chunked when chunk_size is given, else monolithic), check it with
    HEAD, record it. Returns the record, or None when the upload failed (already reported)."""
    run = user.load_run
    repository = repository or user.repository
    blob = user.layers.take(size, repository, lambda repo: run.content_seed(repo, run.next_number()))
    name = f"{label} {format_size(size)}" + (f" in {format_size(chunk_size)} chunks" if chunk_size else "")
    started = time.perf_counter()
    try:
        if chunk_size:
            result = uploads.upload_chunked(user.client, repository, blob, chunk_size, keep_responses=False)
        else:
            result = uploads.upload_monolithic(user.client, repository, blob, keep_responses=False)
    except httpx.HTTPError as error:  # the exchange itself was already reported as a failure
        _report_upload(user, name, started, size, TransportFailure(type(error).__name__))
        return None
    seconds = time.perf_counter() - started
    if not result.ok:
        _abandon(user, result)
        _report_upload(user, name, started, size, _failure_of(result))
        return None
    commit = user.recorder.last_exchange
    record = UploadRecord(
        scenario=user.scenario,
        repository=repository,
        digest=result.digest,
        size=size,
        seconds=seconds,
        commit_ms=commit.elapsed_ms or 0.0 if commit else 0.0,
        chunks=-(-size // chunk_size) if chunk_size else 1,
        resumes=result.resumes,
        finished_at=time.time(),
    )
    problem = check_blob(user.client, record)
    if problem is not None:
        _report_upload(user, name, started, size, CheckFailure("HEAD after commit disagrees", problem))
        return None
    run.ledger.add_upload(record)
    _report_upload(user, name, started, size, None)
    return record


def _report_upload(user: FlowUser, name: str, started: float, size: int, error: Exception | None) -> None:
    fire_summary_event(
        user.environment,
        request_type="UPLOAD",
        name=name,
        response_time_ms=(time.perf_counter() - started) * 1000,
        length=size if error is None else 0,
        exception=error,
        scenario=user.scenario,
    )


def _abandon(user: FlowUser, result: UploadResult) -> None:
    """Cancel a session a failed upload left open, so the target can free its space at once (best
    effort: a transport error here is reported as an event and otherwise ignored)."""
    if result.location and "/blobs/uploads/" in result.location:
        with user.recorder.expecting(400, 404, 405), contextlib.suppress(httpx.HTTPError):
            cancel_upload(user.client, result.location)


def probe_layer_limit(user: FlowUser, size: int, chunk_size: int, limit: int) -> None:
    """Push a layer larger than the target's announced limit: the target must refuse it.

    The refusal may come at any PATCH or at the closing PUT, as an error status or a dropped
    connection; each of those is the expected outcome here. A 201 means the limit is not enforced."""
    name = f"over-limit probe {format_size(size)} (limit {format_size(limit)})"
    blob = GeneratedBlob(size, seed=user.load_run.content_seed(user.repository, user.load_run.next_number()))
    started = time.perf_counter()
    error: Exception | None = None
    with user.recorder.expecting(400, 403, 404, 413, 416):
        try:
            result = user.client.upload_chunked(
                user.repository, blob, chunk_size, keep_responses=False, max_resumes=0
            )
        except httpx.HTTPError:
            result = None
        if result is not None and result.ok:
            error = CheckFailure("layer over the announced limit was accepted")
            user.load_run.ledger.add_upload(
                UploadRecord(
                    user.scenario,
                    user.repository,
                    result.digest,
                    size,
                    time.perf_counter() - started,
                    0.0,
                    0,
                    0,
                    time.time(),
                )
            )
        elif result is not None:
            _abandon(user, result)
    fire_summary_event(
        user.environment,
        request_type="LIMIT",
        name=name,
        response_time_ms=(time.perf_counter() - started) * 1000,
        length=0,
        exception=error,
        scenario=user.scenario,
    )


# ---- images for the pull scenarios ------------------------------------------------------------------


@dataclass(frozen=True)
class SeededImage:
    repository: str
    tag: str
    manifest_digest: str
    config_digest: str
    config_size: int
    layer_digest: str
    layer_size: int


@dataclass(frozen=True)
class LayerRef:
    """A pushed layer as a manifest describes it (the images builders take any digest/size/type)."""

    digest: str
    size: int
    media_type: str = media_types.OCI_LAYER_GZIP


def push_image(user: FlowUser, repository: str, tag: str, layer_size: int) -> SeededImage | None:
    """A one-layer OCI image (generated layer, small config) under `tag`; None if any step failed."""
    layer = push_blob(user, layer_size, chunk_size=None, label="image layer", repository=repository)
    if layer is None:
        return None
    config = images.image_config(
        labels={"keelhaul.run": user.load_run.settings.run_id, "keelhaul.tag": tag},
        extra={"rootfs": {"type": "layers", "diff_ids": [layer.digest]}},
    )
    config_result = uploads.upload_monolithic(user.client, repository, config.body, keep_responses=False)
    if not config_result.ok:
        _report_upload(user, "image config", time.perf_counter(), 0, _failure_of(config_result))
        return None
    user.load_run.ledger.add_upload(
        UploadRecord(user.scenario, repository, config.digest, config.size, 0.0, 0.0, 1, 0, time.time())
    )
    manifest = images.oci_manifest(config, [LayerRef(layer.digest, layer.size)])
    response = user.client.put_manifest(repository, tag, manifest.body, manifest.media_type)
    if response.status_code != 201:
        return None  # reported by the recorder
    user.load_run.ledger.add_manifest(repository, manifest.digest)
    return SeededImage(repository, tag, manifest.digest, config.digest, config.size, layer.digest, layer.size)


def pull_manifest(user: FlowUser, image: SeededImage) -> None:
    """GET the manifest by tag; its digest must be the one pushed."""
    response = user.client.get_manifest(image.repository, image.tag)
    if response.status_code == 200 and digest_of(response.content) != image.manifest_digest:
        _report_check(user, "manifest by tag", CheckFailure("manifest digest changed"))


def pull_blob(user: FlowUser, image: SeededImage, *, ranged: bool) -> None:
    """GET the layer (whole, or a random Range) streaming, and check the bytes that came back."""
    if ranged:
        first = random.randrange(0, image.layer_size)
        last = min(image.layer_size - 1, first + random.randrange(1, 4 << 20))
        byte_range: tuple[int, int] | None = (first, last)
    else:
        byte_range = None
    started = time.perf_counter()
    with user.recorder.deferred() as pending:
        response = user.client.get_blob(
            image.repository, image.layer_digest, byte_range=byte_range, stream=True
        )
        received = 0
        hasher = hashlib.sha256()
        try:
            for piece in response.iter_bytes(PULL_READ_SIZE):
                received += len(piece)
                if not ranged:
                    hasher.update(piece)
        finally:
            response.close()
        pending.complete(received, (time.perf_counter() - started) * 1000)
    if response.status_code not in (200, 206):
        return
    if ranged:
        expected = byte_range[1] - byte_range[0] + 1 if byte_range else 0
        if response.status_code == 206 and received != expected:
            _report_check(user, "blob range", CheckFailure("range body has the wrong length"))
    elif "sha256:" + hasher.hexdigest() != image.layer_digest:
        _report_check(user, "blob pull", CheckFailure("pulled bytes do not match the digest"))


def _report_check(user: FlowUser, name: str, failure: CheckFailure) -> None:
    fire_summary_event(
        user.environment,
        request_type="CHECK",
        name=name,
        response_time_ms=0,
        length=0,
        exception=failure,
        scenario=user.scenario,
    )


# ---- tag and manifest churn -------------------------------------------------------------------------


def churn_once(user: FlowUser, base: SeededImage) -> None:
    """Tag a fresh manifest (the base image's blobs, a new annotation) twice, list tags, delete it by
    digest, check the tag is gone."""
    number = user.load_run.next_number()
    built = images.oci_manifest(
        LayerRef(base.config_digest, base.config_size, media_types.OCI_CONFIG),
        [LayerRef(base.layer_digest, base.layer_size)],
        annotations={"keelhaul.churn": str(number)},
    )
    manifest, digest = built.body, built.digest
    client = user.client
    for tag in (f"churn-{number}", f"churn-{number}-alias"):
        if client.put_manifest(user.repository, tag, manifest, media_types.OCI_MANIFEST).status_code != 201:
            return
    client.list_tags(user.repository)
    with user.acting_as("deleter"):
        deleted = user.client.delete_manifest(user.repository, digest)
    if deleted.status_code != 202:
        user.load_run.ledger.add_manifest(user.repository, digest)
        return
    with user.recorder.expecting(404):
        gone = client.head_manifest(user.repository, f"churn-{number}")
    if gone.status_code != 404:
        _report_check(
            user, "manifest delete", CheckFailure("tag still resolves after its manifest was deleted")
        )


# ---- idle-upload probe ------------------------------------------------------------------------------


def open_idle_session(user: FlowUser) -> tuple[str, float] | None:
    """Start an upload, send one small chunk, and return (Location, time of the last activity)."""
    post = start_upload(user.client, user.repository)
    location = location_of(post)
    if post.status_code != 202 or location is None:
        return None
    chunk = GeneratedBlob(4096, seed=user.load_run.content_seed(user.repository, user.load_run.next_number()))
    patch = user.client.request(
        "PATCH",
        location,
        content=b"".join(chunk.chunks(4096)),
        headers={**OCTET, "Content-Range": "0-4095"},
    )
    if patch.status_code != 202:
        return None
    return location_of(patch) or location, time.monotonic()


def check_idle_session(user: FlowUser, location: str, idle_seconds: float) -> bool:
    """GET the session after it sat idle: True if still there (204), False if expired (404)."""
    with user.recorder.expecting(404):
        status = upload_status(user.client, location)
    alive = status.status_code == 204
    error = (
        None if status.status_code in (204, 404) else OCIFailure.from_body(status.status_code, status.text)
    )
    fire_summary_event(
        user.environment,
        request_type="IDLE",
        name=f"session {'alive' if alive else 'expired'} after {idle_seconds:g}s",
        response_time_ms=idle_seconds * 1000,
        length=0,
        exception=error,
        scenario=user.scenario,
    )
    user.load_run.ledger.add_probe(
        {"idle_seconds": idle_seconds, "alive": alive, "status": status.status_code}
    )
    if alive:
        with user.recorder.expecting(404, 405), contextlib.suppress(httpx.HTTPError):
            cancel_upload(user.client, location)
    return alive
