"""The requirement matrix: one row per catalogued requirement with its verdict (untested included),
as Markdown (for people and CI summaries) and CSV (for spreadsheets)."""

from __future__ import annotations

import csv
import io

from conformance.reports.model import OUTCOMES, VERDICTS, RequirementVerdict, RunResult

VERDICT_MARK = {verdict: verdict for verdict in VERDICTS}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _counts(verdict: RequirementVerdict) -> str:
    parts = [f"{n} {outcome}" for outcome, n in verdict.counts.items() if n]
    return ", ".join(parts) or "no checks"


def matrix_markdown(run: RunResult) -> str:
    lines = [
        f"# Requirement matrix: {run.target.get('name', '')} (run {run.run_id})",
        "",
        "| Requirement | Level | Verdict | Checks | Promise |",
        "|---|---|---|---|---|",
    ]
    for verdict in run.requirements:
        reason = (
            f" ({_cell('; '.join(verdict.reasons))})"
            if verdict.verdict in ("N/A", "SKIP") and verdict.reasons
            else ""
        )
        lines.append(
            f"| {verdict.id} | {verdict.level} | {VERDICT_MARK[verdict.verdict]}{reason} | "
            f"{_counts(verdict)} | {_cell(verdict.text)} |"
        )
    return "\n".join(lines) + "\n"


def matrix_csv(run: RunResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "requirement",
            "area",
            "level",
            "verdict",
            *OUTCOMES,
            "text",
            "source",
            "quote",
            "document",
            "anchor",
        ]
    )
    for v in run.requirements:
        writer.writerow(
            [
                v.id,
                v.area,
                v.level,
                v.verdict,
                *(v.counts.get(outcome, 0) for outcome in OUTCOMES),
                v.text,
                v.source,
                v.quote or "",
                v.document or "",
                v.anchor or "",
            ]
        )
    return buffer.getvalue()
