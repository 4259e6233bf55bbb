"""After a run: is every blob the run committed really on the target, with its size and digest?

Locust only knows that the closing PUT answered 201. Verification asks the target again with a HEAD
per committed digest and compares `Content-Length` and `Docker-Content-Digest` (when sent), so a
registry that acknowledges but loses or truncates data fails the run. Cleanup runs after
verification, never before, and only deletes what this run created.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from keelhaul.client import RegistryClient
from load.ledger import UploadRecord

PROBLEM_LIMIT = 50  # keep summary.json readable when everything is broken


@dataclass
class Verification:
    checked: int = 0
    verified: int = 0
    bytes_verified: int = 0
    bytes_unverified: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked == self.verified

    def note(self, problem: str) -> None:
        if len(self.problems) < PROBLEM_LIMIT:
            self.problems.append(problem)

    def to_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "verified": self.verified,
            "bytes_verified": self.bytes_verified,
            "bytes_unverified": self.bytes_unverified,
            "ok": self.ok,
            "problems": self.problems,
        }


def unique_blobs(uploads: list[UploadRecord]) -> list[UploadRecord]:
    """One record per (repository, digest): a digest pushed twice is checked once."""
    seen: dict[tuple[str, str], UploadRecord] = {}
    for record in uploads:
        seen.setdefault((record.repository, record.digest), record)
    return list(seen.values())


def check_blob(client: RegistryClient, record: UploadRecord) -> str | None:
    """None when the target holds the blob with the right size and digest, else what is wrong."""
    where = f"{record.repository}@{record.digest}"
    try:
        response = client.head_blob(record.repository, record.digest)
    except httpx.HTTPError as error:
        return f"{where}: HEAD failed: {type(error).__name__}"
    if response.status_code != 200:
        return f"{where}: HEAD answered {response.status_code}, expected 200"
    length = response.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) != record.size:
        return f"{where}: Content-Length {length!r}, expected {record.size}"
    stated = response.headers.get("docker-content-digest")
    if stated is not None and stated != record.digest:
        return f"{where}: Docker-Content-Digest {stated!r}, expected {record.digest}"
    return None


def verify_uploads(client: RegistryClient, uploads: list[UploadRecord]) -> Verification:
    result = Verification()
    for record in unique_blobs(uploads):
        result.checked += 1
        problem = check_blob(client, record)
        if problem is None:
            result.verified += 1
            result.bytes_verified += record.size
        else:
            result.bytes_unverified += record.size
            result.note(problem)
    return result


@dataclass
class Cleanup:
    deleted: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # "405 UNSUPPORTED" -> count

    def to_dict(self) -> dict[str, object]:
        return {"deleted_blobs": self.deleted, "not_deleted": self.refused}


def delete_uploads(client: RegistryClient, uploads: list[UploadRecord]) -> Cleanup:
    """Delete the run's blobs; a target that forbids deletion (405) is counted, not treated as failure."""
    from load.failures import OCIFailure

    result = Cleanup()
    for record in unique_blobs(uploads):
        try:
            response = client.delete_blob(record.repository, record.digest)
        except httpx.HTTPError as error:
            key = type(error).__name__
        else:
            if response.status_code in (200, 202, 204):
                result.deleted += 1
                continue
            key = str(OCIFailure.from_body(response.status_code, response.text))
        result.refused[key] = result.refused.get(key, 0) + 1
    return result
