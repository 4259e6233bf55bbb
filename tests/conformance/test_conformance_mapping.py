"""OCI_MAPPING.md stays generated from the catalogue and the checks, and covers the official suite."""

from __future__ import annotations

from conformance.catalogue import load_catalogue
from conformance.mapping import (
    OFFICIAL_SPECS,
    SUITE_DIR,
    checks_by_requirement,
    render_mapping,
    requirements_by_official,
)


def test_mapping_document_is_up_to_date():
    assert (SUITE_DIR / "OCI_MAPPING.md").read_text(encoding="utf-8") == render_mapping(), (
        "regenerate: python -m conformance.mapping > conformance/OCI_MAPPING.md"
    )


def test_every_official_spec_has_a_requirement_with_a_check():
    by_official = requirements_by_official(load_catalogue())
    checks = checks_by_requirement()
    assert len(OFFICIAL_SPECS) == 77  # 79 run per execution; two names repeat in Pull setup
    for spec in OFFICIAL_SPECS:
        assert by_official.get(spec), f"no requirement carries {spec!r}"
        assert any(checks.get(i) for i in by_official[spec]), f"no check verifies {spec!r}"


def test_catalogue_names_only_real_official_specs():
    assert set(requirements_by_official(load_catalogue())) <= set(OFFICIAL_SPECS)


def test_every_fine_oci_requirement_has_a_check():
    checks = checks_by_requirement()
    untested = [
        r.id for r in load_catalogue() if r.id.startswith("OCI-") and r.parent and not checks.get(r.id)
    ]
    assert untested == []
