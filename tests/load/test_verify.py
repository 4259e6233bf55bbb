"""End-of-run verification asks the target again about every committed digest, then cleans up."""

from __future__ import annotations

from dataclasses import replace

from keelhaul.client import GeneratedBlob, RegistryClient
from load.ledger import UploadRecord
from load.verify import delete_uploads, unique_blobs, verify_uploads


def pushed(client: RegistryClient, repository: str, seed: str, size: int = 300_000) -> UploadRecord:
    result = client.upload_chunked(repository, GeneratedBlob(size, seed=seed), 128 * 1024).raise_for_status()
    return UploadRecord("chunked", repository, result.digest, size, 0.1, 1.0, 3, 0, 0.0)


def test_verified_when_size_and_digest_match(registry_url: str) -> None:
    with RegistryClient(registry_url) as client:
        records = [pushed(client, "keelhaul-t-verify", f"v{n}") for n in range(3)]
        result = verify_uploads(client, records + records[:1])  # a duplicate is checked once
    assert result.ok and result.checked == 3 and result.verified == 3
    assert result.bytes_verified == 900_000 and result.problems == []


def test_wrong_size_and_missing_blobs_are_unverified(registry_url: str) -> None:
    with RegistryClient(registry_url) as client:
        good = pushed(client, "keelhaul-t-verify2", "w1")
        wrong_size = replace(good, size=good.size + 1)
        missing = replace(good, repository="keelhaul-t-nothing-here")
        result = verify_uploads(client, [wrong_size, missing])
    assert not result.ok and result.checked == 2 and result.verified == 0
    assert result.bytes_unverified == 2 * good.size + 1
    assert "Content-Length '300000', expected 300001" in result.problems[0]
    assert "HEAD answered 404" in result.problems[1]


def test_cleanup_deletes_each_blob_once_and_counts_refusals(registry_url: str) -> None:
    with RegistryClient(registry_url) as client:
        record = pushed(client, "keelhaul-t-clean", "c1")
        cleanup = delete_uploads(client, [record, record])
        assert cleanup.deleted == 1 and cleanup.refused == {}
        assert client.head_blob(record.repository, record.digest).status_code == 404
        again = delete_uploads(client, [record])
    assert again.deleted == 0 and sum(again.refused.values()) == 1
    assert next(iter(again.refused)).startswith("404 ")


def test_unique_blobs_keeps_first_record_per_repository_and_digest() -> None:
    a = UploadRecord("chunked", "r1", "sha256:" + "1" * 64, 1, 1.0, 1.0, 1, 0, 0.0)
    assert unique_blobs([a, replace(a, seconds=9.0), replace(a, repository="r2")]) == [
        a,
        replace(a, repository="r2"),
    ]
