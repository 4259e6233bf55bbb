"""Item 2 of issue 11: every catalogue entry enforces a sentence that is really in the spec.

The product carries its quotes (it must stand alone); this test, run where the project's spec folder
is checked out next to the repository (`<repo>/../shared/spec`), proves each quote verbatim (up to line
wrapping) in the document it names, and its level equal to the sentence's RFC 2119 keyword."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.catalogue import keyword_level, load_catalogue

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "spec"
DOCUMENTS = {
    "OCI Distribution Spec v1.1.1": "oci-distribution-spec-v1.1.1.md",
    "ghcr.io: Trabajar con el registro de contenedores": "ghcr-working-with-the-container-registry.es.txt",
    "GitHub REST API: packages": "github-rest/packages-openapi.json",
}
pytestmark = pytest.mark.skipif(
    not SPEC_DIR.is_dir(), reason=f"the project's spec folder is not next to the repository ({SPEC_DIR})"
)


def flat(text: str) -> str:
    return " ".join(text.split())


def document_text(name: str) -> str:
    return flat((SPEC_DIR / DOCUMENTS[name]).read_text(encoding="utf-8"))


def slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors of a markdown document."""
    return {anchor for anchor in map(_slug, markdown.splitlines()) if anchor}


def quoted():
    return [r for r in load_catalogue() if r.quote]


def test_every_entry_quotes_a_sentence_or_says_why_not():
    for requirement in load_catalogue():
        assert requirement.quote or (requirement.level == "ROBUSTNESS" and requirement.why), requirement.id


@pytest.mark.parametrize("requirement", quoted(), ids=lambda r: r.id)
def test_quote_is_verbatim_in_the_named_document(requirement):
    assert requirement.document in DOCUMENTS, f"{requirement.id}: unknown document {requirement.document!r}"
    assert flat(requirement.quote) in document_text(requirement.document), (
        f"{requirement.id}: not verbatim in {DOCUMENTS[requirement.document]}: {requirement.quote!r}"
    )


@pytest.mark.parametrize("requirement", quoted(), ids=lambda r: r.id)
def test_level_is_the_keyword_of_the_sentence(requirement):
    if requirement.product:
        assert requirement.level == "documented", requirement.id
        return
    assert requirement.level == keyword_level(requirement.quote), (
        f"{requirement.id}: level {requirement.level}, sentence says {keyword_level(requirement.quote)}"
    )


def raw(name: str) -> str:
    return (SPEC_DIR / DOCUMENTS[name]).read_text(encoding="utf-8")


def test_anchors_name_real_sections():
    markdown = raw("OCI Distribution Spec v1.1.1")
    anchors = slugs(markdown)
    ghcr = raw("ghcr.io: Trabajar con el registro de contenedores")
    paths = json.loads(raw("GitHub REST API: packages"))["paths"]
    operations = {o.get("operationId") for ops in paths.values() for o in ops.values() if isinstance(o, dict)}
    for requirement in quoted():
        if requirement.document.startswith("OCI"):
            assert requirement.anchor in anchors, f"{requirement.id}: no section {requirement.anchor}"
            heading = next(line for line in markdown.splitlines() if _slug(line) == requirement.anchor)
            section = markdown.split(heading, 1)[1]
            assert flat(requirement.quote) in flat(_until_next_heading(section)), (
                f"{requirement.id}: quote is not in section {requirement.anchor}"
            )
        elif requirement.document.startswith("ghcr"):
            title = requirement.anchor.removeprefix("§")
            assert any(line.startswith(title) for line in ghcr.splitlines()), f"{requirement.id}: {title}"
        else:
            assert requirement.anchor in operations, requirement.id


def _slug(line: str) -> str | None:
    """GitHub's anchor of a markdown heading line (None for other lines)."""
    if not line.startswith("#"):
        return None
    words = "".join(c for c in line.lstrip("#").strip().lower() if c.isalnum() or c in " -_")
    return "#" + words.replace(" ", "-")


def _until_next_heading(text: str) -> str:
    lines = []
    for line in text.splitlines()[1:]:
        if line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)
