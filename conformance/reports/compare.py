"""`keelhaul report compare RUN...`: several runs (one per target) as one requirement × target matrix.

Rows follow the catalogue order of the first run, with IDs only later runs know appended; a
requirement a run does not list at all shows as "not listed" (an older catalogue), not as UNTESTED.
"""

from __future__ import annotations

from html import escape

from conformance.reports.html import STYLE, _badge
from conformance.reports.matrix import VERDICT_MARK
from conformance.reports.model import OUTCOMES, RunResult


def _column_titles(runs: list[RunResult]) -> list[str]:
    titles = []
    for run in runs:
        title = str(run.target.get("name") or run.run_id)
        titles.append(title if title not in titles else f"{title} ({run.run_id})")
    return titles


def _totals(run: RunResult, separator: str) -> str:
    summary = run.summary
    return separator.join(f"{summary[c]} {c}" for c in OUTCOMES if summary[c])


def comparison_rows(runs: list[RunResult]) -> list[tuple[str, str, list[str | None]]]:
    """(requirement id, text, verdict per run or None when the run does not list it)."""
    order: list[str] = []
    text: dict[str, str] = {}
    for run in runs:
        for verdict in run.requirements:
            if verdict.id not in text:
                order.append(verdict.id)
                text[verdict.id] = verdict.text
    by_run = [{v.id: v.verdict for v in run.requirements} for run in runs]
    return [(rid, text[rid], [verdicts.get(rid) for verdicts in by_run]) for rid in order]


def compare_markdown(runs: list[RunResult]) -> str:
    titles = _column_titles(runs)
    lines = [
        "# Requirement × target",
        "",
        "Runs: "
        + "; ".join(
            f"{t}: {r.run_id} ({r.target.get('url')}, {r.started})" for t, r in zip(titles, runs, strict=True)
        ),
        "",
        "| Requirement | " + " | ".join(titles) + " | Promise |",
        "|---|" + "---|" * len(titles) + "---|",
    ]
    for rid, text, verdicts in comparison_rows(runs):
        cells = [VERDICT_MARK[v] if v else "not listed" for v in verdicts]
        promise = text.replace("|", "\\|")
        lines.append(f"| {rid} | " + " | ".join(cells) + f" | {promise} |")
    lines.append("")
    lines.append("| Totals | " + " | ".join(_totals(r, ", ") for r in runs) + " | |")
    return "\n".join(lines) + "\n"


def compare_html(runs: list[RunResult]) -> str:
    titles = _column_titles(runs)
    header = "".join(
        f"<th>{escape(t)}<br><span class='muted small'>"
        f"{escape(str(r.target.get('kind')))} · {escape(r.run_id)}</span></th>"
        for t, r in zip(titles, runs, strict=True)
    )
    rows = []
    for rid, text, verdicts in comparison_rows(runs):
        cells = "".join(
            f"<td>{_badge(v) if v else '<span class=muted>not listed</span>'}</td>" for v in verdicts
        )
        differs = len({v for v in verdicts}) > 1
        style = " style='background:#fffbe6'" if differs else ""
        rows.append(
            f"<tr{style}><td><b>{escape(rid)}</b></td>{cells}<td class='small'>{escape(text)}</td></tr>"
        )
    totals = "".join(f"<td class='small'>{_totals(r, '<br>')}</td>" for r in runs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keelhaul: requirement × target</title>
<style>{STYLE}</style></head>
<body><h1>Requirement × target</h1>
<p class="muted">Rows where the targets disagree are highlighted. Each column is one conformance run.</p>
<table><tr><th>Requirement</th>{header}<th>Promise</th></tr>
{"".join(rows)}
<tr><th>Checks</th>{totals}<td></td></tr></table></body></html>
"""
