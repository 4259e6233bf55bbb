"""The import directions written in pyproject.toml ([tool.importlinter]) hold: the reference server's
layers (http -> access seam -> registry rules -> storage), the ghcr.io model only behind the seam,
the top-level packages' directions, and no cycles. A wrong import fails here, with import-linter's
report of the offending chain."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
# The contracts this test exists for; other contracts in the same section are checked as well.
SERVER_AND_TOP_LEVEL_CONTRACTS = {
    "server-layers",
    "server-ghcr-via-seam",
    "server-rules-without-http",
    "ghcr-parts",
    "top-server-stands-alone",
    "top-suites-use-only-the-server-entry-points",
    "top-shared-package",
    "no-cycles",
}
# The shared client's layers and the conformance harness's job modules.
CLIENT_AND_HARNESS_CONTRACTS = {"client-layers", "client-stands-alone", "harness-layers"}


def test_the_server_and_top_level_contracts_are_declared() -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    declared = {contract.get("id") for contract in contracts}
    assert declared >= SERVER_AND_TOP_LEVEL_CONTRACTS | CLIENT_AND_HARNESS_CONTRACTS


def test_every_import_contract_is_kept(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    exit_code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert exit_code == 0, report
    assert "0 broken" in report
