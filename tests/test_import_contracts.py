"""The import directions in pyproject.toml's [tool.importlinter] hold: a wrong import fails here,
not only in `tox -e lint`."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_LINTER = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"


def test_import_contracts_are_kept() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    linted = subprocess.run(
        [sys.executable, "-c", RUN_LINTER], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert linted.returncode == 0, linted.stdout[-4000:] + linted.stderr[-2000:]
    assert "0 broken" in linted.stdout


# The contracts the layout promises (README, "Layout"; reference_server/README.md): a contract that
# disappears from pyproject.toml would otherwise pass silently.
PROMISED_CONTRACTS = {
    "client-layers",
    "client-stands-alone",
    "harness-layers",
    "server-layers",
    "server-ghcr-via-seam",
    "server-rules-without-http",
    "ghcr-parts",
    "top-server-stands-alone",
    "top-suites-use-only-the-server-entry-points",
    "top-shared-package",
    "no-cycles",
}


def test_the_promised_contracts_are_declared() -> None:
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert {contract.get("id") for contract in contracts} >= PROMISED_CONTRACTS
