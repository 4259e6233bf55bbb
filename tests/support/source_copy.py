"""A clean copy of the checkout to build wheels from: setuptools keeps build/ in the source folder,
and a stale build/lib there (files since moved or deleted) would end up in the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL_NOT_SOURCE = {".git", ".venv", ".tox", "build", "dist", "reports"}  # conformance/reports is source
ANYWHERE_NOT_SOURCE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*cache")


def not_source(folder: str, names: list[str]) -> set[str]:
    """For copytree: run output and caches, never the packages (conformance/reports is a package)."""
    ignored = set(ANYWHERE_NOT_SOURCE(folder, names))
    if Path(folder) == REPO:
        ignored |= TOP_LEVEL_NOT_SOURCE & set(names)
    return ignored


def copy_checkout(destination: Path) -> Path:
    """Copy the checkout's source (no run output, caches or build folders) to `destination`."""
    shutil.copytree(REPO, destination, ignore=not_source)
    return destination


def build_wheel(work_dir: Path) -> Path:
    """Build keelhaul's wheel from a clean copy of the checkout under `work_dir`, offline (no build
    isolation, no dependencies); returns the wheel's path."""
    source = copy_checkout(work_dir / "source")
    wheel_dir = work_dir / "wheel"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
            str(source),
        ],
        cwd=work_dir,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheel_dir.glob("keelhaul-*.whl")
    return wheel
