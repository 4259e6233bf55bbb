"""The requirement catalogue (requirements.toml): what each ID promises and where it comes from.

Reports join test outcomes with this file so a reader sees the promise, not only a test name, and
catalogued IDs that no test checks show up as untested.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keelhaul.errors import UsageError

CATALOGUE_PATH = Path(__file__).resolve().parent / "requirements.toml"
LEVELS = ("MUST", "SHOULD", "MAY", "documented", "ROBUSTNESS")
SPEC_LEVELS = ("MUST", "SHOULD", "MAY")
_KEYWORDS = (
    ("MUST", re.compile(r"\b(MUST|REQUIRED|SHALL)\b")),
    ("SHOULD", re.compile(r"\b(SHOULD|RECOMMENDED)\b")),
    ("MAY", re.compile(r"\b(MAY|OPTIONAL)\b")),
)


def keyword_level(sentence: str) -> str | None:
    """The RFC 2119 level a sentence states: its strongest keyword (MUST NOT counts as MUST)."""
    for level, pattern in _KEYWORDS:
        if pattern.search(sentence):
            return level
    return None


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
    quote: str | None = None
    document: str | None = None
    anchor: str | None = None
    product: str | None = None
    why: str | None = None

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
            "quote": self.quote,
            "document": self.document,
            "anchor": self.anchor,
            "product": self.product,
            "why": self.why,
        }

    @property
    def cited(self) -> str:
        """Where the sentence is written: `OCI Distribution Spec v1.1.1 #pushing-manifests`."""
        return f"{self.document} {self.anchor}" if self.document else "no spec sentence (robustness)"


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
        problem = _level_problem(entry)
        if problem:
            raise UsageError(f"{origin}: requirement {entry['id']} {problem}")
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
            quote=entry.get("quote"),
            document=entry.get("document"),
            anchor=entry.get("anchor"),
            product=entry.get("product"),
            why=entry.get("why"),
        )
    for requirement in catalogue:
        if requirement.parent and requirement.parent not in catalogue:
            raise UsageError(f"{origin}: {requirement.id} names unknown parent {requirement.parent}")
    return catalogue


def _level_problem(entry: dict[str, object]) -> str | None:
    """The level must be what the quoted sentence says (or ROBUSTNESS with a reason, or a product's
    documented promise); None when the entry is consistent."""
    level, quote = entry["level"], entry.get("quote")
    if level == "ROBUSTNESS":
        if quote or not entry.get("why"):
            return "is ROBUSTNESS: it quotes no spec sentence and says `why`"
        return None
    if not quote or not entry.get("document") or not entry.get("anchor"):
        return "lacks quote, document or anchor (the sentence it enforces)"
    if level == "documented":
        return None if entry.get("product") else "is documented but names no product"
    found = keyword_level(str(quote))
    if found != level:
        return f"has level {level} but its quoted sentence says {found}"
    return None


def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise UsageError(f"cannot read requirement catalogue {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"requirement catalogue {path} is not valid TOML: {error}") from None
    return parse_catalogue(data, origin=str(path))
