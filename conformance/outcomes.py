"""Outcome classes: what one check's result means, and which classes fail a CI job.

A verdict a vendor can defend says how strong the broken sentence is. A failed assertion is judged by
the requirement it names (its message starts with the ID) and that requirement's level: a broken MUST
or documented promise is FAIL, a SHOULD or MAY is WARN, a rule with no spec sentence is ROBUSTNESS.
N/A and SKIP come from the harness's decision not to run a check; ERROR is the suite itself breaking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest

from conformance.catalogue import Catalogue
from keelhaul.errors import UsageError

PASS, FAIL, WARN, ROBUSTNESS, NOT_APPLICABLE, SKIP, ERROR = (
    "PASS",
    "FAIL",
    "WARN",
    "ROBUSTNESS",
    "N/A",
    "SKIP",
    "ERROR",
)
CLASSES = (PASS, FAIL, WARN, ROBUSTNESS, NOT_APPLICABLE, SKIP, ERROR)
# Worst first: a requirement's verdict is the worst class among its checks.
SEVERITY = (ERROR, FAIL, ROBUSTNESS, WARN, PASS, NOT_APPLICABLE, SKIP)
DEFAULT_FAIL_ON = (FAIL, ROBUSTNESS, ERROR)
LEVEL_CLASS = {"MUST": FAIL, "documented": FAIL, "SHOULD": WARN, "MAY": WARN, "ROBUSTNESS": ROBUSTNESS}
# JUnit has passed / failure / error / skipped: CI dashboards show the same as our console when
# FAIL and ROBUSTNESS are failures, ERROR an error, N/A and SKIP skipped, and WARN a pass with output.
JUNIT_ELEMENT = {
    FAIL: "failure",
    ROBUSTNESS: "failure",
    ERROR: "error",
    NOT_APPLICABLE: "skipped",
    SKIP: "skipped",
}

_LEADING_ID = re.compile(r"^\s*([A-Z]+(?:-[A-Z]+)*(?:-\d+)?)\b")
_HANG = (httpx.TimeoutException, httpx.RemoteProtocolError)


class NotApplicable(pytest.skip.Exception):  # type: ignore[misc, name-defined]
    """Raised (via not_applicable) when an optional behaviour the check verifies is absent."""


def not_applicable(reason: str) -> None:
    """Stop a check as N/A: the target lacks an optional behaviour this check is about."""
    raise NotApplicable(reason, allow_module_level=False)


@dataclass(frozen=True)
class Judgement:
    """The class of a check's failure and the requirement (with its level) it was judged by."""

    outcome: str
    requirement: str | None = None
    level: str | None = None


def judge_failure(message: str, check_ids: list[str], catalogue: Catalogue) -> Judgement:
    """The class of a failed assertion: from the requirement its message names, else the check's own."""
    match = _LEADING_ID.match(message)
    named = match.group(1) if match and match.group(1) in catalogue else None
    requirement = named or next((i for i in check_ids if i in catalogue), None)
    if requirement is None:
        return Judgement(FAIL)
    level = catalogue[requirement].level
    return Judgement(LEVEL_CLASS[level], requirement, level)


def judge_exception(
    error: BaseException, message: str, check_ids: list[str], catalogue: Catalogue
) -> Judgement:
    """A check that raised: an assertion is judged by its requirement, a registry that hung or broke
    the connection is a robustness finding, anything else is the suite breaking (ERROR)."""
    if isinstance(error, AssertionError | pytest.fail.Exception):
        return judge_failure(message, check_ids, catalogue)
    if isinstance(error, _HANG):
        return Judgement(ROBUSTNESS)
    return Judgement(ERROR)


def parse_fail_on(text: str | None) -> tuple[str, ...]:
    """`FAIL,ROBUSTNESS,ERROR` (case-insensitive; NA for N/A; `none` for nothing) -> classes."""
    if text is None:
        return DEFAULT_FAIL_ON
    if text.strip().lower() == "none":
        return ()
    chosen = []
    for part in text.split(","):
        name = part.strip().upper()
        name = NOT_APPLICABLE if name == "NA" else name
        if name not in CLASSES:
            raise UsageError(f"--fail-on: unknown class {part.strip()!r} (use {', '.join(CLASSES)} or none)")
        chosen.append(name)
    return tuple(chosen)


def worst(outcomes: list[str]) -> str | None:
    """The most severe class among `outcomes` (None for no outcomes)."""
    present = set(outcomes)
    return next((c for c in SEVERITY if c in present), None)


def run_fails(outcomes: list[str], fail_on: tuple[str, ...]) -> bool:
    return any(outcome in fail_on for outcome in outcomes)
