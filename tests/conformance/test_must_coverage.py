"""Item 9 of issue 11: coverage measured against the spec text. Every MUST / MUST NOT / REQUIRED
sentence of the distribution spec is checked (by the checks of the requirements that quote or are
mapped to it), binds the client, or is listed as not testable from outside with why; the generated
conformance/MUST_COVERAGE.md is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalogue import load_catalogue
from conformance.coverage import COVERAGE_PATH, classify, load_coverage, must_sentences, render_coverage

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "oci-distribution-spec-v1.1.1.md"
TABLE = Path(__file__).resolve().parents[2] / "conformance" / "MUST_COVERAGE.md"
pytestmark = pytest.mark.skipif(
    not SPEC.is_file(), reason=f"the project's spec is not next to the repository ({SPEC})"
)


def test_every_must_sentence_is_mapped():
    catalogue, extra = load_catalogue(), load_coverage()
    sentences = must_sentences(SPEC.read_text(encoding="utf-8"))
    assert len(sentences) > 80
    unmapped = [s.text for s in sentences if classify(s, catalogue, extra)[0] == "unmapped"]
    assert unmapped == [], f"MUST sentences nobody mapped (add them to {COVERAGE_PATH.name}): {unmapped}"


def test_coverage_entries_name_real_sentences_and_requirements():
    catalogue = load_catalogue()
    texts = {s.text for s in must_sentences(SPEC.read_text(encoding="utf-8"))}
    for text, entry in load_coverage().items():
        assert text in texts, f"not a MUST sentence of the spec: {text!r}"
        assert catalogue.unknown(list(entry.get("requirements", []))) == [], text
        assert entry.get("requirements") or entry.get("binds") or entry.get("not_testable"), text


def test_table_is_generated_and_current():
    rendered = render_coverage(SPEC.read_text(encoding="utf-8"))
    assert "| unmapped |" not in rendered
    assert TABLE.read_text(encoding="utf-8") == rendered, (
        "regenerate: python -m conformance.coverage ../shared/spec/oci-distribution-spec-v1.1.1.md "
        "> conformance/MUST_COVERAGE.md"
    )
