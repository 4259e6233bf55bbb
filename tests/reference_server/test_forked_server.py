"""ForkedServer: the reference server in a child forked from a process with one thread. It serves the
configuration and hooks it was given, stops when told or when its parent dies however it dies, and a
start that fails says why. Each case runs in a fresh interpreter: this test process has threads (the
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

def setup(url):
    return {"url": url, "pid": os.getpid()}

config = ServerConfig(listen_port=0, data_dir=Path(sys.argv[1]), auth=False)
server = ForkedServer(config, hooks=[broken] if sys.argv[2] == "broken" else [], setup=setup)
server.launch()
try:
    url = server.wait()
except Exception as error:
    print(json.dumps({"error": f"{type(error).__name__}: {error}", "pid": server.pid}), flush=True)
    sys.exit(0)
print(json.dumps({
    "url": url, "pid": server.pid, "setup": server.setup_result, "aiohttp here": "aiohttp" in sys.modules,
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
    assert httpx.get(f"{started['url']}/v2/", timeout=5).status_code == 200
    assert started["setup"] == {"url": started["url"], "pid": started["pid"]}  # ran in the child
    assert not started["aiohttp here"]  # the server's imports are the child's
    parent.stdin.write("\n")
    parent.stdin.flush()
    assert json.loads(parent.stdout.readline()) == {"stopped": True}
    assert parent.wait(10) == 0
    assert not _answers(started["url"])


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
    while _answers(started["url"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _answers(started["url"])


def test_no_fork_from_a_process_with_threads():
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert not ForkedServer.can_fork()
    finally:
        stop.set()
        helper.join()
