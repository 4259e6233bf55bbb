"""The opt-in robustness probes (conformance/robustness): SKIP without --robustness, nothing found on
the embedded reference server, and a server that keeps slow and idle connections forever judged
ROBUSTNESS (never FAIL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.suite_run import run_suite

pytest_plugins = ["pytester"]

PROBES = Path(__file__).resolve().parents[2] / "conformance" / "robustness"


def outcomes(pytester: pytest.Pytester, *extra: str) -> tuple[int, dict[str, dict[str, object]]]:
    result, run_dir = run_suite(pytester, PROBES, "rob", *extra)
    document = json.loads((run_dir / "results.json").read_text())
    return result.ret, {t["nodeid"].split("::")[-1]: t for t in document["tests"]}


def test_probes_are_skipped_without_the_option(pytester: pytest.Pytester) -> None:
    code, tests = outcomes(pytester)
    assert code == 0
    assert len(tests) == 7
    assert {t["outcome"] for t in tests.values()} == {"SKIP"}
    assert all("opt-in: --robustness" in str(t["message"]) for t in tests.values())


def test_reference_server_has_no_robustness_finding(pytester: pytest.Pytester) -> None:
    code, tests = outcomes(
        pytester, "--robustness", "--robustness-connections", "8", "--robustness-budget", "30"
    )
    assert {name: t["outcome"] for name, t in tests.items()} == dict.fromkeys(tests, "PASS")
    assert len(tests) == 7 and code == 0
    # the embedded server's deadlines are 3 s (headers) and 5 s (idle): the figures are the report's
    idle = float(tests["test_idle_keep_alive_connection_is_closed"]["measured"]["idle_close_seconds"])
    assert 0 < idle < 30
    cost = tests["test_one_entry_listing_pages_cost_about_a_ping"]["measured"]
    assert "_catalog?n=1" in cost and all("x GET /v2/" in v for v in cost.values())


class _LingeringHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with no deadline at all: half-sent headers and idle keep-alives stay open forever."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def lingering_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LingeringHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_connections_kept_forever_are_robustness_findings(
    pytester: pytest.Pytester, lingering_server: str
) -> None:
    pytester.path.joinpath("profile.toml").write_text(
        f'[target]\nname = "lingering"\nkind = "distribution"\nurl = "{lingering_server}"\nnamespace = "ns"\n'
    )
    code, tests = outcomes(
        pytester,
        "--target",
        "profile.toml",
        "-k",
        "connections",
        "--robustness",
        "--robustness-connections",
        "4",
        "--robustness-budget",
        "2",
    )
    assert code == 1
    slow = tests["test_slow_headers_are_cut_off_and_others_still_served"]
    idle = tests["test_idle_keep_alive_connection_is_closed"]
    assert slow["outcome"] == idle["outcome"] == "ROBUSTNESS"
    assert "3 of 3 requests whose headers never end" in str(slow["message"])
    assert "idle keep-alive connection" in str(idle["message"])


def test_check_passes_the_robustness_options_to_pytest(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli import pytest_args
    from keelhaul.cli import build_parser

    parser = build_parser()
    argv = pytest_args(
        parser.parse_args(
            ["check", "--robustness", "--robustness-connections", "8", "--robustness-budget", "30"]
        )
    )
    assert "--robustness" in argv
    assert argv[argv.index("--robustness-connections") + 1] == "8"
    assert argv[argv.index("--robustness-budget") + 1] == "30.0"
    assert "--robustness" not in pytest_args(parser.parse_args(["check"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["check", "--robustness-connections", "1"])
    assert "expected 2 or more" in capsys.readouterr().err
