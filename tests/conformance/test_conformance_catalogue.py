"""The requirement catalogue (conformance/requirements.toml) and its loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.catalogue import load_catalogue, parse_catalogue
from keelhaul.errors import UsageError

# the project card's requirement list, beside the clone (../shared); never shipped, only compared here
REQUIREMENTS_MD = Path(__file__).resolve().parents[3] / "shared" / "spec" / "REQUIREMENTS.md"


def entry(**changes):
    base = {
        "id": "X-1",
        "area": "X",
        "level": "MUST",
        "text": "t",
        "source": "s",
        "quote": "The registry MUST answer.",
        "document": "d",
        "anchor": "#a",
    }
    return {**base, **changes}


def test_catalogue_loads_and_links_parents():
    catalogue = load_catalogue()
    assert len(catalogue) > 90
    assert catalogue["OCI-PUSH-6"].parent == "OCI-PUSH"
    assert "end-5" in catalogue["OCI-PUSH-6"].refs
    assert {r.id for r in catalogue.children("OCI-DISC")} >= {"OCI-DISC-1", "OCI-DISC-7"}


@pytest.mark.skipif(not REQUIREMENTS_MD.exists(), reason="shared REQUIREMENTS.md not on this machine")
def test_every_id_of_requirements_md_is_catalogued():
    ids = set(re.findall(r"^- ((?:FMT|AUTH|PUSH|PULL|LBL|LIM|API)-\d+) ", REQUIREMENTS_MD.read_text(), re.M))
    ids |= set(re.findall(r"^- (OCI-[A-Z]+):", REQUIREMENTS_MD.read_text(), re.M))
    assert len(ids) > 40
    assert ids - {r.id for r in load_catalogue()} == set()


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry(text="")], "lacks text"),
        ([entry(level="MUSTNT")], "unknown level"),
        ([entry(), entry()], "listed twice"),
        ([entry(parent="NOPE")], "unknown parent NOPE"),
        ([entry(level="SHOULD")], "has level SHOULD but its quoted sentence says MUST"),
        ([entry(quote="The registry answers.")], "says None"),
        ([entry(quote=None)], "lacks quote"),
        ([entry(level="ROBUSTNESS")], "quotes no spec sentence and says `why`"),
        ([entry(level="documented")], "names no product"),
    ],
)
def test_defects_are_one_line_errors(entries, message):
    with pytest.raises(UsageError, match=message):
        parse_catalogue({"requirement": entries})


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load_catalogue(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[requirement]\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_catalogue(broken)
