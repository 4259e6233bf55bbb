"""conformance/ghcr/BEHAVIOUR.md stays honest: every row names a source, a reference-server test and a
ghcr check, and every test and check it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "conformance" / "ghcr" / "BEHAVIOUR.md"
NAMED = re.compile(r"([\w/]+\.py)(?:::(\w+))?|::(\w+)")
SOURCE_KINDS = ("page", "REST", "thread", "docs", "OCI spec", "keelhaul's own")


def rows() -> list[list[str]]:
    found = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if re.match(r"\| [A-Z]\d+ \|", line):
            found.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return found


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def named_tests(cell: str, base: Path) -> list[tuple[Path, str | None]]:
    """(file, function) for every `path.py::name` (and `, ::other` in the same file) in a cell."""
    named: list[tuple[Path, str | None]] = []
    current: Path | None = None
    for match in NAMED.finditer(cell):
        if match.group(1):
            current = base / match.group(1)
            named.append((current, match.group(2)))
        elif current is not None:
            named.append((current, match.group(3)))
    return named


def test_the_table_has_rows_for_every_area():
    ids = [row[0] for row in rows()]
    assert {i[0] for i in ids} == {"R", "T", "A", "V", "L"}
    assert len(ids) == len(set(ids)) >= 20


def test_every_row_has_a_source_a_test_and_a_check():
    for row in rows():
        identifier, _behaviour, sources, test, check = row
        assert any(kind in sources for kind in SOURCE_KINDS), f"{identifier}: no source"
        assert test.startswith("T: "), f"{identifier}: no reference-server test"
        assert check.startswith("C: "), f"{identifier}: no ghcr check"


def test_every_named_test_and_check_exists():
    for row in rows():
        identifier, test, check = row[0], row[3], row[4]
        for cell, base in ((test, ROOT / "tests"), (check, ROOT / "conformance" / "ghcr")):
            named = named_tests(cell, base)
            assert named, f"{identifier}: names nothing in {cell!r}"
            for path, function in named:
                if not path.exists():  # `oci/…` names are under conformance/, not conformance/ghcr/
                    path = ROOT / "conformance" / path.relative_to(base)
                assert path.exists(), f"{identifier}: no file {path}"
                if function is not None:
                    assert function in functions(path), f"{identifier}: no {function} in {path}"
