"""report.html and the compare views as documents (the browser-side checks are in test_report_browser):
self-contained, credentials gone, every internal link lands, English headings around the quoted
Spanish sentences, passes and N/A folded, and scaled limits saying what they tested."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from conformance_builders import run as small_run
from vendor_run import EXPIRY_SCALE, LAYER_SCALE, SECRET, vendor_run

from conformance.catalogue import load_catalogue
from conformance.reports.compare import compare_html, compare_markdown
from conformance.reports.english import GHCR_PAGE, GHCR_SECTIONS, english_citation, english_source
from conformance.reports.html import check_anchor, render_html
from conformance.reports.model import OUTCOMES


class Anchors(HTMLParser):
    """Every id, every internal href, and the ids of the elements each <details> holds."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.folded: set[str] = set()
        self._open_details = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "details":
            self._open_details += 1
        if attributes.get("id"):
            self.ids.append(str(attributes["id"]))
            if self._open_details and tag != "details":
                self.folded.add(str(attributes["id"]))
        if tag == "a" and (attributes.get("href") or "").startswith("#"):
            self.hrefs.append(str(attributes["href"])[1:])

    def handle_endtag(self, tag: str) -> None:
        if tag == "details":
            self._open_details -= 1


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(vendor_run())


def anchors(html: str) -> Anchors:
    parser = Anchors()
    parser.feed(html)
    return parser


def test_self_contained_without_credentials(page: str) -> None:
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"""(src|href)=['"](https?:|//)""", page)
    assert SECRET not in page and "Authorization: &lt;redacted&gt;" in page


def test_every_internal_link_lands_and_ids_are_unique(page: str) -> None:
    found = anchors(page)
    assert len(found.ids) == len(set(found.ids))
    assert found.hrefs and set(found.hrefs) <= set(found.ids), set(found.hrefs) - set(found.ids)
    run = vendor_run()
    # Every check has exactly one anchor, and every requirement row is linked from its checks.
    assert sum(i.startswith("check-") for i in found.ids) == len(run.tests)
    linked = {h for h in found.hrefs if h.startswith("req-")}
    assert {f"req-{t.requirements[0]}" for t in run.tests} <= linked


def test_findings_open_passes_and_not_applicable_folded(page: str) -> None:
    run = vendor_run()
    found = anchors(page)
    for verdict in run.requirements:
        row = f"req-{verdict.id}"
        assert (row in found.folded) == (verdict.verdict not in ("FAIL", "WARN", "ROBUSTNESS", "ERROR")), (
            verdict
        )
    for test in run.tests:
        assert (check_anchor(test.nodeid) in found.folded) == (test.outcome in ("PASS", "N/A", "SKIP")), (
            test.nodeid
        )
    # The verdict comes before the findings, the findings before any folded row.
    assert page.index('id="verdict"') < page.index('id="findings"') < page.index("<details id='requirements-")


def test_headings_are_english_and_the_spanish_source_stays_quoted(page: str) -> None:
    outside_quotes = re.sub(r"<blockquote lang='es'[^>]*>.*?</blockquote>", "", page, flags=re.S)
    for spanish in (*GHCR_SECTIONS, GHCR_PAGE, "Solución", "Trabajar"):
        assert spanish not in outside_quotes, spanish
    assert "ghcr.io: Working with the Container registry §Troubleshooting" in page
    assert "<blockquote lang='es'" in page and "10 GB para cada capa" in page
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[1:] == ["Requirements", "Checks", "What the run left behind", "How to read the classes"]


def test_every_ghcr_section_of_the_catalogue_has_an_english_name() -> None:
    """A new Spanish section in the catalogue must get its English heading here, or it shows in Spanish."""
    for requirement in load_catalogue():
        if requirement.document == GHCR_PAGE:
            assert requirement.anchor in GHCR_SECTIONS, requirement.id
            assert "Trabajar" not in english_citation(requirement.document, requirement.anchor)
        if requirement.source.startswith("GHCR §"):
            english = english_source(requirement.source)
            assert not any(spanish in english for spanish in GHCR_SECTIONS), requirement.id
            assert english.partition(";")[0].removeprefix("GHCR ") in GHCR_SECTIONS.values(), requirement.id


def test_scaled_limits_say_what_was_tested(page: str) -> None:
    for requirement, scale in (("LIM-1", LAYER_SCALE), ("LIM-2", EXPIRY_SCALE)):
        row = re.search(rf"<tr id='req-{requirement}'>.*?</tr>", page, re.S)
        assert row and f"Tested scaled: {scale}" in row.group(0), requirement
    card = re.search(
        r"<article class='finding FAIL' id='check-conformance-ghcr-test_limits.*?</article>", page, re.S
    )
    assert card and LAYER_SCALE in card.group(0)


def test_overall_verdict_names_what_fails_the_run(page: str) -> None:
    assert "Failed: 2 MUST failures, 1 robustness finding, 1 suite error" in page
    passing = small_run([t for t in small_run().tests if t.outcome != "FAIL"])
    assert "Passed: no FAIL, ROBUSTNESS, ERROR in 2 checks" in render_html(passing)


def test_compare_has_totals_per_class_coloured_by_class() -> None:
    runs = [vendor_run(), small_run()]
    html = compare_html(runs)
    row = re.search(r"<tr data-target='Acme Registry 4\.2 \(staging\)'>.*?</tr>", html, re.S)
    assert row
    summary = runs[0].summary
    for outcome in OUTCOMES:
        css = outcome.replace("/", "")
        assert f"<td data-class='{outcome}' class='count {css}'>{summary[outcome]}</td>" in row.group(0)
    # A class that did not occur is not painted in its colour.
    assert "<td data-class='ROBUSTNESS' class='count zero'>0</td>" in html
    markdown = compare_markdown(runs)
    assert "| Target | PASS | FAIL | WARN | ROBUSTNESS | N/A | SKIP | ERROR | Checks | Verdict |" in markdown
    counts = " | ".join(str(summary[c]) for c in OUTCOMES)
    assert f"| Acme Registry 4.2 (staging) | {counts} | {summary['total']} | failed |" in markdown
