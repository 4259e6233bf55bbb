"""Every seeded defect must be caught by the conformance suite, by a check carrying one of the
requirement IDs the defect breaks (tests/mutation/mutation.py does the work; about a minute with 3
defects in parallel, each running only the checks of its requirement IDs).

The score is printed and written to reports/mutation/<stamp>/mutation.json.
"""

from __future__ import annotations

import json

from .mutation import run_mutation


def test_every_seeded_defect_is_caught(capsys) -> None:  # type: ignore[no-untyped-def]
    with capsys.disabled():
        summary = run_mutation()
    missed = {
        d["defect"]: d["problem"] or [f["check"] for f in d["failing"]] or "no check failed"
        for d in summary["defects"]  # type: ignore[union-attr]
        if not d["caught"]
    }
    assert not summary["baseline"]["failing"], (  # type: ignore[index]
        "the suite fails against the clean reference server: " + json.dumps(summary["baseline"])
    )
    assert not missed, f"mutation score {summary['caught']}/{summary['seeded']}; missed: {missed}"
