# ruff: noqa: E501  (spec sentences are data, kept whole)
"""MUST_COVERAGE.md: every sentence of the OCI distribution spec that says MUST, MUST NOT or REQUIRED,
and what keelhaul does with it: the requirements (and so the checks) that enforce it, or why it is not
a registry obligation testable from outside (it binds the client, or no request can observe it).

Measured against the spec text, not against our catalogue: a sentence nobody mapped shows up as
**unmapped**, and tests/conformance fails. The spec file is the project's (`../shared/spec` next to the
repository); the product never reads it at run time, this is a development tool like conformance.mapping.

Regenerate: `python -m conformance.coverage ../shared/spec/oci-distribution-spec-v1.1.1.md > conformance/MUST_COVERAGE.md`
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from conformance.catalogue import Catalogue, load_catalogue
from conformance.mapping import checks_by_requirement

COVERAGE_PATH = Path(__file__).resolve().parent / "spec_coverage.toml"
_BINDING = re.compile(r"\b(MUST|REQUIRED|SHALL)\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`<\[])")


def flat(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Sentence:
    text: str
    section: str  # the heading it sits under


def must_sentences(markdown: str) -> list[Sentence]:
    """The spec's MUST / MUST NOT / REQUIRED sentences, in order (code blocks, tables and the RFC 2119
    boilerplate left out; a sentence wrapped over lines is joined)."""
    found: list[Sentence] = []
    section, in_code = "", False
    paragraph: list[str] = []

    def flush() -> None:
        text = flat(" ".join(paragraph))
        paragraph.clear()
        for sentence in _SENTENCE_END.split(text):
            if _BINDING.search(sentence) and "are to be interpreted as described in" not in sentence:
                found.append(Sentence(sentence.strip(), section))

    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            flush()
            continue
        if in_code:
            continue
        if line.startswith("#"):
            flush()
            section = line.lstrip("#").strip()
        elif not line.strip() or line.lstrip().startswith(("|", "1.", "-", "*")):
            flush()
            if line.lstrip().startswith(("1.", "-", "*")):  # a list item is a sentence of its own
                paragraph.append(
                    line.lstrip()[2:] if line.lstrip().startswith(("-", "*")) else line.lstrip()[3:]
                )
                flush()
        else:
            paragraph.append(line)
            if line.rstrip().endswith((".", ":")):
                flush()
    flush()
    return found


def load_coverage(path: Path = COVERAGE_PATH) -> dict[str, dict[str, object]]:
    """Sentences no catalogue quote covers: sentence -> {requirements} or {not_testable} or {binds}."""
    with path.open("rb") as handle:
        entries = tomllib.load(handle)["sentence"]
    return {flat(entry["text"]): entry for entry in entries}


def classify(
    sentence: Sentence, catalogue: Catalogue, extra: dict[str, dict[str, object]]
) -> tuple[str, list[str], str]:
    """(status, requirement IDs, note): "checked", "not testable", "binds the client" or "unmapped"."""
    quoting = [r.id for r in catalogue if r.quote and flat(r.quote) in sentence.text]
    entry = extra.get(sentence.text, {})
    listed = entry.get("requirements", [])
    ids = quoting + [str(i) for i in (listed if isinstance(listed, list) else []) if i not in quoting]
    if ids:
        return "checked", ids, str(entry.get("note", ""))
    if entry.get("binds") == "client":
        return "binds the client", [], str(entry.get("note", ""))
    if entry.get("not_testable"):
        return "not testable from outside", [], str(entry["not_testable"])
    return "unmapped", [], ""


def render_coverage(markdown: str, catalogue: Catalogue | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    extra = load_coverage()
    checks = checks_by_requirement()
    rows: list[str] = []
    counts: dict[str, int] = {}
    for sentence in must_sentences(markdown):
        status, ids, note = classify(sentence, catalogue, extra)
        family = {i for i in ids} | {child.id for i in ids for child in catalogue.children(i)}
        tests = sorted({t for i in family for t in checks.get(i, [])})
        if status == "checked" and not tests:
            status = "unmapped"  # named requirements without a check do not count
        counts[status] = counts.get(status, 0) + 1
        shown = ", ".join(ids) + (f" ({len(tests)} checks)" if tests else "")
        cell = sentence.text.replace("|", "\\|")
        rows.append(f"| {sentence.section} | {cell} | {status} | {shown or note} |")
    total = sum(counts.values())
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines = [
        "# MUST coverage of the OCI Distribution Spec v1.1.1",
        "",
        "Generated by `python -m conformance.coverage SPEC.md` from the spec text, conformance/requirements.toml",
        "(each requirement's quoted sentence) and conformance/spec_coverage.toml (sentences no quote covers);",
        "tests/conformance fails when a MUST / MUST NOT / REQUIRED sentence of the spec is unmapped or this file is stale.",
        "",
        f"**{total} sentences: {summary}.** A registry-binding sentence is checked (positively, and",
        "negatively where a registry can break it) by the checks of the requirements named; the others bind",
        "the client, or no request from outside can observe them (the reason is given).",
        "",
        "| Section | Sentence | Status | Requirements / why |",
        "|---|---|---|---|",
        *rows,
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_coverage(Path(sys.argv[1]).read_text(encoding="utf-8")), end="")
