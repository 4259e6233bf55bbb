"""Writes every report of one run into its folder."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.reports.html import render_html
from conformance.reports.junit import write_junit
from conformance.reports.matrix import matrix_csv, matrix_markdown
from conformance.reports.model import RunResult

REPORT_FILES = ("results.json", "junit.xml", "report.html", "requirements.md", "requirements.csv")


def write_reports(run: RunResult, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(run.to_json(), indent=2) + "\n", encoding="utf-8")
    write_junit(run, directory / "junit.xml")
    (directory / "report.html").write_text(render_html(run), encoding="utf-8")
    (directory / "requirements.md").write_text(matrix_markdown(run), encoding="utf-8")
    (directory / "requirements.csv").write_text(matrix_csv(run), encoding="utf-8")
    return [directory / name for name in REPORT_FILES]
