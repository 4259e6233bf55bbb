# ruff: noqa: E501  (the probe script's lines, kept whole)
"""Rendering keelhaul's HTML reports in Debian's headless Chromium at 1280 x 800, for tests.

`screenshot` writes what a reader sees first (and copies it to $KEELHAUL_ARTIFACT_DIR/report/ so CI
keeps it). `probe` measures the laid-out page: it renders a copy of the page with one inline script
added (test-only: the product page has no scripts) which writes its figures into the DOM that
`--dump-dom` hands back: where the verdict sits in the first viewport, every element wider than the
viewport (with every <details> closed, then open), the class tiles and totals with their colours, and
where each requirement row's check links lead and whether those checks link back.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from tests.support.browser import run_headless

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
NO_CHROMIUM = "needs Debian's chromium (apt-get install chromium) to render the report"

VIEWPORT = (1280, 800)
BROWSER_TIMEOUT = 60.0  # one Chromium start and render on a loaded 2-core machine
LARGE_TYPE_PX = 32  # the verdict's counts are "large type": at least twice the body text

PROBE = """
(() => {
  const root = document.documentElement;
  const width = root.clientWidth;  // the viewport without its vertical scrollbar
  const box = (element) => { const r = element.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width}; };
  const describe = (element) => `${element.tagName.toLowerCase()}#${element.id}.${element.className}: ${(element.textContent || '').trim().slice(0, 80)}`;
  const wide = () => [...document.body.querySelectorAll('*')]
    .filter((element) => { const r = element.getBoundingClientRect(); return r.width > 0 && (r.right > width + 0.5 || r.left < -0.5); })
    .map(describe);
  const result = {innerWidth: window.innerWidth, innerHeight: window.innerHeight, clientWidth: width};
  const verdict = document.getElementById('verdict');
  result.verdict = verdict && box(verdict);
  result.facts = [...document.querySelectorAll('#first-screen h1, #first-screen .facts')].map(box);
  result.tiles = [...document.querySelectorAll('#verdict .tile')].map((tile) => ({
    class: tile.dataset.class, count: tile.querySelector('.count').textContent.trim(),
    label: tile.querySelector('.label').textContent.trim(), box: box(tile),
    fontSize: parseFloat(getComputedStyle(tile.querySelector('.count')).fontSize),
    background: getComputedStyle(tile).backgroundColor}));
  result.closed = {scrollWidth: root.scrollWidth, wide: wide()};
  document.querySelectorAll('details').forEach((details) => { details.open = true; });
  result.open = {scrollWidth: root.scrollWidth, wide: wide()};
  result.requirementRows = [...document.querySelectorAll('tr[id^="req-"]')].map((row) => ({
    id: row.id, verdict: row.cells[2].textContent.trim(),
    checks: [...row.cells[4].querySelectorAll('a[href^="#"]')].map((link) => {
      const check = document.getElementById(decodeURIComponent(link.getAttribute('href').slice(1)));
      return {href: link.getAttribute('href'), exists: !!check,
              outcome: check ? (check.querySelector('.badge') || {textContent: ''}).textContent.trim() : null,
              linksBack: !!check && !!check.querySelector(`a[href="#${row.id}"]`)};
    })}));
  result.badges = Object.fromEntries([...document.querySelectorAll('.badge')].map((badge) =>
    [badge.textContent.trim(), getComputedStyle(badge).backgroundColor + ' ' + getComputedStyle(badge).color]));
  result.totals = [...document.querySelectorAll('#totals tr[data-target]')].map((row) => ({
    target: row.dataset.target,
    cells: Object.fromEntries([...row.querySelectorAll('td[data-class]')].map((cell) =>
      [cell.dataset.class, {count: cell.textContent.trim(), background: getComputedStyle(cell).backgroundColor}]))}));
  const out = document.createElement('pre');
  out.id = 'probe-result';
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
})();
"""
PROBE_RESULT = re.compile(r'<pre id="probe-result">(.*?)</pre>', re.S)


def chromium(base: list[str], page: Path, *output: str, fragment: str = "") -> str:
    """One headless Chromium run on `page` (at `#fragment` if given) at 1280 x 800; its stdout (the
    DOM with --dump-dom)."""
    command = [
        CHROMIUM,
        *base[1:],
        "--disable-quic",
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        *output,
        page.as_uri() + (f"#{fragment}" if fragment else ""),
    ]
    return run_headless(command, BROWSER_TIMEOUT)


def probe(base: list[str], page: Path, scratch: Path) -> dict[str, Any]:
    """The probe's figures for `page`, measured on a copy with the probe script injected."""
    copy = scratch / f"probe-{page.name}"
    copy.write_text(
        page.read_text(encoding="utf-8").replace("</body>", f"<script>{PROBE}</script></body>"),
        encoding="utf-8",
    )
    dom = chromium(base, copy, "--dump-dom")
    match = PROBE_RESULT.search(dom)
    assert match, f"the probe wrote no result; Chromium printed:\n{dom[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def screenshot(base: list[str], page: Path, png: Path, kept_as: str | None = None) -> None:
    """The first 1280 x 800 of `page` as `png`; in CI also $KEELHAUL_ARTIFACT_DIR/report/<kept_as>."""
    chromium(base, page, f"--screenshot={png}")
    assert png.is_file(), "Chromium wrote no screenshot"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == VIEWPORT
    assert len(data) > 20_000, "a blank page, not the report"
    artifacts = os.environ.get("KEELHAUL_ARTIFACT_DIR")  # CI keeps this folder
    if artifacts:
        kept = Path(artifacts) / "report" / (kept_as or png.name)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, kept)


def assert_fits(figures: dict[str, Any]) -> None:
    """No horizontal scrolling: nothing wider than the viewport, closed or with every <details> open."""
    assert figures["innerWidth"] == VIEWPORT[0]
    for state in ("closed", "open"):
        assert figures[state]["wide"] == [], (
            f"wider than the viewport ({state}): {figures[state]['wide'][:5]}"
        )
        assert figures[state]["scrollWidth"] <= figures["clientWidth"], state


def assert_first_screen(figures: dict[str, Any], summary: dict[str, int]) -> None:
    """Target, date and version, then the verdict per class in large type, all in the first viewport
    (--dump-dom lays the page out in a window whose chrome takes some height: the stricter bound)."""
    height = min(VIEWPORT[1], figures["innerHeight"])
    verdict = figures["verdict"]
    assert verdict is not None and verdict["top"] >= 0 and verdict["bottom"] <= height, verdict
    facts = figures["facts"]
    assert facts and all(fact["top"] >= 0 and fact["bottom"] <= verdict["top"] for fact in facts), facts
    tiles = {tile["class"]: tile for tile in figures["tiles"]}
    assert set(tiles) == {"FAIL", "WARN", "ROBUSTNESS", "N/A", "SKIP", "ERROR", "PASS"}
    for outcome, tile in tiles.items():
        assert tile["count"] == str(summary[outcome]), (outcome, tile)
        assert tile["box"]["bottom"] <= height and tile["box"]["right"] <= figures["clientWidth"], tile
        assert tile["fontSize"] >= LARGE_TYPE_PX, tile
    assert tiles["FAIL"]["label"] == "MUST failures"
    assert tiles["SKIP"]["background"] != tiles["FAIL"]["background"]
    assert tiles["SKIP"]["background"] != tiles["N/A"]["background"]


def assert_rows_link_to_checks(figures: dict[str, Any]) -> set[str]:
    """Every failed requirement row links to checks that exist, one of them a FAIL that links back; no
    row's link leads nowhere and every linked check names the row. Returns the failed rows' ids."""
    rows = {row["id"]: row for row in figures["requirementRows"]}
    failed = {row_id for row_id, row in rows.items() if row["verdict"] == "FAIL"}
    for row_id in failed:
        links = rows[row_id]["checks"]
        assert links and all(link["exists"] for link in links), rows[row_id]
        assert any(link["outcome"] == "FAIL" and link["linksBack"] for link in links), rows[row_id]
    dangling = [(row["id"], link) for row in rows.values() for link in row["checks"] if not link["exists"]]
    assert dangling == []
    one_way = [
        (row["id"], link["href"]) for row in rows.values() for link in row["checks"] if not link["linksBack"]
    ]
    assert one_way == []
    return failed


def opened_details(base: list[str], page: Path, fragment: str) -> list[str]:
    """The ids of the <details> that are open after following a link to `#fragment`: Chromium reveals
    a folded target by opening its <details>, so links into folded rows work without scripts."""
    dom = chromium(base, page, "--dump-dom", "--virtual-time-budget=2000", fragment=fragment)
    return re.findall(r'<details id="([^"]+)" open=""', dom)
