"""Unique repositories for checks that write, and the cleanup that removes what they created.

Every repository the suite writes to is `<namespace>/keelhaul-<run-id>-<n>`, so a run never touches
anything it did not create. What a check created is read back from its HTTP record (manifest PUTs
and finished blob uploads answered 201, upload sessions opened and never closed), plus whatever the
tag list still shows; cleanup cancels open upload sessions, deletes manifests, then blobs. The ledger
lists every item with whether it was removed and, for what stays, how to remove it (the report shows
it: "nothing left behind" only when that is true).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

from keelhaul.client import Exchange, RegistryClient
from keelhaul.client.ledger import BlobLedger

_UPLOAD_MARK = "/blobs/uploads/"


class RepoNamer:
    """Hands out `<namespace>/keelhaul-<run-id>-<n>`, unique within the run. When checks run in several
    worker processes each takes its own lane of numbers (lane, lane + lanes, ...), so names never
    collide and keep one shape."""

    def __init__(
        self,
        namespace: str | None,
        run_id: str,
        lane: int = 0,
        lanes: int = 1,
        ledger: BlobLedger | None = None,
    ) -> None:
        """`ledger`: told of every name handed out, which holds nothing yet (keelhaul.client.ledger)."""
        self.prefix = f"{namespace.strip('/')}/" if namespace else ""
        self.run_id = run_id
        self.ledger = ledger
        self._counter = itertools.count(1 + lane, max(1, lanes))
        self._lock = threading.Lock()

    def next(self, nested: str | None = None) -> str:
        """The next name; `nested` adds one more path component under it."""
        with self._lock:
            n = next(self._counter)
        name = f"{self.prefix}keelhaul-{self.run_id}-{n}" + (f"/{nested}" if nested else "")
        if self.ledger is not None:
            self.ledger.add_fresh(name)
        return name


@dataclass
class Created:
    """What a check left in one repository, as far as its HTTP record shows."""

    repo: str
    manifests: list[str] = field(default_factory=list)  # digests
    tags: list[str] = field(default_factory=list)  # tags whose digest the record does not show
    blobs: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # last known URL of each upload session left open


def created_in(repo: str, exchanges: Iterable[Exchange]) -> Created:
    """Read a check's exchanges for the manifests and blobs it stored in `repo`."""
    created = Created(repo)
    prefix = f"/v2/{repo}/"
    created.sessions = open_sessions(repo, exchanges)
    for exchange in exchanges:
        if exchange.status != 201:
            continue
        parts = urlsplit(exchange.url)
        path = unquote(parts.path)
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        query = parse_qs(parts.query)
        if exchange.method == "PUT" and rest.startswith("manifests/"):
            reference = rest[len("manifests/") :]
            digest = exchange.response_headers.get("docker-content-digest")
            if ":" in reference:
                _add(created.manifests, reference)
            elif digest:
                _add(created.manifests, digest)
            else:
                _add(created.tags, reference)
            if digest and ":" in reference and digest != reference:
                _add(created.manifests, digest)
        elif exchange.method in ("PUT", "POST") and rest.startswith(_UPLOAD_MARK[1:]):
            for key in ("digest", "mount"):
                for value in query.get(key, []):
                    _add(created.blobs, value)
    return created


def open_sessions(repo: str, exchanges: Iterable[Exchange]) -> list[str]:
    """Upload sessions under `repo` the record shows opened (a 202 with a Location under
    /blobs/uploads/) and never closed (a 201 PUT, a 2xx DELETE, or a 404 saying it is gone)."""
    latest: dict[str, str] = {}
    closed: set[str] = set()
    mark = f"/v2/{repo}{_UPLOAD_MARK}"
    for exchange in exchanges:
        path = unquote(urlsplit(exchange.url).path)
        status = exchange.status
        finished = status in (201, 404) or (exchange.method == "DELETE" and (status or 500) < 300)
        if path.startswith(mark) and len(path) > len(mark) and finished:
            closed.add(path)
        location = exchange.response_headers.get("location") if exchange.status == 202 else None
        if location:
            absolute = urljoin(exchange.url, location)
            session = unquote(urlsplit(absolute).path)
            if session.startswith(mark) and len(session) > len(mark):
                latest[session] = absolute
                closed.discard(session)
    return [url for path, url in latest.items() if path not in closed]


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


@dataclass
class CleanupOutcome:
    """The ledger of one repository: every item the run created there and what became of it."""

    repo: str
    deleted: int = 0
    left: list[str] = field(default_factory=list)  # "manifest sha256:… (405)" etc.
    items: list[dict[str, Any]] = field(default_factory=list)

    def record(self, kind: str, name: str, removed: bool, answer: str, remedy: str | None = None) -> None:
        self.items.append(
            {
                "repository": self.repo,
                "kind": kind,
                "name": name,
                "removed": removed,
                "answer": answer,
                "remedy": remedy,
            }
        )
        if removed:
            self.deleted += 1
        else:
            self.left.append(f"{kind} {name} ({answer})")

    def ledger(self) -> list[dict[str, Any]]:
        return list(self.items)


# How to free what a registry of that kind keeps after the API deleted or refused it.
REMEDIES: dict[str, dict[str, str]] = {
    "distribution": {
        "repository": "distribution has no repository delete: the name stays in /v2/_catalog until "
        "<rootdirectory>/docker/registry/v2/repositories/<name> is removed with the registry stopped",
        "blob": "deleted blobs stay on disk until an offline `docker-registry garbage-collect "
        "--delete-untagged <config.yml>` (registry stopped or read-only)",
        "manifest": "enable storage.delete.enabled in config.yml, or remove the repository folder offline",
        "session": "distribution purges abandoned uploads itself (storage.maintenance.uploadpurging: "
        "older than 168h, every 24h)",
    },
}
GENERIC_REMEDY = {
    "repository": "the OCI API has no repository delete: remove it with the registry's own tools",
    "blob": "remove it with the registry's own tools (garbage collection)",
    "manifest": "remove it with the registry's own tools",
    "session": "the registry expires abandoned uploads on its own schedule",
}


def remedy(kind: str, target_kind: str) -> str:
    return REMEDIES.get(target_kind, GENERIC_REMEDY).get(kind, GENERIC_REMEDY[kind])


def clean_repository(
    client: RegistryClient, created: Created, target_kind: str = "generic"
) -> CleanupOutcome:
    """Cancel the upload sessions a check left open, delete its manifests (and tags still listed),
    then its blobs; the repository name itself stays (the OCI API cannot delete it). Never raises for
    HTTP answers; a transport error leaves the rest in place and is reported as left behind."""
    outcome = CleanupOutcome(created.repo)
    repo = created.repo
    try:
        for location in created.sessions:
            answer = client.request("DELETE", location)
            gone = answer.status_code in (200, 202, 204, 404)
            outcome.record(
                "upload session",
                urlsplit(location).path,
                gone,
                f"DELETE {answer.status_code}",
                None if gone else remedy("session", target_kind),
            )
        manifests = list(created.manifests)
        listing = client.list_tags(repo)
        tags = list(created.tags)
        if listing.status_code == 200:
            with contextlib.suppress(ValueError):
                tags += [t for t in (listing.json().get("tags") or []) if t not in tags]
        for tag in tags:
            head = client.head_manifest(repo, tag)
            digest = head.headers.get("docker-content-digest")
            if head.status_code == 200 and digest:
                _add(manifests, digest)
        for digest in manifests:
            answer = client.delete_manifest(repo, digest)
            _tally(outcome, "manifest", digest, answer.status_code, target_kind)
        for digest in created.blobs:
            answer = client.delete_blob(repo, digest)
            _tally(outcome, "blob", digest, answer.status_code, target_kind)
    except Exception as error:  # cleanup must never hide the check's own outcome
        outcome.record("cleanup", "stopped", False, f"{type(error).__name__}: {error}", "rerun the cleanup")
    outcome.record(
        "repository", repo, False, "no API to delete a repository", remedy("repository", target_kind)
    )
    return outcome


def _tally(outcome: CleanupOutcome, kind: str, digest: str, status: int, target_kind: str) -> None:
    removed = status in (200, 202, 204, 404)
    answer = f"DELETE {status}"
    if removed and kind == "blob" and status != 404 and target_kind == "distribution":
        removed, answer = False, f"DELETE {status}: unlinked, the bytes stay on disk"
    outcome.record(kind, digest, removed, answer, None if removed else remedy(kind, target_kind))
