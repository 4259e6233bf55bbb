"""Unique repositories for checks that write, and the cleanup that removes what they created.

Every repository the suite writes to is `<namespace>/keelhaul-<run-id>-<n>`, so a run never touches
anything it did not create. What a check created is read back from its HTTP record (manifest PUTs
and finished blob uploads answered 201), plus whatever the tag list still shows; cleanup deletes
manifests first, then blobs. Targets that refuse deletes keep the content: the ledger says so.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from keelhaul.client import Exchange, RegistryClient

_UPLOAD_MARK = "/blobs/uploads/"


class RepoNamer:
    """Hands out `<namespace>/keelhaul-<run-id>-<n>`, unique within the run."""

    def __init__(self, namespace: str | None, run_id: str) -> None:
        self.prefix = f"{namespace.strip('/')}/" if namespace else ""
        self.run_id = run_id
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            n = next(self._counter)
        return f"{self.prefix}keelhaul-{self.run_id}-{n}"


@dataclass
class Created:
    """What a check left in one repository, as far as its HTTP record shows."""

    repo: str
    manifests: list[str] = field(default_factory=list)  # digests
    tags: list[str] = field(default_factory=list)  # tags whose digest the record does not show
    blobs: list[str] = field(default_factory=list)


def created_in(repo: str, exchanges: Iterable[Exchange]) -> Created:
    """Read a check's exchanges for the manifests and blobs it stored in `repo`."""
    created = Created(repo)
    prefix = f"/v2/{repo}/"
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


def _add(items: list[str], value: str) -> None:
    if value not in items:
        items.append(value)


@dataclass
class CleanupOutcome:
    repo: str
    deleted: int = 0
    left: list[str] = field(default_factory=list)  # "manifest sha256:… (405)" etc.


def clean_repository(client: RegistryClient, created: Created) -> CleanupOutcome:
    """Delete what a check created: manifests (and tags still listed), then blobs. Never raises
    for HTTP answers; a transport error leaves the rest in place and is reported as left behind."""
    outcome = CleanupOutcome(created.repo)
    repo = created.repo
    try:
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
            _tally(outcome, "manifest", digest, answer.status_code)
        for digest in created.blobs:
            answer = client.delete_blob(repo, digest)
            _tally(outcome, "blob", digest, answer.status_code)
    except Exception as error:  # cleanup must never hide the check's own outcome
        outcome.left.append(f"cleanup stopped: {type(error).__name__}: {error}")
    return outcome


def _tally(outcome: CleanupOutcome, kind: str, digest: str, status: int) -> None:
    if status in (200, 202, 204, 404):
        outcome.deleted += status != 404
    else:
        outcome.left.append(f"{kind} {digest} ({status})")
