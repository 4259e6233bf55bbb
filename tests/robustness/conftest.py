"""Fixtures for the robustness tests of the reference server (no auth, fresh data folder each).

- `live_server`: one EmbeddedServer for the module (OpenAccess), its URL in `.url`.
- `report_dir`: where these tests drop their figures: $KEELHAUL_ARTIFACT_DIR/robustness/ in CI (kept as
  an artifact), else reports/robustness/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer

_ARTIFACTS = os.environ.get("KEELHAUL_ARTIFACT_DIR")
REPORTS = (Path(_ARTIFACTS) if _ARTIFACTS else Path(__file__).resolve().parents[2] / "reports") / "robustness"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    config = ServerConfig(listen_port=0, data_dir=tmp_path_factory.mktemp("robust"), auth=False)
    with EmbeddedServer(config) as server:
        yield server


@pytest.fixture(scope="session")
def report_dir() -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS
