"""report.html and compare.html as a customer sees them: rendered by Debian's headless Chromium at
1280 x 800 (tests/support/report_browser.py), asserted from the DOM. The report's first screen is kept
as first-screen.png beside report.html in the run's report folder (and in $KEELHAUL_ARTIFACT_DIR/report/
in CI). The run is tests/conformance/vendor_run.py's; the acceptance tests do the same on a real
distribution 2.8 run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conformance_builders import run as small_run
from vendor_run import vendor_run

from conformance.reports.compare import compare_html
from conformance.reports.html import check_anchor
from conformance.reports.writers import write_reports
from tests.support.report_browser import (
    HAVE_CHROMIUM,
    NO_CHROMIUM,
    assert_first_screen,
    assert_fits,
    assert_rows_link_to_checks,
    opened_details,
    probe,
    screenshot,
)

pytestmark = pytest.mark.skipif(not HAVE_CHROMIUM, reason=NO_CHROMIUM)


@pytest.fixture
def browser(tmp_path: Path, headless_chromium: Callable[[Path], list[str]]) -> list[str]:
    return headless_chromium(tmp_path / "chromium-profile")


def test_report_first_screen_in_chromium(browser: list[str], tmp_path: Path) -> None:
    run = vendor_run()
    report_dir = tmp_path / "reports" / run.run_id
    write_reports(run, report_dir)
    page = report_dir / "report.html"
    screenshot(browser, page, report_dir / "first-screen.png", kept_as="vendor-first-screen.png")
    figures = probe(browser, page, tmp_path)

    assert_first_screen(figures, run.summary)
    assert_fits(figures)
    assert {"req-OCI-DISC-2", "req-LIM-1"} <= assert_rows_link_to_checks(figures)

    # A link to a passed check (folded under "All checks") opens the fold, so the link lands.
    passed = next(t for t in run.tests if t.outcome == "PASS")
    assert "all-checks" in opened_details(browser, page, check_anchor(passed.nodeid))


def test_compare_view_in_chromium(browser: list[str], tmp_path: Path) -> None:
    """Per-target totals per class, coloured by class (SKIP grey, not like FAIL), no sideways scroll."""
    runs = [vendor_run(), small_run()]
    page = tmp_path / "compare.html"
    page.write_text(compare_html(runs), encoding="utf-8")
    screenshot(browser, page, tmp_path / "compare.png")
    figures = probe(browser, page, tmp_path)
    assert_fits(figures)
    totals = {row["target"]: row["cells"] for row in figures["totals"]}
    assert list(totals) == [str(r.target["name"]) for r in runs]
    for run in runs:
        cells = totals[str(run.target["name"])]
        assert {outcome: cell["count"] for outcome, cell in cells.items()} == {
            outcome: str(run.summary[outcome]) for outcome in cells
        }
    cells = totals[str(runs[0].target["name"])]
    assert set(cells) == {"PASS", "FAIL", "WARN", "ROBUSTNESS", "N/A", "SKIP", "ERROR"}
    colours = {outcome: cell["background"] for outcome, cell in cells.items() if cell["count"] != "0"}
    assert len(colours) == 7 and len(set(colours.values())) == 7, colours  # one colour per class
    assert figures["badges"]["SKIP"] != figures["badges"]["FAIL"]
