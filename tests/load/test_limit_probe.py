"""A layer larger than the profile's max_layer_bytes is a limit probe: refusal is the expected answer
(no failure), acceptance is the failure."""

from __future__ import annotations

from pathlib import Path

from load import scenarios
from load.hooks import finish_run
from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess

from .conftest import make_environment
from .test_inprocess_run import run_for


def profile_file(tmp_path: Path, url: str, max_layer_bytes: int) -> Path:
    path = tmp_path / "limited.toml"
    path.write_text(
        f'[target]\nname = "limited"\nkind = "reference"\nurl = "{url}"\nnamespace = "keelhaul-limit"\n'
        f"[limits]\nmax_layer_bytes = {max_layer_bytes}\n[features]\ntoken_auth = false\n"
    )
    return path


def test_over_limit_layers_are_refused_and_that_is_no_failure(tmp_path: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False, max_layer_bytes=3 << 20)
    with ServerProcess(config) as server:
        assert server.url
        environment = make_environment(
            [scenarios.ChunkedLayerUpload],
            [
                "--keelhaul-profile",
                str(profile_file(tmp_path, server.url, 3 << 20)),
                "--layer-size",
                "5MiB",
                "--chunk-size",
                "1MiB",
                "--run-id",
                "limit",
            ],
        )
        run_for(environment, users=1, seconds=1.5)
        summary = finish_run(environment)
    assert summary is not None
    probes = summary["requests"]["LIMIT over-limit probe 5MiB (limit 3MiB)"]
    assert probes["count"] >= 1 and probes["failures"] == 0
    assert summary["failures"] == 0 and summary["uploads"]["count"] == 0
