"""What users install: the wheel holds the four product packages, every package folder of them, and
no test support (seeded defects, the docker-registry launcher, tests/, bench/)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRODUCT_PACKAGES = ("keelhaul", "conformance", "load", "reference_server")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = out.glob("keelhaul-*.whl")
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
