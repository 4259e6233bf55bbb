"""`keelhaul report compare RUN...`: several runs (one per target) as one requirement × target matrix,
led by each target's totals per outcome class, coloured by class (the report's colours: SKIP grey, N/A
neutral, WARN amber, FAIL red, ROBUSTNESS purple, ERROR dark).

Rows follow the catalogue order of the first run, with IDs only later runs know appended; a
requirement a run does not list at all shows as "not listed" (an older catalogue), not as UNTESTED.
"""

from __future__ import annotations

from html import escape

from conformance.reports.html import LABELS, STYLE, _badge, css_class
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


def _verdict_word(run: RunResult) -> str:
    return "passed" if run.ok else "failed"


def totals_markdown(runs: list[RunResult], titles: list[str]) -> list[str]:
    """Checks per outcome class and target, and whether the run passed its --fail-on."""
    lines = [
        "| Target | " + " | ".join(OUTCOMES) + " | Checks | Verdict |",
        "|---|" + "---:|" * (len(OUTCOMES) + 1) + "---|",
    ]
    for title, run in zip(titles, runs, strict=True):
        summary = run.summary
        counts = " | ".join(str(summary[c]) for c in OUTCOMES)
        lines.append(f"| {title} | {counts} | {summary['total']} | {_verdict_word(run)} |")
    return lines


def totals_html(runs: list[RunResult], titles: list[str]) -> str:
    """The totals table: one row per target, one cell per class, coloured by its class when non-zero."""
    head = "".join(f"<th title='{escape(LABELS[c][1])}'>{_badge(c)}</th>" for c in OUTCOMES)
    rows = []
    for title, run in zip(titles, runs, strict=True):
        summary = run.summary
        cells = "".join(
            f"<td data-class='{escape(c)}' class='count {css_class(c) if summary[c] else 'zero'}'>"
            f"{summary[c]}</td>"
            for c in OUTCOMES
        )
        rows.append(
            f"<tr data-target='{escape(title)}'><th>{escape(title)}</th>{cells}"
            f"<td class='count'>{summary['total']}</td>"
            f"<td><span class='badge {'PASS' if run.ok else 'FAIL'}'>{_verdict_word(run)}</span></td></tr>"
        )
    return (
        f"<table id='totals'><tr><th>Target</th>{head}<th>Checks</th>"
        "<th title='by the --fail-on classes'>Verdict</th></tr>"
        f"{''.join(rows)}</table>"
    )


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
        "## Checks per class",
        "",
        *totals_markdown(runs, titles),
        "",
        "## Requirements",
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


def _matrix_columns(targets: int) -> str:
    """Narrow ID column, a promise column wide enough to read, the targets sharing the rest."""
    share = 55 / max(targets, 1)
    cols = "".join(f"<col style='width:{share:.2f}%'>" for _ in range(targets))
    return f"<colgroup><col style='width:13%'>{cols}<col style='width:32%'></colgroup>"


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
    legend = "".join(f"<li>{_badge(c)} {escape(LABELS[c][0])}: {escape(LABELS[c][1])}</li>" for c in OUTCOMES)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keelhaul: requirement × target</title>
<style>{STYLE}{COMPARE_STYLE}</style></head>
<body><p class="eyebrow">Registry conformance comparison</p><h1>Requirement × target</h1>
<p class="muted">Each column is one conformance run; rows where the targets disagree are highlighted.</p>
<h2>Checks per class</h2>
{totals_html(runs, titles)}
<ul class="legend small">{legend}</ul>
<h2>Requirements</h2>
<table>{_matrix_columns(len(runs))}<tr><th>Requirement</th>{header}<th>Promise</th></tr>
{"".join(rows)}
<tr><th>Checks</th>{totals}<td></td></tr></table></body></html>
"""


COMPARE_STYLE = """
#totals td.count{text-align:right;font-size:1.3rem;font-weight:700;border:1px solid #d0d7de}
#totals td.zero{color:#8c959f;font-weight:400;background:none}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}
"""
