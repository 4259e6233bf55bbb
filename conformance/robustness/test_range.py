"""Range edge cases on a blob of the run's own repository (RFC 9110 §14.1.2). Range on blob GET is
optional in the distribution spec, so a registry that ignores Range (200) is N/A here, not a finding."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from conformance.oci.expect import fail
from conformance.outcomes import not_applicable
from keelhaul.client.registry import RegistryClient

BLOB = bytes(range(256)) * 4  # 1,024 bytes
TWENTY_DIGITS = "9" * 20


def _ranged_get(client: RegistryClient, repo: str, digest: str, value: str) -> httpx.Response:
    """GET the blob with `Range: value`; an answer whose body breaks its own framing (e.g. a
    Content-Length the body does not fill) is a finding of its own, in words rather than a traceback."""
    try:
        return client.get_blob(repo, digest, byte_range=value)
    except httpx.RemoteProtocolError as error:
        pytest.fail(
            f"ROB-RANGE-1: GET /v2/{repo}/blobs/{digest} with Range: {value} got a broken answer "
            f"(the connection closed before the body its headers announced: {error})",
            pytrace=False,
        )


def _blob_with_range_support(client: RegistryClient, repo: str) -> str:
    """Push the probe blob; N/A unless a plain first-byte range answers 206."""
    digest = client.upload_monolithic(repo, BLOB).digest
    answer = _ranged_get(client, repo, digest, "bytes=0-0")
    if answer.status_code >= 500:
        fail("ROB-RANGE-1", answer, "206 (or 200 when Range is ignored), never a 5xx")
    if answer.status_code != 206:
        not_applicable(f"blob GET ignores Range (bytes=0-0 answered {answer.status_code}); Range is optional")
    return digest


@pytest.fixture
def ranged_blob(client: RegistryClient, new_repo: Callable[[], str]) -> tuple[str, str]:
    repo = new_repo()
    return repo, _blob_with_range_support(client, repo)


@pytest.mark.robustness
@pytest.mark.req("ROB-RANGE-1")
def test_zero_suffix_range_is_unsatisfiable(client: RegistryClient, ranged_blob: tuple[str, str]) -> None:
    """ROB-RANGE-1: `bytes=-0` selects nothing: 416 (or 200 when the server ignores the header), never
    206 with bytes."""
    repo, digest = ranged_blob
    answer = _ranged_get(client, repo, digest, "bytes=-0")
    if answer.status_code not in (200, 416):
        fail("ROB-RANGE-1", answer, "416 for the unsatisfiable bytes=-0 (RFC 9110 §14.1.2)")


@pytest.mark.robustness
@pytest.mark.req("ROB-RANGE-1")
def test_last_position_past_the_end_is_clamped(client: RegistryClient, ranged_blob: tuple[str, str]) -> None:
    """ROB-RANGE-1: a last position past the end, even with 20 digits, is clamped to the end: 206 with
    the whole blob and `Content-Range: bytes 0-1023/1024`."""
    repo, digest = ranged_blob
    answer = _ranged_get(client, repo, digest, f"bytes=0-{TWENTY_DIGITS}")
    if answer.status_code == 200 and answer.content == BLOB:
        return  # ignoring Range is allowed
    expected_range = f"bytes 0-{len(BLOB) - 1}/{len(BLOB)}"
    if answer.status_code != 206 or answer.content != BLOB:
        fail("ROB-RANGE-1", answer, f"206 with the whole blob ({expected_range}), the last position clamped")
    if answer.headers.get("content-range") != expected_range:
        fail("ROB-RANGE-1", answer, f"Content-Range: {expected_range}")


@pytest.mark.robustness
@pytest.mark.req("ROB-RANGE-1")
def test_unsatisfiable_range_does_not_say_blob_unknown(
    client: RegistryClient, ranged_blob: tuple[str, str]
) -> None:
    """ROB-RANGE-1: a range starting past the end of a known blob is 416 (or 200), and the 416 never
    says BLOB_UNKNOWN: the blob exists."""
    repo, digest = ranged_blob
    answer = _ranged_get(client, repo, digest, f"bytes={len(BLOB)}-{len(BLOB) + 10}")
    if answer.status_code not in (200, 416):
        fail("ROB-RANGE-1", answer, "416 for a range starting past the end (RFC 9110 §14.1.2)")
    if answer.status_code == 416 and "BLOB_UNKNOWN" in _error_codes(answer):
        fail("ROB-RANGE-1", answer, "a 416 that does not say BLOB_UNKNOWN for a blob that exists")


def _error_codes(answer: httpx.Response) -> set[str]:
    try:
        errors = answer.json().get("errors", [])
    except (ValueError, AttributeError):
        return set()
    return {str(error.get("code")) for error in errors if isinstance(error, dict)}
