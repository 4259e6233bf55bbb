# ruff: noqa: E501  (inline CSS and HTML template lines, kept whole)
"""report.html: one self-contained page (inline CSS, no scripts, no external links) a vendor can hand
to a customer. It leads with the verdict per requirement and its promise, then every failure with
the HTTP exchanges that show it (credentials redacted), then the full list of checks."""

from __future__ import annotations

from html import escape
from typing import Any

from conformance.outcomes import SEVERITY
from conformance.reports.model import OUTCOMES, VERDICTS, RequirementVerdict, RunResult, TestResult

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:78rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.muted{color:#57606a}.small{font-size:.85rem}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;font-weight:600;font-size:.8rem;white-space:nowrap}
.PASS{background:#dafbe1;color:#116329}.FAIL,.ERROR{background:#ffebe9;color:#a40e26}
.ROBUSTNESS{background:#fbefff;color:#6e2e9e}.WARN{background:#fff8c5;color:#7d4e00}
.NA,.SKIP{background:#eaeef2;color:#57606a}.UNTESTED{background:#eaeef2;color:#8c959f}
blockquote{border-left:.25rem solid #d0d7de;margin:.4rem 0;padding:.1rem .8rem;color:#1b1f24}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem;white-space:pre-wrap;word-break:break-all}
.failure{border:1px solid #ffcecb;border-radius:.4rem;padding:.2rem 1rem 1rem;margin:1rem 0}
.summary span{margin-right:1rem}details{margin:.3rem 0}summary{cursor:pointer}
"""


def _badge(state: str) -> str:
    return f'<span class="badge {escape(state.replace("/", ""))}">{escape(state)}</span>'


def _headers(headers: dict[str, Any] | None) -> str:
    if not headers:
        return "(none)"
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def _exchange_html(index: int, exchange: dict[str, Any]) -> str:
    status = exchange.get("status")
    outcome = str(status) if status is not None else f"transport error: {exchange.get('error')}"
    note = f" <span class='muted'>({escape(str(exchange['note']))})</span>" if exchange.get("note") else ""
    body = exchange.get("response_text")
    size = exchange.get("request_body_size")
    parts = [
        f"<details><summary><code>{index}. {escape(str(exchange.get('method')))} "
        f"{escape(str(exchange.get('url')))} → {escape(outcome)}</code>{note}</summary>",
        "<div class='small'><b>Request headers</b>"
        f"{' (body: ' + str(size) + ' bytes)' if size else ''}</div>",
        f"<pre>{escape(_headers(exchange.get('request_headers')))}</pre>",
        "<div class='small'><b>Response headers</b></div>",
        f"<pre>{escape(_headers(exchange.get('response_headers')))}</pre>",
    ]
    if body:
        parts += ["<div class='small'><b>Response body</b> (first 4 KiB)</div>", f"<pre>{escape(body)}</pre>"]
    parts.append("</details>")
    return "\n".join(parts)


def _failure_html(test: TestResult, catalogue_text: dict[str, str]) -> str:
    """A finding: the requirement and its sentence, expected vs got, the HTTP exchanges. Only an
    ERROR (the suite broke) carries a traceback, folded away."""
    requirements = "".join(
        f"<li><b>{escape(r)}</b>: {escape(catalogue_text.get(r, ''))}</li>" for r in test.requirements
    )
    exchanges = test.to_json()["exchanges"]
    exchange_html = (
        "\n".join(_exchange_html(i + 1, e) for i, e in enumerate(exchanges))
        or "<p class='muted'>No HTTP exchange was recorded.</p>"
    )
    judged = ""
    if test.judged:
        label = "Why it matters" if test.level == "ROBUSTNESS" else "The sentence"
        judged = (
            f"<p><b>Judged by {escape(test.judged)}</b> ({escape(str(test.level))}; {escape(str(test.cited))})</p>"
            f"<p class='small'><b>{label}:</b></p><blockquote>{escape(str(test.sentence))}</blockquote>"
        )
    traceback = (
        f"<details><summary>Traceback (the suite itself broke)</summary><pre>{escape(test.traceback)}</pre></details>"
        if test.traceback
        else ""
    )
    return (
        f"<div class='failure' id='{escape(test.nodeid)}'><h3>{_badge(test.outcome)} {escape(test.name)}</h3>"
        f"<p>{escape(test.description)}</p>{judged}<ul>{requirements}</ul>"
        f"<p><b>Expected vs got:</b> {escape(test.message)}</p>{traceback}"
        f"<p><b>HTTP exchanges</b> ({len(exchanges)}, credentials redacted):</p>{exchange_html}</div>"
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
        f"{head}<details{' open' if left else ''}><summary>Cleanup ledger</summary><table><tr><th>Repository</th>"
        f"<th>Kind</th><th>Name</th><th>State</th><th>Answer</th><th>How to remove</th></tr>{rows}</table></details>"
    )


def _requirement_row(verdict: RequirementVerdict) -> str:
    refs = ", ".join(verdict.refs)
    cited = f"{verdict.document} {verdict.anchor}" if verdict.document else "no spec sentence"
    where = escape(cited) + (f"<br><span class='muted'>{escape(refs)}</span>" if refs else "")
    sentence = verdict.quote or (f"why: {verdict.why}" if verdict.why else "")
    if sentence:
        where += f"<br><span class='muted'>“{escape(sentence)}”</span>"
    if verdict.verdict in ("N/A", "SKIP") and verdict.reasons:
        checks = escape(verdict.verdict) + ": " + escape("; ".join(verdict.reasons))
    else:
        checks = ", ".join(f"{n} {escape(o)}" for o, n in verdict.counts.items() if n) or "no check"
    indent = "&nbsp;&nbsp;" if verdict.parent else ""
    return (
        f"<tr><td>{indent}<b>{escape(verdict.id)}</b></td><td>{escape(verdict.level)}</td>"
        f"<td>{_badge(verdict.verdict)}</td><td>{escape(verdict.text)}</td>"
        f"<td class='small'>{where}</td><td class='small'>{checks}</td></tr>"
    )


def render_html(run: RunResult) -> str:
    summary = run.summary
    target = run.target
    catalogue_text = {v.id: v.text for v in run.requirements}
    failures = [t for t in run.tests if t.outcome in ("FAIL", "ROBUSTNESS", "ERROR", "WARN")]
    failures.sort(key=lambda t: SEVERITY.index(t.outcome))
    requirement_counts: dict[str, int] = {}
    for v in run.requirements:
        requirement_counts[v.verdict] = requirement_counts.get(v.verdict, 0) + 1
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in target.get("notes", []))
    rows = "\n".join(_requirement_row(v) for v in run.requirements)
    checks = "\n".join(
        f"<tr><td><code>{escape(t.nodeid)}</code><br><span class='muted small'>{escape(t.description)}</span></td>"
        f"<td>{_badge(t.outcome)}</td><td>{escape(', '.join(t.requirements))}</td>"
        f"<td class='small'>{escape(t.message)}</td></tr>"
        for t in run.tests
    )
    failure_html = "\n".join(_failure_html(t, catalogue_text) for t in failures) or "<p>No finding.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keelhaul conformance: {escape(str(target.get("name")))}</title>
<style>{STYLE}</style></head><body>
<h1>Registry conformance report: {escape(str(target.get("name")))} {_badge("PASS" if run.ok else "FAIL")}</h1>
<p class="muted">{escape(str(target.get("kind")))} registry at <code>{escape(str(target.get("url")))}</code> ·
run <code>{escape(run.run_id)}</code> · {escape(run.started)} · {run.duration:.1f} s ·
keelhaul {escape(run.keelhaul_version)} · results schema {escape(run.schema_version)}
{" · read-only run" if run.options.get("read_only") else ""}</p>
<p class="summary"><span><b>Checks:</b></span>{"".join(f"<span>{_badge(k)} {summary[k]}</span>" for k in OUTCOMES)}</p>
<p class="summary"><span><b>Requirements:</b></span>{"".join(f"<span>{_badge(k)} {requirement_counts.get(k, 0)}</span>" for k in VERDICTS)}</p>
<p class="muted small">The run fails on: {escape(", ".join(run.fail_on) or "nothing")} (--fail-on).
FAIL: a MUST (or a product's documented promise) broken; WARN: a SHOULD or MAY not met; ROBUSTNESS: no
spec sentence forbids it, but no serious registry does it; N/A: the requirement does not apply to this
target (its profile declares the feature absent, or it is another product's promise); SKIP: this run
could not decide (no credentials, --read-only); ERROR: the suite itself broke.</p>
{f'<ul class="small">{notes}</ul>' if notes else ""}
<h2>Verdict per requirement</h2>
<p class="muted small">A requirement's verdict is the worst class among its checks (ERROR, FAIL, ROBUSTNESS,
WARN, PASS, N/A, SKIP); UNTESTED when no check covers it. Area rows (OCI-PULL, …) aggregate the finer IDs
indented below them. Each row quotes the sentence it enforces.</p>
<table><tr><th>ID</th><th>Level</th><th>Verdict</th><th>Promise</th><th>Source</th><th>Checks</th></tr>
{rows}</table>
<h2>Findings</h2>
{failure_html}
<h2>What the run left behind</h2>
{_cleanup_html(run)}
<h2>All checks</h2>
<table><tr><th>Check</th><th>Outcome</th><th>Requirements</th><th>Reason / message</th></tr>
{checks}</table>
</body></html>
"""
