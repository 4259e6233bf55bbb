"""`pip install .` (not editable) into a fresh venv, then the README's commands from the repository
root and from another folder: the repository's folders must not shadow the installed packages, in
the `keelhaul` process nor in Locust's worker processes.

Fast and offline: the wheel is built without isolation, and the fresh venv sees the dependencies of
the interpreter running the tests through a .pth line (its own site-packages come first, so the
installed keelhaul wins over any other copy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.source_copy import build_wheel

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 300


def run(command: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """`command` with an environment that points at no source tree (no PYTHONPATH)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, **kwargs
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding keelhaul installed from a wheel of this checkout."""
    root = tmp_path_factory.mktemp("install")
    wheel = build_wheel(root)
    venv = root / "venv"
    made = run(
        [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)], cwd=root
    )
    assert made.returncode == 0, made.stderr[-2000:]
    python = venv / "bin" / "python"
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=root
        ).stdout.strip()
    )
    (site / "keelhaul-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            # the dependencies' folder may hold an (editable) keelhaul of its own, as in tox's env:
            # without this pip calls it "already satisfied" and installs nothing
            "--ignore-installed",
            str(wheel),
        ],
        cwd=root,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    return venv


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def distribution_url() -> Iterator[str]:
    from tests.support.distribution import DistributionRegistry, find_binary

    if find_binary() is None:
        pytest.skip("docker-registry (Debian package) is not installed")
    with DistributionRegistry() as registry:
        assert registry.url
        yield registry.url


def where(request: pytest.FixtureRequest, place: str) -> Path:
    return REPO if place == "root" else request.getfixturevalue("elsewhere")


def test_the_installed_packages_are_imported_not_the_checkout(venv: Path, elsewhere: Path) -> None:
    shown = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import keelhaul, conformance, load, reference_server as r; print(r.__file__)",
        ],
        cwd=elsewhere,
    )
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()).is_relative_to(venv)


def test_version_on_path(venv: Path, elsewhere: Path) -> None:
    shown = run([str(venv / "bin" / "keelhaul"), "--version"], cwd=elsewhere)
    assert shown.returncode == 0 and shown.stdout.startswith("keelhaul "), shown.stderr


@pytest.mark.parametrize("place", ["root", "elsewhere"])
def test_check_url_against_distribution(
    venv: Path, distribution_url: str, place: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    checked = run(
        [str(venv / "bin" / "keelhaul"), "check", "--url", distribution_url, "--report-dir", str(reports)],
        cwd=where(request, place),
    )
    assert "Traceback" not in checked.stderr, checked.stderr[-3000:]
    # distribution 2.8 breaks some MUSTs (tests/acceptance): exit 1 with a full report is a finished run
    assert checked.returncode in (0, 1), checked.stdout[-3000:] + checked.stderr[-3000:]
    (results,) = reports.glob("*/results.json")
    document = json.loads(results.read_text())
    assert document["target"]["url"] == distribution_url
    assert "keelhaul: reports in" in checked.stdout


@pytest.mark.parametrize("place", ["root", "elsewhere"])
def test_headless_load_of_one_gib_with_a_worker_process(
    venv: Path, place: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    reports = tmp_path / "load"
    loaded = run(
        [
            str(venv / "bin" / "keelhaul"),
            "load",
            "--headless",
            "--processes",
            "1",  # a master and one worker process: the worker imports the locustfile too
            "--users",
            "1",
            "--layer-size",
            "1GiB",
            "--stop-after",
            "1GiB",
            "--run-time",
            "5m",
            "--report-dir",
            str(reports),
        ],
        cwd=where(request, place),
    )
    output = loaded.stdout + loaded.stderr
    assert loaded.returncode == 0, output[-4000:]
    assert "Traceback" not in output and "ModuleNotFoundError" not in output, output[-4000:]
    (summary_path,) = reports.glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["ok"] and summary["verification"]["bytes_verified"] >= 1024**3
