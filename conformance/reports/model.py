"""The run result model and its JSON form (results.json, schema conformance/schemas/results.schema.json).

Everything a report shows comes from here, so junit.xml, report.html, the matrix and the
comparison can never disagree. `SCHEMA_VERSION` changes whenever the JSON shape changes:
minor for additions, major for anything a reader of an older version would misread.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.catalogue import Catalogue
from conformance.outcomes import CLASSES, DEFAULT_FAIL_ON, SEVERITY, worst
from keelhaul.errors import UsageError

# 2.0: outcomes are the classes PASS / FAIL / WARN / ROBUSTNESS / N/A / SKIP / ERROR (were
# passed / failed / error / skipped), tests carry the judged requirement, its level and sentence,
# requirements carry their quote, and the run carries `fail_on`, `ok` and the cleanup ledger.
# 2.1: a check that ran scaled down says what it tested (`scale`).
# 2.2: a check that measures something (the robustness probes) keeps its figures (`measured`).
SCHEMA_VERSION = "2.3"
OUTCOMES = CLASSES
UNTESTED = "UNTESTED"
VERDICTS = (*SEVERITY, UNTESTED)

_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
_TOKEN_FIELD = re.compile(r'("(?:access_token|token|refresh_token|password)"\s*:\s*")[^"]*(")')
REDACTED = "<redacted>"


def redact_exchange(exchange: dict[str, Any]) -> dict[str, Any]:
    """A copy of a recorded exchange with credentials removed (defence in depth over the recorder)."""
    clean = dict(exchange)
    for key in ("request_headers", "response_headers"):
        headers = clean.get(key)
        if isinstance(headers, dict):
            clean[key] = {
                name: (REDACTED if name.lower() in _SECRET_HEADERS else value)
                for name, value in headers.items()
            }
        elif isinstance(headers, list):
            clean[key] = [
                [name, REDACTED if name.lower() in _SECRET_HEADERS else value] for name, value in headers
            ]
    body = clean.get("response_text")
    if isinstance(body, str):
        clean["response_text"] = _TOKEN_FIELD.sub(rf"\g<1>{REDACTED}\g<2>", body)
    return clean


@dataclass
class TestResult:
    """One check's outcome class. `message` is the N/A or SKIP reason or the one-line finding (expected
    vs got); a finding names the requirement it was `judged` by, its `level` and quoted `sentence`;
    `traceback` is kept only for ERROR (the suite broke), never for a finding."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    name: str
    requirements: list[str]
    outcome: str
    duration: float = 0.0
    description: str = ""
    message: str = ""
    details: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    judged: str | None = None
    level: str | None = None
    sentence: str | None = None
    cited: str | None = None
    traceback: str = ""
    scale: str = ""
    measured: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["exchanges"] = [redact_exchange(e) for e in self.exchanges]
        return data


@dataclass
class RequirementVerdict:
    """A requirement joined with the outcomes of every check naming it (and its children)."""

    id: str
    area: str
    level: str
    text: str
    source: str
    verdict: str
    tests: list[str]
    counts: dict[str, int]
    parent: str | None = None
    spec: str | None = None
    refs: list[str] = field(default_factory=list)
    official: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    quote: str | None = None
    document: str | None = None
    anchor: str | None = None
    product: str | None = None
    why: str | None = None


@dataclass
class RunResult:
    run_id: str
    target: dict[str, Any]
    started: str
    finished: str
    duration: float
    options: dict[str, Any]
    tests: list[TestResult]
    requirements: list[RequirementVerdict]
    keelhaul_version: str = ""
    schema_version: str = SCHEMA_VERSION
    fail_on: list[str] = field(default_factory=lambda: list(DEFAULT_FAIL_ON))
    cleanup: list[dict[str, Any]] = field(default_factory=list)
    # wall time from the first check's start to the end of the last, all lanes together (None: unknown)
    checks_duration: float | None = None

    @property
    def summary(self) -> dict[str, int]:
        counts = {outcome: 0 for outcome in OUTCOMES}
        for test in self.tests:
            counts[test.outcome] += 1
        counts["total"] = len(self.tests)
        return counts

    @property
    def ok(self) -> bool:
        """False when a check's class is one of `fail_on` (what fails the CI job)."""
        return not any(test.outcome in self.fail_on for test in self.tests)

    @property
    def left_behind(self) -> list[dict[str, Any]]:
        return [item for item in self.cleanup if not item.get("removed")]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "keelhaul_version": self.keelhaul_version,
            "run_id": self.run_id,
            "target": self.target,
            "started": self.started,
            "finished": self.finished,
            "duration": round(self.duration, 3),
            **({} if self.checks_duration is None else {"checks_duration": round(self.checks_duration, 3)}),
            "options": self.options,
            "summary": self.summary,
            "fail_on": list(self.fail_on),
            "ok": self.ok,
            "cleanup": list(self.cleanup),
            "tests": [test.to_json() for test in self.tests],
            "requirements": [asdict(verdict) for verdict in self.requirements],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        major = str(data.get("schema_version", "")).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise UsageError(
                f"results.json schema version {data.get('schema_version')!r} is not supported "
                f"(this keelhaul reads {SCHEMA_VERSION})"
            )
        return cls(
            run_id=data["run_id"],
            target=data["target"],
            started=data["started"],
            finished=data["finished"],
            duration=data["duration"],
            options=data["options"],
            tests=[TestResult(**test) for test in data["tests"]],
            requirements=[RequirementVerdict(**verdict) for verdict in data["requirements"]],
            keelhaul_version=data.get("keelhaul_version", ""),
            schema_version=data["schema_version"],
            fail_on=list(data.get("fail_on", DEFAULT_FAIL_ON)),
            cleanup=list(data.get("cleanup", [])),
            checks_duration=data.get("checks_duration"),
        )


def load_run(path: Path) -> RunResult:
    """Read a run from its folder or its results.json; errors are one-line UsageErrors."""
    file = path / "results.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError:
        raise UsageError(f"no results.json at {path}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{file} is not JSON: {error}") from None
    try:
        return RunResult.from_json(data)
    except (KeyError, TypeError) as error:
        raise UsageError(f"{file} is not a keelhaul results file ({error})") from None


def judge_requirements(catalogue: Catalogue, tests: list[TestResult]) -> list[RequirementVerdict]:
    """Verdict per catalogued requirement: the worst class among the checks naming it (ERROR, FAIL,
    ROBUSTNESS, WARN, PASS, N/A, SKIP in that order), UNTESTED if no check names it.
    An area ID (a parent) also counts the checks of its children."""
    by_requirement: dict[str, list[TestResult]] = {r.id: [] for r in catalogue}
    for test in tests:
        for requirement_id in test.requirements:
            if requirement_id not in by_requirement:
                continue
            by_requirement[requirement_id].append(test)
            parent = catalogue[requirement_id].parent
            if parent and test not in by_requirement[parent]:
                by_requirement[parent].append(test)
    verdicts = []
    for requirement in catalogue:
        checks = by_requirement[requirement.id]
        counts = {outcome: sum(1 for t in checks if t.outcome == outcome) for outcome in OUTCOMES}
        verdict = worst([t.outcome for t in checks]) or UNTESTED
        reasons = sorted({t.message for t in checks if t.outcome in ("N/A", "SKIP") and t.message})
        verdicts.append(
            RequirementVerdict(
                id=requirement.id,
                area=requirement.area,
                level=requirement.level,
                text=requirement.text,
                source=requirement.source,
                verdict=verdict,
                tests=[t.nodeid for t in checks],
                counts=counts,
                parent=requirement.parent,
                spec=requirement.spec,
                refs=list(requirement.refs),
                official=list(requirement.official),
                reasons=reasons,
                quote=requirement.quote,
                document=requirement.document,
                anchor=requirement.anchor,
                product=requirement.product,
                why=requirement.why,
            )
        )
    return verdicts
