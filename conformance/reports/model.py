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
from keelhaul.errors import UsageError

SCHEMA_VERSION = "1.0"
OUTCOMES = ("passed", "failed", "error", "skipped")
VERDICTS = ("passed", "failed", "skipped", "untested")

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
    """One check's outcome. `message` is the skip reason or the one-line failure (expected vs got)."""

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

    @property
    def summary(self) -> dict[str, int]:
        counts = {outcome: 0 for outcome in OUTCOMES}
        for test in self.tests:
            counts[test.outcome] += 1
        counts["total"] = len(self.tests)
        return counts

    @property
    def ok(self) -> bool:
        return not any(test.outcome in ("failed", "error") for test in self.tests)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "keelhaul_version": self.keelhaul_version,
            "run_id": self.run_id,
            "target": self.target,
            "started": self.started,
            "finished": self.finished,
            "duration": round(self.duration, 3),
            "options": self.options,
            "summary": self.summary,
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
    """Verdict per catalogued requirement: failed if any check failed, passed if any passed and
    none failed, skipped if all its checks were skipped, untested if no check names it.
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
        if not checks:
            verdict = "untested"
        elif counts["failed"] or counts["error"]:
            verdict = "failed"
        elif counts["passed"]:
            verdict = "passed"
        else:
            verdict = "skipped"
        reasons = sorted({t.message for t in checks if t.outcome == "skipped" and t.message})
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
            )
        )
    return verdicts
