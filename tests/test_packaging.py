"""The import-name mapping in pyproject.toml must cover every package folder, or a non-editable
install silently ships without it."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), config["package-dir"]


def test_every_package_folder_is_listed() -> None:
    packages, package_dirs = _declared()
    found: set[str] = set()
    for import_root, folder in package_dirs.items():
        base = REPO / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base).parts
            found.add(".".join((import_root, *relative)))
    assert found - packages == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert packages - found == set(), "listed in pyproject.toml but not a package folder"


def test_import_name_is_keelhaul_only() -> None:
    _, package_dirs = _declared()
    assert all(name == "keelhaul" or name.startswith("keelhaul.") for name in package_dirs)
