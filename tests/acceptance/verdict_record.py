"""The recorded distribution 2.8 verdict list (issue 11, item 8) and the rule that guards it.

A check's class against distribution 2.8 may change only when the catalogue says why: the requirement
the finding was judged by has a new level that gives the new class (e.g. a rule moved from MUST to
ROBUSTNESS because no spec sentence backs it). Any other flip is a regression of the suite (a false
FAIL, or a lenient PASS) or of the target, and the test names it.

Re-record (say why in the commit message):
    python -m tests.acceptance.verdict_record reports/<run-id>/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from conformance.catalogue import Catalogue
from conformance.outcomes import LEVEL_CLASS, NOT_APPLICABLE, PASS, SKIP

RECORD = Path(__file__).resolve().parent / "distribution_2_8_verdicts.json"


def record(results: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """nodeid -> {outcome, judged, level} of every check of a run."""
    return {
        test["nodeid"]: {"outcome": test["outcome"], "judged": test.get("judged"), "level": test.get("level")}
        for test in sorted(results["tests"], key=lambda t: t["nodeid"])
    }


def explained(before: dict[str, str | None], now: dict[str, str | None], catalogue: Catalogue) -> bool:
    """True when the catalogue explains the flip: the judged requirement's level changed, and its
    current level gives the class now seen (or the finding went away because it no longer fails)."""
    judged = before.get("judged") or now.get("judged")
    if not judged or judged not in catalogue:
        return False
    level = catalogue[judged].level
    if level == before.get("level"):
        return False
    return now["outcome"] == PASS or LEVEL_CLASS.get(level) == now["outcome"]


def flips(
    recorded: dict[str, dict[str, str | None]], results: dict[str, Any], catalogue: Catalogue
) -> list[str]:
    """Every check whose class differs from the record without the catalogue saying why."""
    found = record(results)
    problems = []
    for nodeid, before in recorded.items():
        now = found.get(nodeid)
        if now is None:
            problems.append(f"{nodeid}: recorded {before['outcome']}, not run any more")
        elif now["outcome"] != before["outcome"] and not explained(before, now, catalogue):
            problems.append(
                f"{nodeid}: {before['outcome']} -> {now['outcome']} "
                f"(judged {now.get('judged') or before.get('judged')}) and the catalogue does not say why"
            )
    for nodeid in sorted(found.keys() - recorded.keys()):  # a new finding must be recorded on purpose
        if found[nodeid]["outcome"] not in (PASS, NOT_APPLICABLE, SKIP):
            problems.append(f"{nodeid}: new check with {found[nodeid]['outcome']}, not recorded")
    return problems


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    RECORD.write_text(json.dumps(record(data), indent=1) + "\n", encoding="utf-8")
    print(f"recorded {len(data['tests'])} verdicts in {RECORD}")
