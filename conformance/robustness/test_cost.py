"""Listing cost as a ratio: a one-entry `_catalog` or `tags/list` page should cost about what
`GET /v2/` costs. Honest about what it measures: the target's own answer times, medians of a few
requests each, after a warm-up; no repositories are created beyond the run's own one. Only a gross
ratio (over 20x and over 100 ms slower) is a finding: smaller gaps are noise or ordinary work."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx
import pytest

from conformance.oci.expect import fail
from conformance.outcomes import not_applicable
from keelhaul.client.images import Image
from keelhaul.client.registry import RegistryClient

SAMPLES = 7
GROSS_RATIO = 20.0
GROSS_EXTRA_SECONDS = 0.1


def _median_seconds(send: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    last = send()  # warm-up: connection and token
    times = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        last = send()
        times.append(time.perf_counter() - started)
    return statistics.median(times), last


@pytest.mark.robustness
@pytest.mark.alone
@pytest.mark.req("ROB-COST-1")
def test_one_entry_listing_pages_cost_about_a_ping(
    client: RegistryClient,
    pushed: Callable[..., tuple[str, Image]],
    record_property: Callable[[str, object], None],
) -> None:
    """ROB-COST-1: `_catalog?n=1` and `tags/list?n=1` take at most 20x (and 100 ms more than) the time of
    `GET /v2/` on the same target."""
    repo, _ = pushed("rob-cost-1", tag="v1")
    baseline, _ = _median_seconds(client.ping)
    findings = []
    measured = 0
    for name, send in (
        ("_catalog?n=1", lambda: client.catalog(n=1)),
        (f"{repo}/tags/list?n=1", lambda: client.list_tags(repo, n=1)),
    ):
        seconds, answer = _median_seconds(send)
        if answer.status_code >= 500:
            fail("ROB-COST-1", answer, "a listing page, never a 5xx")
        if answer.status_code != 200:
            continue  # a listing the target does not offer (e.g. no _catalog) has no cost to judge
        measured += 1
        ratio = seconds / baseline if baseline > 0 else float("inf")
        record_property(f"measured:{name}", f"{seconds * 1000:.1f} ms = {ratio:.1f}x GET /v2/")
        if ratio > GROSS_RATIO and seconds - baseline > GROSS_EXTRA_SECONDS:
            findings.append(f"{name}: {seconds * 1000:.0f} ms, {ratio:.0f}x")
    if not measured:
        not_applicable("the target answers neither _catalog nor tags/list with 200")
    if findings:
        pytest.fail(
            f"ROB-COST-1: one-entry listing pages cost over {GROSS_RATIO:.0f}x GET /v2/ "
            f"({baseline * 1000:.1f} ms, median of {SAMPLES}): " + "; ".join(findings),
            pytrace=False,
        )
