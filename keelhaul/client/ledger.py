"""Which blobs a run has put into the repositories it created, so a push there needs no HEAD first.

Why: before uploading a blob a client asks whether the repository has it (HEAD). In a repository the
run has just named (unique to the run, so empty when named) the answer is known: absent, unless the
run put it there. A default conformance run sent 273 such HEADs, all answered 404 (issue 14).

Safe by construction: the ledger can only say "surely absent", which skips the HEAD, never the
upload. Where it is wrong (the blob came by a mount or a raw upload it did not see) the cost is one
upload the registry did not need.
"""

from __future__ import annotations

import threading


class BlobLedger:
    """Fresh repositories of one run and the blobs pushed into each; shared by the run's clients."""

    def __init__(self) -> None:
        self._pushed: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def add_fresh(self, repo: str) -> None:
        """`repo` was just named by the run and holds nothing yet."""
        with self._lock:
            self._pushed.setdefault(repo, set())

    def surely_absent(self, repo: str, digest: str) -> bool:
        """True when `repo` is fresh and nothing the ledger saw put `digest` there."""
        with self._lock:
            pushed = self._pushed.get(repo)
            return pushed is not None and digest not in pushed

    def record(self, repo: str, digest: str) -> None:
        """`digest` is now in `repo` (a finished upload)."""
        with self._lock:
            pushed = self._pushed.get(repo)
            if pushed is not None:
                pushed.add(digest)
