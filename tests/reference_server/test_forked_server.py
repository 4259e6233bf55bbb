"""ForkedServer: the reference server in a child forked from a process with one thread. It serves the
configuration and hooks it was given, prepares its data first and serves copies of it from instances
of their own, stops (every instance) when told or when its parent dies however it dies, and a start
that fails says why. Each case runs in a fresh interpreter: this test process has threads (the
session's embedded server), and forking it would be the unsafe fork ForkedServer refuses."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx

from reference_server.forked import ForkedServer

SCRIPT = """
import json, os, signal, sys
from pathlib import Path
from reference_server.config import ServerConfig
from reference_server.forked import ForkedServer

def broken(parts):
    raise ValueError("a hook that refuses")

def prepare():
    (Path(sys.argv[1]) / "lane-0" / "prepared.txt").write_text("made before any instance started")
    print("a word from the server's side", flush=True)  # to the log, never to this process's stdout
    return {"pid": os.getpid()}

root = Path(sys.argv[1])
(root / "lane-0").mkdir()
config = ServerConfig(listen_port=0, data_dir=root / "lane-0", auth=False)
server = ForkedServer(
    config,
    hooks=[broken] if sys.argv[2] == "broken" else [],
    prepare=prepare,
    copies=[root / "lane-1", root / "lane-2"],
    log_path=root / "server.log",
)
server.launch()
try:
    url = server.wait()
except Exception as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}", "pid": server.pid}), flush=True)
    sys.exit(0)
print(json.dumps({
    "url": url, "urls": server.urls, "pid": server.pid, "prepared": server.prepared,
    "aiohttp here": "aiohttp" in sys.modules,
}), flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.readline()
server.stop()
print(json.dumps({"stopped": server.pid is None and server.url is None}), flush=True)
"""


def _start(tmp_path: Path, how: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/v2/", timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_serves_until_told_to_stop_then_is_gone(tmp_path):
    parent = _start(tmp_path, "serve")
    assert parent.stdin is not None and parent.stdout is not None
    started = json.loads(parent.stdout.readline())
    urls = started["urls"]
    assert len(set(urls)) == 3 and urls[0] == started["url"]  # the first instance, then a copy each
    for url in urls:
        assert httpx.get(f"{url}/v2/", timeout=5).status_code == 200
    assert started["prepared"] == {"pid": started["pid"]}  # ran in the child
    assert not started["aiohttp here"]  # the server's imports are the child's
    for lane in ("lane-1", "lane-2"):  # each copy serves what prepare left, in a folder of its own
        assert (tmp_path / lane / "prepared.txt").read_text() == "made before any instance started"
    assert "a word from the server's side" in (tmp_path / "server.log").read_text()
    parent.stdin.write("\n")
    parent.stdin.flush()
    assert json.loads(parent.stdout.readline()) == {"stopped": True}
    assert parent.wait(10) == 0
    assert not any(_answers(url) for url in urls)


def test_a_start_that_fails_says_why(tmp_path):
    parent = _start(tmp_path, "broken")
    assert parent.stdout is not None
    answer = json.loads(parent.stdout.readline())
    assert answer == {"error": "ValueError: a hook that refuses", "pid": None}  # raised as it was; reaped
    assert parent.wait(10) == 0


def test_the_server_stops_when_its_parent_dies(tmp_path):
    parent = _start(tmp_path, "die")
    assert parent.stdout is not None
    started = json.loads(parent.stdout.readline())
    assert parent.wait(10) == -9
    deadline = time.monotonic() + 10
    while any(_answers(url) for url in started["urls"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_answers(url) for url in started["urls"])  # the copies too


def test_no_fork_from_a_process_with_threads():
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert not ForkedServer.can_fork()
    finally:
        stop.set()
        helper.join()
