"""Without --autostart the web UI waits for the user: no user runs until the start form is sent, and
the UI listens on loopback only."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.support.distribution import free_port

from .test_webui_browser import get_json, live_row, stop_run

REPO = Path(__file__).resolve().parents[2]
WAIT = 20.0


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses (hex, as /proc/net/tcp writes them) with a listening socket on `port`."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, port_hex = local.partition(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(address)
    return found


def test_web_ui_waits_for_start_and_listens_on_loopback(registry_url: str, tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "keelhaul",
        "load",
        "--host",
        registry_url,
        "--users",
        "1",
        "--layer-size",
        "2MiB",
        "--chunk-size",
        "512KiB",
        "--web-port",
        str(port),
    ]
    log = tmp_path / "load.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while get_json(base + "/stats/requests") is None and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(2)  # an autostarted run would be spawning by now
        stats = get_json(base + "/stats/requests")
        assert stats is not None, log.read_text()[-3000:]
        assert stats["state"] == "ready" and stats["user_count"] == 0, stats
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only

        form = urllib.parse.urlencode({"user_count": 1, "spawn_rate": 1, "host": registry_url}).encode()
        with urllib.request.urlopen(base + "/swarm", data=form, timeout=10) as answer:
            assert answer.status == 200
        while not live_row(get_json(base + "/keelhaul/throughput")) and time.monotonic() < deadline + WAIT:
            time.sleep(0.25)
        assert live_row(get_json(base + "/keelhaul/throughput")), log.read_text()[-3000:]
    finally:
        stop_run(process)
