# ruff: noqa: E501  (inline CSS and HTML template lines, kept whole)
"""report.html: the page a vendor hands a customer. One self-contained file (inline CSS, no scripts, no
external links). The first screen says who was checked, when, by which keelhaul, and the verdict per
outcome class in large type; then every finding with its requirement, the quoted sentence and the
evidence (expected vs got, the HTTP exchange, credentials redacted); passes, N/A and skips are folded
below. Requirement rows link to their checks and each check links back to its requirements."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from conformance.outcomes import SEVERITY
from conformance.reports.english import (
    cited_language,
    english_citation,
    english_cited,
    english_source,
    quote_language,
)
from conformance.reports.model import UNTESTED, RequirementVerdict, RunResult, TestResult

# Colour says the class at a glance: FAIL red, WARN amber, ROBUSTNESS purple, ERROR dark, PASS green,
# N/A neutral (white, outlined), SKIP grey, UNTESTED dashed. SKIP never looks like FAIL.
STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:80rem;color:#1b1f24;padding:1rem 1.5rem 3rem;line-height:1.4}
h1{font-size:1.7rem;margin:.1rem 0 .3rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem;font-size:1.35rem}h3{font-size:1.05rem;margin:.6rem 0 .4rem}
p,li,td,th,h1,h2,h3,summary,blockquote,code,a,dd,span{overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-size:.9rem;table-layout:fixed}th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.muted{color:#57606a}.small{font-size:.85rem}
a{color:#0550ae}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;font-weight:600;font-size:.8rem;white-space:nowrap;border:1px solid transparent}
.PASS{background:#dafbe1;color:#116329}.FAIL{background:#ffebe9;color:#a40e26;border-color:#ff8182}
.WARN{background:#fff8c5;color:#7d4e00;border-color:#d4a72c}.ROBUSTNESS{background:#fbefff;color:#6e2e9e;border-color:#c297ff}
.ERROR{background:#24292f;color:#ffffff}.NA{background:#ffffff;color:#424a53;border-color:#afb8c1}
.SKIP{background:#eaeef2;color:#6e7781}.UNTESTED{background:transparent;color:#8c959f;border:1px dashed #afb8c1}
.eyebrow{margin:0;text-transform:uppercase;letter-spacing:.06em;font-size:.8rem;color:#57606a}
.facts{display:flex;flex-wrap:wrap;gap:.2rem 1.4rem;margin:.3rem 0 .8rem;font-size:.92rem}.facts b{color:#57606a;font-weight:600}
.verdict{border:2px solid #d0d7de;border-radius:.6rem;padding:.8rem 1rem}.verdict.failed{border-color:#cf222e}.verdict.passed{border-color:#1a7f37}
.overall{font-size:1.6rem;font-weight:700;margin:0 0 .6rem}.verdict.failed .overall{color:#a40e26}.verdict.passed .overall{color:#116329}
.tiles{display:flex;flex-wrap:wrap;gap:.6rem;list-style:none;margin:0;padding:0}
.tiles li{flex:1 1 0;min-width:8.5rem}.tile{height:100%;border:1px solid transparent;border-radius:.5rem;padding:.45rem .7rem;text-decoration:none;display:block}
.tile .count{display:block;font-size:2.6rem;font-weight:700;line-height:1.1}.tile .label{display:block;font-weight:600}.tile .hint{display:block;font-size:.75rem;opacity:.85}
blockquote{border-left:.25rem solid #d0d7de;margin:.4rem 0;padding:.1rem .8rem;color:#1b1f24;font-style:italic}
pre{background:#f6f8fa;padding:.6rem;font-size:.8rem;white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0}
.finding{border:1px solid #d0d7de;border-left-width:.4rem;border-radius:.4rem;padding:.2rem 1rem .8rem;margin:1rem 0}
.finding.FAIL{border-left-color:#cf222e;background:none;color:inherit}.finding.ROBUSTNESS{border-left-color:#8250df;background:none;color:inherit}
.finding.ERROR{border-left-color:#24292f;background:none;color:inherit}.finding.WARN{border-left-color:#d4a72c;background:none;color:inherit}
.scale{display:inline-block;background:#ddf4ff;color:#0a3069;border-radius:.3rem;padding:.05rem .4rem;font-size:.85rem}
details{margin:.4rem 0}summary{cursor:pointer;font-weight:600}
.checks a{margin-right:.5rem;display:inline-block}
"""

LABELS = {
    "FAIL": ("MUST failures", "a MUST or documented promise broken"),
    "WARN": ("Warnings", "a SHOULD or MAY not met"),
    "ROBUSTNESS": ("Robustness", "no sentence forbids it; no serious registry does it"),
    "N/A": ("Not applicable", "feature declared absent, or another product's promise"),
    "SKIP": ("Skipped", "this run could not decide"),
    "ERROR": ("Errors", "the suite itself broke"),
    "PASS": ("Passed", "the requirement held"),
}
COUNTED = {  # (one, several) for the verdict's sentence
    "FAIL": ("MUST failure", "MUST failures"),
    "WARN": ("warning", "warnings"),
    "ROBUSTNESS": ("robustness finding", "robustness findings"),
    "N/A": ("not applicable", "not applicable"),
    "SKIP": ("skipped", "skipped"),
    "ERROR": ("suite error", "suite errors"),
    "PASS": ("passed", "passed"),
}
TILE_ORDER = ("FAIL", "WARN", "ROBUSTNESS", "N/A", "SKIP", "ERROR", "PASS")
FINDINGS = ("FAIL", "ROBUSTNESS", "ERROR", "WARN")  # the order findings are shown in: the registry's first
FOLDED_GROUPS = (("PASS", "Passed"), ("N/A", "Not applicable"), ("SKIP", "Skipped"), (UNTESTED, "Untested"))
INLINE_CHECK_LINKS = 8  # a requirement row lists this many check links, the rest folded


def css_class(state: str) -> str:
    return state.replace("/", "")


def _badge(state: str) -> str:
    return f'<span class="badge {escape(css_class(state))}">{escape(state)}</span>'


def check_anchor(nodeid: str) -> str:
    """The id of a check's entry: readable, and free of characters a URL fragment would mangle."""
    return "check-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")


def requirement_anchor(requirement_id: str) -> str:
    return "req-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", requirement_id)


def _requirement_link(requirement_id: str, requirements: dict[str, RequirementVerdict]) -> str:
    """A link to the requirement's row, and to its area's row (which aggregates it) when it has one."""
    if requirement_id not in requirements:
        return escape(requirement_id)
    link = f'<a href="#{requirement_anchor(requirement_id)}">{escape(requirement_id)}</a>'
    parent = requirements[requirement_id].parent
    if parent and parent in requirements:
        link += f' <span class="muted small">(in <a href="#{requirement_anchor(parent)}">{escape(parent)}</a>)</span>'
    return link


def _requirement_links(ids: list[str], requirements: dict[str, RequirementVerdict]) -> str:
    return ", ".join(_requirement_link(i, requirements) for i in ids)


def _headers(headers: dict[str, Any] | list[Any] | None) -> str:
    if not headers:
        return "(none)"
    items = headers.items() if isinstance(headers, dict) else headers
    return "\n".join(f"{name}: {value}" for name, value in items)


def _exchange_html(index: int, exchange: dict[str, Any], open_: bool) -> str:
    status = exchange.get("status")
    outcome = str(status) if status is not None else f"transport error: {exchange.get('error')}"
    note = f" <span class='muted'>({escape(str(exchange['note']))})</span>" if exchange.get("note") else ""
    body = exchange.get("response_text")
    size = exchange.get("request_body_size")
    parts = [
        f"<details{' open' if open_ else ''}><summary><code>{index}. {escape(str(exchange.get('method')))} "
        f"{escape(str(exchange.get('url')))} → {escape(outcome)}</code>{note}</summary>",
        "<div class='small'><b>Request headers</b>"
        f"{' (body: ' + str(size) + ' bytes)' if size else ''}</div>",
        f"<pre>{escape(_headers(exchange.get('request_headers')))}</pre>",
        f"<div class='small'><b>Response {escape(outcome)}, headers</b></div>",
        f"<pre>{escape(_headers(exchange.get('response_headers')))}</pre>",
    ]
    if body:
        parts += ["<div class='small'><b>Response body</b> (first bytes)</div>", f"<pre>{escape(body)}</pre>"]
    parts.append("</details>")
    return "\n".join(parts)


def _scale_html(scale: str) -> str:
    return (
        f"<span class='scale' title='what this run really tested'>Tested scaled: {escape(scale)}</span>"
        if scale
        else ""
    )


def _finding_html(test: TestResult, requirements: dict[str, RequirementVerdict]) -> str:
    """A finding: its requirement and sentence, expected vs got, the HTTP exchanges (the last, which
    shows the finding, open). Only an ERROR (the suite broke) carries a traceback, folded away."""
    judged_id = test.judged or next((r for r in test.requirements if r in requirements), None)
    judged = requirements.get(judged_id or "")
    sentence_html = ""
    if test.sentence:
        label = "Why it matters" if test.level == "ROBUSTNESS" else "The sentence it enforces"
        language = cited_language(test.cited)
        where = english_cited(test.cited)
        sentence_html = (
            f"<p class='small'><b>{label}</b>{' (' + escape(where) + ')' if where else ''}:</p>"
            f"<blockquote lang='{language}'>{escape(test.sentence)}</blockquote>"
        )
    requirement_html = ""
    if judged is not None:
        requirement_html = (
            f"<p><b>Requirement {_requirement_link(judged.id, requirements)}</b> "
            f"({escape(test.level or judged.level)}): {escape(judged.text)}</p>"
        )
    others = [r for r in test.requirements if r != judged_id]
    also = (
        f"<p class='small muted'>Also covers: {_requirement_links(others, requirements)}</p>"
        if others
        else ""
    )
    exchanges = test.to_json()["exchanges"]
    exchange_html = (
        "\n".join(_exchange_html(i + 1, e, i == len(exchanges) - 1) for i, e in enumerate(exchanges))
        or "<p class='muted small'>No HTTP exchange was recorded.</p>"
    )
    traceback = (
        f"<details><summary>Traceback (the suite itself broke)</summary><pre>{escape(test.traceback)}</pre></details>"
        if test.traceback
        else ""
    )
    return (
        f"<article class='finding {css_class(test.outcome)}' id='{check_anchor(test.nodeid)}'>"
        f"<h3>{_badge(test.outcome)} {escape(judged_id or '')} · <code>{escape(test.name)}</code></h3>"
        f"{requirement_html}{sentence_html}{also}"
        f"<p><b>Expected vs got:</b> {escape(test.message)}</p>{_scale_html(test.scale)}{traceback}"
        f"<p class='small'><b>Check</b> <code>{escape(test.nodeid)}</code>: {escape(test.description)}</p>"
        f"<p class='small'><b>HTTP exchanges</b> ({len(exchanges)}, credentials redacted):</p>{exchange_html}</article>"
    )


def _cleanup_html(run: RunResult) -> str:
    """Everything the run created and whether it went; what stayed, with how to remove it."""
    if not run.cleanup:
        return "<p>The run created nothing that outlives it.</p>"
    left = run.left_behind
    head = (
        "<p>Nothing was left behind.</p>"
        if not left
        else f"<p><b>{len(left)} item(s) left behind</b> (of {len(run.cleanup)} created):</p>"
    )
    rows = "\n".join(
        f"<tr><td>{escape(str(e['repository']))}</td><td>{escape(str(e['kind']))}</td>"
        f"<td><code>{escape(str(e['name']))}</code></td><td>{'removed' if e['removed'] else '<b>left</b>'}</td>"
        f"<td class='small'>{escape(str(e['answer']))}</td><td class='small'>{escape(str(e.get('remedy') or ''))}</td></tr>"
        for e in run.cleanup
    )
    return (
        f"{head}<details><summary>Cleanup ledger ({len(run.cleanup)} items)</summary><table><tr><th>Repository</th>"
        f"<th>Kind</th><th>Name</th><th>State</th><th>Answer</th><th>How to remove</th></tr>{rows}</table></details>"
    )


def _check_links(verdict: RequirementVerdict, tests: dict[str, TestResult]) -> str:
    """Links to every check of a requirement, findings first; past a handful the rest are folded."""
    checks = [tests[n] for n in verdict.tests if n in tests]
    checks.sort(key=lambda t: SEVERITY.index(t.outcome) if t.outcome in SEVERITY else len(SEVERITY))
    links = [
        f"<a href='#{check_anchor(t.nodeid)}' title='{escape(t.nodeid)}'>{_badge(t.outcome)} {escape(t.name)}</a>"
        for t in checks
    ]
    if not links:
        return "<span class='muted'>no check</span>"
    shown, folded = links[:INLINE_CHECK_LINKS], links[INLINE_CHECK_LINKS:]
    html = "".join(shown)
    if folded:
        html += f"<details><summary class='small'>{len(folded)} more</summary>{''.join(folded)}</details>"
    return f"<div class='checks'>{html}</div>"


def _requirement_row(verdict: RequirementVerdict, tests: dict[str, TestResult]) -> str:
    cited = english_citation(verdict.document, verdict.anchor) or english_source(verdict.source)
    sentence = ""
    if verdict.quote:
        sentence = f"<blockquote lang='{quote_language(verdict.document)}' class='small'>{escape(verdict.quote)}</blockquote>"
    elif verdict.why:
        sentence = f"<p class='small muted'>No spec sentence; why: {escape(verdict.why)}</p>"
    reasons = ""
    if verdict.verdict in ("N/A", "SKIP") and verdict.reasons:
        reasons = (
            f"<p class='small muted'>{escape(verdict.verdict)}: {escape('; '.join(verdict.reasons))}</p>"
        )
    scales = sorted({tests[n].scale for n in verdict.tests if n in tests and tests[n].scale})
    scale = "".join(f"<p>{_scale_html(s)}</p>" for s in scales)
    area = f"<br><span class='muted small'>in {escape(verdict.parent)}</span>" if verdict.parent else ""
    return (
        f"<tr id='{requirement_anchor(verdict.id)}'><td><b>{escape(verdict.id)}</b>{area}</td><td>{escape(verdict.level)}</td>"
        f"<td>{_badge(verdict.verdict)}</td><td>{escape(verdict.text)}<br><span class='muted small'>{escape(cited)}</span>"
        f"{sentence}{reasons}{scale}</td><td class='small'>{_check_links(verdict, tests)}</td></tr>"
    )


REQUIREMENT_HEAD = (
    "<table><colgroup><col style='width:11%'><col style='width:8%'><col style='width:9%'><col style='width:42%'>"
    "<col style='width:30%'></colgroup><tr><th>Requirement</th><th>Level</th><th>Verdict</th><th>Promise and source</th><th>Checks</th></tr>"
)


def _requirements_html(run: RunResult, tests: dict[str, TestResult]) -> str:
    """Requirements with a finding in the open; the passed, N/A, skipped and untested ones folded."""
    with_findings = [v for v in run.requirements if v.verdict in FINDINGS]
    with_findings.sort(key=lambda v: SEVERITY.index(v.verdict))
    parts = []
    if with_findings:
        rows = "\n".join(_requirement_row(v, tests) for v in with_findings)
        parts.append(f"<h3>With findings ({len(with_findings)})</h3>{REQUIREMENT_HEAD}{rows}</table>")
    else:
        parts.append("<p>No requirement has a finding.</p>")
    for state, title in FOLDED_GROUPS:
        group = [v for v in run.requirements if v.verdict == state]
        if not group:
            continue
        rows = "\n".join(_requirement_row(v, tests) for v in group)
        parts.append(
            f"<details id='requirements-{css_class(state).lower()}'><summary>{title} ({len(group)})</summary>"
            f"{REQUIREMENT_HEAD}{rows}</table></details>"
        )
    return "\n".join(parts)


def _checks_html(run: RunResult, requirements: dict[str, RequirementVerdict]) -> str:
    """Every check, folded; a finding's row points to its card above, every other row is the check's anchor."""
    rows = []
    for test in run.tests:
        anchor = check_anchor(test.nodeid)
        if test.outcome in FINDINGS:
            name = f"<a href='#{anchor}'><code>{escape(test.nodeid)}</code></a>"
            row_id = ""
        else:
            name = f"<code>{escape(test.nodeid)}</code>"
            row_id = f" id='{anchor}'"
        scale = f"<br>{_scale_html(test.scale)}" if test.scale else ""
        scale += "".join(f"<br>Measured {escape(k)}: {escape(v)}" for k, v in test.measured.items())
        rows.append(
            f"<tr{row_id}><td>{name}<br><span class='muted small'>{escape(test.description)}</span></td>"
            f"<td>{_badge(test.outcome)}</td><td>{_requirement_links(test.requirements, requirements)}</td>"
            f"<td class='small'>{escape(test.message)}{scale}</td></tr>"
        )
    return (
        f"<details id='all-checks'><summary>All {len(run.tests)} checks</summary><table><colgroup><col style='width:40%'>"
        "<col style='width:10%'><col style='width:15%'><col style='width:35%'></colgroup>"
        "<tr><th>Check</th><th>Outcome</th><th>Requirements</th><th>Reason or finding</th></tr>"
        f"{''.join(rows)}</table></details>"
    )


def _overall(run: RunResult) -> tuple[str, str]:
    """(css class, sentence) of the run's verdict: failed when a class in --fail-on occurred."""
    summary = run.summary
    if run.ok:
        return (
            "passed",
            f"Passed: no {', '.join(run.fail_on) or 'failing class'} in {summary['total']} checks",
        )
    counted = [
        f"{summary[c]} {COUNTED[c][summary[c] != 1]}" for c in TILE_ORDER if c in run.fail_on and summary[c]
    ]
    return "failed", "Failed: " + ", ".join(counted)


def _date(iso: str) -> str:
    """`2026-12-03T13:54:41+00:00` -> `2026-12-03 13:54:41 UTC` (runs record UTC)."""
    return iso.replace("T", " ").replace("+00:00", " UTC")


def _tiles(run: RunResult) -> str:
    summary = run.summary
    tiles = []
    for state in TILE_ORDER:
        label, hint = LABELS[state]
        target = "#findings" if state in FINDINGS else "#requirements"
        tiles.append(
            f"<li><a class='tile {css_class(state)}' href='{target}' data-class='{escape(state)}'>"
            f"<span class='count'>{summary[state]}</span><span class='label'>{escape(label)}</span>"
            f"<span class='hint'>{escape(hint)}</span></a></li>"
        )
    return f"<ul class='tiles'>{''.join(tiles)}</ul>"


def render_html(run: RunResult) -> str:
    target = run.target
    tests = {t.nodeid: t for t in run.tests}
    requirements = {v.id: v for v in run.requirements}
    findings = sorted(
        (t for t in run.tests if t.outcome in FINDINGS), key=lambda t: FINDINGS.index(t.outcome)
    )
    state, sentence = _overall(run)
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in target.get("notes", []))
    name = escape(str(target.get("name")))
    options = [f"selection {run.options['selection']}"] if run.options.get("selection") else []
    options += ["read-only run"] if run.options.get("read_only") else []
    options += ["with --run-slow (real-size limits)"] if run.options.get("run_slow") else []
    finding_html = (
        "\n".join(_finding_html(t, requirements) for t in findings)
        or "<p>No finding: every check that ran held.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conformance report: {name}</title>
<style>{STYLE}</style></head><body>
<header id="first-screen">
<p class="eyebrow">Registry conformance report</p>
<h1>{name}</h1>
<div class="facts">
<span><b>Target</b> <code>{escape(str(target.get("url")))}</code> ({escape(str(target.get("kind")))})</span>
<span><b>Date</b> {escape(_date(run.started))}</span>
<span><b>keelhaul</b> {escape(run.keelhaul_version or "unknown")}</span>
<span><b>Run</b> <code>{escape(run.run_id)}</code>, {run.duration:.1f} s{escape("; " + "; ".join(options)) if options else ""}</span>
</div>
<section id="verdict" class="verdict {state}" aria-label="Verdict">
<p class="overall">{escape(sentence)}</p>
{_tiles(run)}
<p class="small muted">Counts are checks; {len(run.requirements)} requirements are listed below. The run fails on:
{escape(", ".join(run.fail_on) or "nothing")} (--fail-on).</p>
<nav class="small" aria-label="Sections"><a href="#findings">Findings</a> · <a href="#requirements">Requirements</a> ·
<a href="#checks">Checks</a> · <a href="#cleanup">What the run left behind</a> · <a href="#classes">How to read the classes</a></nav>
{f'<ul class="small muted">{notes}</ul>' if notes else ""}
</section>
</header>
<main>
<section id="findings"><h2>Findings ({len(findings)})</h2>
{finding_html}
</section>
<section id="requirements"><h2>Requirements</h2>
<p class="muted small">A requirement's verdict is the worst class among its checks (ERROR, FAIL, ROBUSTNESS,
WARN, PASS, N/A, SKIP); UNTESTED when no check covers it. Each row quotes the sentence it enforces, in the
language of its source, and links to its checks.</p>
{_requirements_html(run, tests)}
</section>
<section id="checks"><h2>Checks</h2>
{_checks_html(run, requirements)}
</section>
<section id="cleanup"><h2>What the run left behind</h2>
{_cleanup_html(run)}
</section>
<section id="classes"><h2>How to read the classes</h2>
<ul class="small">{"".join(f"<li>{_badge(c)} {escape(LABELS[c][0])}: {escape(LABELS[c][1])}.</li>" for c in TILE_ORDER)}
<li>{_badge(UNTESTED)} no check covers the requirement.</li>
<li><span class='scale'>Tested scaled</span> a limit check ran at the target's small declared limit; the
documented real size runs only with --run-slow.</li></ul>
</section>
</main>
</body></html>
"""
