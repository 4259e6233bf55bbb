"""Unique repository names and the cleanup that removes what a check created."""

from __future__ import annotations

import json

import httpx

from conformance.harness.repos import RepoNamer, clean_repository, created_in
from keelhaul.client import Exchange, grammar
from keelhaul.client.ledger import BlobLedger

REPO = "ns/keelhaul-run-1"
D1, D2, D3 = "sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64


def exchange(method, path, status, headers=None):
    return Exchange(method, f"http://r{path}", {}, None, status, headers or {})


def test_names_are_unique_valid_and_under_the_namespace():
    namer = RepoNamer("team/ci", "20260101t000000-ab12")
    names = [namer.next() for _ in range(3)]
    assert names == [f"team/ci/keelhaul-20260101t000000-ab12-{n}" for n in (1, 2, 3)]
    assert all(grammar.is_valid_name(name) for name in names)


def test_every_name_handed_out_is_fresh_in_the_runs_ledger():
    ledger = BlobLedger()
    namer = RepoNamer("team/ci", "run", ledger=ledger)
    plain, nested = namer.next(), namer.next("release")
    assert nested == "team/ci/keelhaul-run-2/release"
    assert ledger.surely_absent(plain, D1) and ledger.surely_absent(nested, D1)
    assert not ledger.surely_absent("team/ci/keelhaul-run-2", D1)  # only the name handed out


def test_created_content_is_read_from_successful_writes_only():
    exchanges = [
        exchange("PUT", f"/v2/{REPO}/blobs/uploads/u1?digest={D1}", 201),
        exchange("POST", f"/v2/{REPO}/blobs/uploads/?mount={D2}&from=other", 201),
        exchange("PUT", f"/v2/{REPO}/blobs/uploads/u2?digest={D3}", 400),  # refused: nothing stored
        exchange("PUT", f"/v2/{REPO}/manifests/latest", 201, {"docker-content-digest": D3}),
        exchange("PUT", f"/v2/{REPO}/manifests/v1", 201),  # no digest header: look the tag up later
        exchange("PUT", f"/v2/{REPO}/manifests/{D1}", 201),
        exchange("PUT", f"/v2/{REPO}/nested/manifests/x", 201, {"docker-content-digest": D2}),  # other repo
        exchange("PUT", "/v2/ns/keelhaul-run-10/manifests/y", 201, {"docker-content-digest": D2}),
    ]
    created = created_in(REPO, exchanges)
    assert created.blobs == [D1, D2]
    assert created.manifests == [D3, D1]
    assert created.tags == ["v1"]


class FakeRegistry:
    """Answers like a registry that refuses blob deletes (405)."""

    def __init__(self):
        self.calls = []

    def _answer(self, status, body=None, headers=None):
        return httpx.Response(
            status, content=json.dumps(body).encode() if body else b"", headers=headers or {}
        )

    def list_tags(self, repo):
        self.calls.append(("tags", repo))
        return self._answer(200, {"name": repo, "tags": ["v1", "extra"]})

    def head_manifest(self, repo, tag):
        self.calls.append(("head", tag))
        return self._answer(200, headers={"docker-content-digest": {"v1": D2, "extra": D3}[tag]})

    def delete_manifest(self, repo, digest):
        self.calls.append(("delete manifest", digest))
        return self._answer(202)

    def delete_blob(self, repo, digest):
        self.calls.append(("delete blob", digest))
        return self._answer(405)


def test_cleanup_deletes_manifests_then_blobs_and_reports_leftovers():
    created = created_in(
        REPO,
        [
            exchange("PUT", f"/v2/{REPO}/blobs/uploads/u1?digest={D1}", 201),
            exchange("PUT", f"/v2/{REPO}/manifests/v1", 201),
        ],
    )
    registry = FakeRegistry()
    outcome = clean_repository(registry, created)
    kinds = [call[0] for call in registry.calls]
    assert kinds == ["tags", "head", "head", "delete manifest", "delete manifest", "delete blob"]
    assert outcome.deleted == 2
    assert outcome.left == [
        f"blob {D1} (DELETE 405)",
        "repository ns/keelhaul-run-1 (no API to delete a repository)",
    ]


def test_cleanup_never_raises():
    class Broken(FakeRegistry):
        def list_tags(self, repo):
            raise httpx.ConnectError("refused")

    outcome = clean_repository(
        Broken(), created_in(REPO, [exchange("PUT", f"/v2/{REPO}/manifests/{D1}", 201)])
    )
    assert outcome.left == [
        "cleanup stopped (ConnectError: refused)",
        "repository ns/keelhaul-run-1 (no API to delete a repository)",
    ]
