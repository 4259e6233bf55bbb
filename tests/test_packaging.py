"""What users install: the wheel holds the four product packages, every package folder of them, and
no test support (seeded defects, the docker-registry launcher, tests/, bench/)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.support.source_copy import build_wheel

REPO = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = ("keelhaul", "conformance", "load", "reference_server")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    wheel = build_wheel(tmp_path_factory.mktemp("packaging"))
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_wheel_holds_every_product_package(wheel_names: set[str]) -> None:
    for top in PRODUCT_PACKAGES:
        for init in (REPO / top).rglob("__init__.py"):
            relative = init.relative_to(REPO).as_posix()
            assert relative in wheel_names, f"{relative} is missing from the wheel"


def test_wheel_holds_no_test_support(wheel_names: set[str]) -> None:
    tops = {name.split("/", 1)[0] for name in wheel_names if "/" in name}
    assert tops - {*PRODUCT_PACKAGES} == {n for n in tops if n.endswith(".dist-info")}
    leaked = [n for n in wheel_names if "defect" in n or n.endswith("distribution.py") or "/tests/" in n]
    assert leaked == []
