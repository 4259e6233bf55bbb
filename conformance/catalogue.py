"""The requirement catalogue (requirements.toml): what each ID promises and where it comes from.

Reports join test outcomes with this file so a reader sees the promise, not only a test name, and
catalogued IDs that no test checks show up as untested.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keelhaul.errors import UsageError

CATALOGUE_PATH = Path(__file__).resolve().parent / "requirements.toml"
LEVELS = ("MUST", "SHOULD", "MAY", "documented")


@dataclass(frozen=True)
class Requirement:
    """One promise a registry makes, with where it is written down."""

    id: str
    area: str
    level: str
    text: str
    source: str
    spec: str | None = None
    refs: tuple[str, ...] = ()
    official: tuple[str, ...] = ()
    parent: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "area": self.area,
            "level": self.level,
            "text": self.text,
            "source": self.source,
            "spec": self.spec,
            "refs": list(self.refs),
            "official": list(self.official),
            "parent": self.parent,
        }


@dataclass
class Catalogue:
    """Requirements in file order, addressable by ID."""

    requirements: dict[str, Requirement] = field(default_factory=dict)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self.requirements

    def __getitem__(self, requirement_id: str) -> Requirement:
        return self.requirements[requirement_id]

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements.values())

    def __len__(self) -> int:
        return len(self.requirements)

    def children(self, parent_id: str) -> list[Requirement]:
        return [r for r in self if r.parent == parent_id]

    def unknown(self, ids: list[str]) -> list[str]:
        return [i for i in ids if i not in self.requirements]


def parse_catalogue(data: dict[str, object], origin: str = "catalogue") -> Catalogue:
    """Build and validate a catalogue from parsed TOML; any defect is a one-line UsageError."""
    entries = data.get("requirement")
    if not isinstance(entries, list):
        raise UsageError(f"{origin}: no [[requirement]] entries")
    catalogue = Catalogue()
    for entry in entries:
        if not isinstance(entry, dict):
            raise UsageError(f"{origin}: a [[requirement]] entry is not a table")
        missing = [key for key in ("id", "area", "level", "text", "source") if not entry.get(key)]
        if missing:
            raise UsageError(f"{origin}: requirement {entry.get('id', '?')} lacks {', '.join(missing)}")
        if entry["level"] not in LEVELS:
            raise UsageError(f"{origin}: requirement {entry['id']} has unknown level {entry['level']!r}")
        if entry["id"] in catalogue.requirements:
            raise UsageError(f"{origin}: requirement {entry['id']} is listed twice")
        catalogue.requirements[entry["id"]] = Requirement(
            id=entry["id"],
            area=entry["area"],
            level=entry["level"],
            text=entry["text"],
            source=entry["source"],
            spec=entry.get("spec"),
            refs=tuple(entry.get("refs", ())),
            official=tuple(entry.get("official", ())),
            parent=entry.get("parent"),
        )
    for requirement in catalogue:
        if requirement.parent and requirement.parent not in catalogue:
            raise UsageError(f"{origin}: {requirement.id} names unknown parent {requirement.parent}")
    return catalogue


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise UsageError(f"cannot read requirement catalogue {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"requirement catalogue {path} is not valid TOML: {error}") from None
    return parse_catalogue(data, origin=str(path))
