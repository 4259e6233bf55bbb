"""Short Locust runs in this process against the reference server: every scenario, the web UI tab,
and the end-of-run verification, with small layers."""

from __future__ import annotations

import json
import sys

import gevent
import httpx
import pytest

from load import scenarios
from load.hooks import finish_run
from load.webui import SPARK_BLOCKS

from .conftest import make_environment


def run_for(environment, users: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    runner = environment.create_local_runner()
    environment.events.init.fire(environment=environment, runner=runner, web_ui=environment.web_ui)
    runner.start(users, spawn_rate=users, wait=False)
    gevent.sleep(seconds)
    runner.quit()


@pytest.fixture(autouse=True)
def reset_seeded_images() -> None:
    scenarios._seeded.clear()


def test_chunked_uploads_commit_verify_and_write_a_summary(registry_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    environment = make_environment(
        [scenarios.ChunkedLayerUpload],
        [
            "--host",
            registry_url,
            "--layer-size",
            "3MiB",
            "--chunk-size",
            "1MiB",
            "--run-id",
            "t1",
            "--keelhaul-report-dir",
            str(tmp_path),
            "--stop-timeout",
            "30",
        ],
    )
    run_for(environment, users=2, seconds=2.0)
    summary = finish_run(environment)
    assert summary is not None and summary["ok"], summary
    uploads = summary["uploads"]
    assert uploads["count"] >= 2 and uploads["bytes"] == uploads["count"] * 3 * 1024 * 1024
    assert summary["verification"]["verified"] == summary["verification"]["checked"] == uploads["count"]
    assert summary["verification"]["bytes_verified"] == uploads["bytes"]
    assert summary["cleanup"]["deleted_blobs"] == uploads["count"]
    requests = summary["requests"]
    assert requests["PATCH blob upload chunk"]["count"] >= 3 * uploads["count"]
    assert requests["UPLOAD chunked layer 3MiB in 1MiB chunks"]["count"] == uploads["count"]
    assert requests["PUT blob upload commit"]["p50_ms"] is not None
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["uploads"]["count"] == uploads["count"]
    (worker,) = written["resources"]["workers"]  # the local runner is the one generator process
    assert worker["name"] == "local" and worker["peak_rss_bytes"] >= worker["rss_bytes"] > 10**6
    assert worker["bytes_moved"] >= uploads["bytes"] and worker["cpu_seconds"] > 0
    assert written["resources"]["peak_rss_bytes"] == worker["peak_rss_bytes"]
    assert (tmp_path / "uploads.csv").read_text().count("\n") == uploads["count"] + 1
    with httpx.Client() as client:  # cleanup really deleted what the run created
        repository, digest = environment.keelhaul_run.ledger.uploads[0].repository, written["run_id"]
        assert digest == "t1"
        first = environment.keelhaul_run.ledger.uploads[0]
        assert client.head(f"{registry_url}/v2/{repository}/blobs/{first.digest}").status_code == 404


def test_every_other_scenario_runs_without_failures(registry_url: str) -> None:
    environment = make_environment(
        [
            scenarios.MonolithicUpload,
            scenarios.PullStorm,
            scenarios.TagChurn,
            scenarios.CIFleet,
            scenarios.IdleUploadProbe,
        ],
        [
            "--host",
            registry_url,
            "--monolithic-size",
            "1MiB",
            "--pull-blob-size",
            "2MiB",
            "--chunk-size",
            "1MiB",
            "--idle-probes",
            "0.5,3.5",
            "--run-id",
            "t2",
            "--keep-data",
        ],
    )
    run_for(environment, users=5, seconds=7.0)  # the 3.5 s probe needs its user started early
    summary = finish_run(environment)
    assert summary is not None
    assert summary["failures"] == 0, summary["errors"]
    names = set(summary["requests"])
    for expected in (
        "UPLOAD monolithic blob 1MiB",
        "GET blob get",
        "GET blob get range",
        "GET manifest get by tag",
        "DELETE manifest delete by digest",
        "GET tags list",
        "IDLE session alive after 0.5s",
    ):
        assert expected in names, sorted(names)
    # the test server expires sessions 2 s after they start: the probe must see that
    assert summary["idle_upload_expiry"]["survived_up_to_s"] == 0.5
    assert summary["idle_upload_expiry"]["expired_by_s"] == 3.5
    assert summary["verification"]["ok"] and summary["cleanup"] is None  # --keep-data


def test_web_ui_tab_shows_live_throughput(registry_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["locust"])  # the UI re-reads the command line for its start form
    environment = make_environment(
        [scenarios.ChunkedLayerUpload],
        ["--host", registry_url, "--layer-size", "2MiB", "--chunk-size", "1MiB", "--run-id", "t3"],
    )
    web_ui = environment.create_web_ui("127.0.0.1", 0)
    gevent.sleep(0.1)
    runner = environment.create_local_runner()
    environment.events.init.fire(environment=environment, runner=runner, web_ui=web_ui)
    try:
        runner.start(1, spawn_rate=1, wait=False)
        gevent.sleep(2.5)
        base = f"http://127.0.0.1:{web_ui.server.server_port}"
        with httpx.Client() as client:
            page = client.get(base + "/").text
            stats = client.get(base + "/stats/requests").json()
            rows = client.get(base + "/keelhaul/throughput").json()["rows"]
            resources = client.get(base + "/keelhaul/resources").json()
        assert "Registry throughput" in page and "Generator and target" in page
        for option in ("layer_size", "keelhaul_content", "keep_data"):  # in the start form
            assert f'"{option}"' in page, option
        assert '"keelhaul_target_pid"' not in page
        extended = {table["key"]: table["data"] for table in stats["extended_stats"]}
        chunked = next(row for row in extended["keelhaul"] if row["scenario"] == "chunked")
        assert chunked["mbps"] > 0 and chunked["uploads"] >= 1
        assert [row["scenario"] for row in rows] == ["chunked", "Total"]
        (generator,) = extended["keelhaulresources"]  # one local process, no target pid given
        assert generator["process"] == "generator local" and generator["peak"].endswith(" MB")
        assert generator["memory"] and set(generator["memory"]) <= set(SPARK_BLOCKS)
        assert resources["history"] and resources["workers"][0]["peak_rss_bytes"] > 0
    finally:
        runner.quit()
        web_ui.stop()
