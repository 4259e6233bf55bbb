"""The "Registry throughput" tab of Locust's web UI, checked in headless Chromium while a run is live.

`keelhaul load` runs in a child process with its web UI on a free loopback port, pushing small chunked
layers into the reference server (conftest's `registry_url`, another child process) so bytes flow the
whole time. Once /keelhaul/throughput shows them moving, Chromium renders `/?tab=keelhaul` (the
React UI fills the tab from its /stats/requests poll, so the DOM is dumped after a virtual-time
budget): a screenshot goes to the test's tmp dir (and to $KEELHAUL_ARTIFACT_DIR/load/webui.png in
CI), and the rendered table must show the scenario row with a non-zero live MB/s, in the same
columns and rows that /keelhaul/throughput serves as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from load.webui import COLUMNS, RESOURCE_COLUMNS, RESOURCES_KEY, SPARK_BLOCKS, TAB_KEY
from tests.support.browser import run_headless
from tests.support.distribution import free_port

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium) to render the web UI"
)

SCENARIO = "chunked"  # the friendly name is also the row's name in the tab
WINDOW = (1400, 900)
LIVE_TIMEOUT = 20.0  # from Locust's start to bytes in the tab; generous for a loaded 2-core machine
BROWSER_TIMEOUT = 20.0  # every Chromium attempt together
STOP_TIMEOUT = 15.0  # Locust verifies and deletes what it pushed before it exits
LIVE_MBPS = "mbps"  # the column of the live figure (last 10 s)


@dataclass
class LiveRun:
    """A `keelhaul load` with its web UI, in a process group of its own (the wrapper and Locust)."""

    process: subprocess.Popen[bytes]
    web_url: str
    log_path: Path
    report_dir: Path

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


def get_json(url: str) -> dict | None:
    """The JSON document at `url`, or None while nothing answers there yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def live_row(document: dict | None) -> dict | None:
    """The scenario's row from /keelhaul/throughput once it shows bytes moving, else None."""
    rows = (document or {}).get("rows", [])
    row = next((row for row in rows if row.get("scenario") == SCENARIO), None)
    return row if row and float(row[LIVE_MBPS]) > 0 else None


def stop_run(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM to `keelhaul load`, which passes it on to Locust and waits for Locust's graceful end
    (verification, cleanup, summary); then SIGKILL for whatever is left in the group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone: the usual case
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def start_run(registry_url: str, log_path: Path, report_dir: Path) -> LiveRun:
    """`keelhaul load` on a free web port; tries another port when the chosen one was taken meanwhile."""
    for _attempt in range(3):
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "keelhaul",
            "load",
            "--host",
            registry_url,
            "--scenario",
            SCENARIO,
            "--users",
            "1",
            "--layer-size",
            "2MiB",
            "--chunk-size",
            "512KiB",
            "--web-port",
            str(port),
            "--autostart",
            "--",
            "--keelhaul-report-dir",  # summary.json when the run ends, as a headless run writes it
            str(report_dir),
        ]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        run = LiveRun(process, f"http://127.0.0.1:{port}", log_path, report_dir)
        deadline = time.monotonic() + LIVE_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if live_row(get_json(run.web_url + "/keelhaul/throughput")):
                return run
            time.sleep(0.25)
        stop_run(process)
        if "Address already in use" not in run.log_tail():
            break
    pytest.fail(f"no live upload figures at {run.web_url}/keelhaul/throughput:\n{run.log_tail()}")


@pytest.fixture
def live_run(registry_url: str, tmp_path: Path) -> Iterator[LiveRun]:
    run = start_run(registry_url, tmp_path / "keelhaul-load.log", tmp_path / "report")
    try:
        yield run
    finally:
        stop_run(run.process)


class TableReader(HTMLParser):
    """The throughput table of a rendered page: header keys and titles, body rows, the selected tab."""

    def __init__(self) -> None:
        super().__init__()
        self.sort_keys: list[str] = []
        self.titles: list[str] = []
        self.rows: list[list[str]] = []
        self.selected_tabs: list[str] = []
        self._cell: list[str] | None = None
        self._in_selected_tab = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "th":
            self.sort_keys.append(attributes.get("data-sortkey") or "")
            self._cell = []
        elif tag == "td":
            self._cell = []
        elif tag == "tr" and self.titles:
            self.rows.append([])
        elif tag == "button" and (attributes.get("role"), attributes.get("aria-selected")) == ("tab", "true"):
            self._in_selected_tab = True
            self.selected_tabs.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.titles if tag == "th" else self.rows[-1]).append(text)
            self._cell = None
        elif tag == "button":
            self._in_selected_tab = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_selected_tab:
            self.selected_tabs[-1] += data


def read_table(dom: str) -> TableReader:
    reader = TableReader()
    reader.feed(dom)
    return reader


def shows_live_figures(table: TableReader) -> bool:
    keys = [key for key, _ in COLUMNS]
    if table.sort_keys != keys:
        return False
    row = next((row for row in table.rows if row and row[0] == SCENARIO), None)
    try:
        return row is not None and float(row[keys.index(LIVE_MBPS)]) > 0
    except ValueError:
        return False


def render(browser_base: list[str], url: str, screenshot: Path, timeout: float) -> str:
    """One headless Chromium run: screenshot to `screenshot`, rendered DOM returned ("" if it hung)."""
    command = [
        str(CHROMIUM),
        *browser_base[1:],
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000",  # the React UI fetches /stats/requests after it mounts
        f"--screenshot={screenshot}",
        "--dump-dom",
        url,
    ]
    return run_headless(command, timeout)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def keep_artifact(screenshot: Path) -> None:
    artifacts = os.environ.get("KEELHAUL_ARTIFACT_DIR")  # CI keeps this folder
    if artifacts:
        target = Path(artifacts) / "load" / "webui.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, target)


def test_throughput_tab_shows_live_figures_in_chromium(
    live_run: LiveRun, tmp_path: Path, headless_chromium: Callable[[Path], list[str]]
) -> None:
    screenshot = tmp_path / "webui.png"
    profile = tmp_path / "chromium-profile"
    deadline = time.monotonic() + BROWSER_TIMEOUT
    while True:  # a stats poll that lands between two uploads can still show an empty tab: look again
        remaining = max(deadline - time.monotonic(), 5.0)
        dom = render(headless_chromium(profile), f"{live_run.web_url}/?tab={TAB_KEY}", screenshot, remaining)
        table = read_table(dom)
        if shows_live_figures(table) or time.monotonic() >= deadline:
            break
    assert screenshot.is_file(), "Chromium wrote no screenshot"
    keep_artifact(screenshot)
    assert png_size(screenshot) == WINDOW
    assert screenshot.stat().st_size > 20_000  # the UI with its table, not a blank or error page

    assert table.selected_tabs == ["Registry throughput"], dom[-3000:]
    assert table.titles == [title for _, title in COLUMNS], dom[-3000:]
    assert shows_live_figures(table), f"no live MB/s for {SCENARIO} in {table.rows}"
    assert live_run.process.poll() is None, "the run ended before the page was read"

    # The JSON route serves the same rows: same columns, same scenarios, bytes still moving.
    document = get_json(live_run.web_url + "/keelhaul/throughput")
    assert document is not None and live_row(document), document
    assert [list(row) for row in document["rows"]] == [[key for key, _ in COLUMNS]] * len(document["rows"])
    assert [row["scenario"] for row in document["rows"]] == [row[0] for row in table.rows]
    assert [row[0] for row in table.rows] == [SCENARIO, "Total"]

    # The "Generator and target" tab: the generator process with its memory, plotted over time.
    resources_dom = render(
        headless_chromium(profile),
        f"{live_run.web_url}/?tab={RESOURCES_KEY}",
        tmp_path / "resources.png",
        BROWSER_TIMEOUT,
    )
    resources = read_table(resources_dom)
    assert resources.selected_tabs == ["Generator and target"], resources_dom[-3000:]
    assert resources.titles == [title for _, title in RESOURCE_COLUMNS]
    generator = next(row for row in resources.rows if row and row[0] == "generator local")
    memory = generator[[key for key, _ in RESOURCE_COLUMNS].index("memory")]
    assert memory and set(memory) <= set(SPARK_BLOCKS), generator
    assert generator[[key for key, _ in RESOURCE_COLUMNS].index("peak")].endswith(" MB"), generator

    # Stopping the live run (SIGTERM, as a process manager would) ends Locust gracefully: users stop
    # before verification, so every upload the run committed is verified and in the summary.
    stop_run(live_run.process)
    assert live_run.process.returncode == 0, live_run.log_tail()
    summary = json.loads((live_run.report_dir / "summary.json").read_text())
    verification = summary["verification"]
    assert summary["ok"] and summary["failures"] == 0, summary
    assert verification["checked"] == verification["verified"] == summary["uploads"]["count"], verification
