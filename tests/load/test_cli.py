"""`keelhaul load` argument errors are one line (exit 2), and the Locust command it builds."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from keelhaul.cli import build_parser, main
from load.cli import LOCUSTFILE, locust_command


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--users", "0"], "--users must be at least 1"),
        (["--spawn-rate", "0"], "--spawn-rate must be positive"),
        (["--processes", "0"], "--processes must be"),
        (["--processes", "2", "--master"], "do not combine it with --master/--worker"),
        (["--worker"], "--worker needs --master-host HOST"),
        (["--master-host", "h"], "--master-host only makes sense with --worker"),
        (["--worker", "--master-host", "h", "--host", "http://x"], "takes its target from the master"),
        (["--layer-size", "lots"], "--layer-size: cannot read 'lots' as a size"),
        (["--chunk-size", "0"], "--chunk-size must be positive"),
        (["--stop-after", "2 parsecs"], "--stop-after"),
        (["--scenario", "chunked", "bogus"], "unknown scenario 'bogus'"),
        (["--target", "/nonexistent/profile.toml"], "no such profile file"),
        (["--run-id", "Bad-Id"], "--run-id must be lower-case letters and digits only"),
        (["--smoke", "--layer-size", "huge"], "--layer-size: cannot read 'huge'"),
        (["--smoke", "--processes", "2"], "--smoke starts its own master and two workers"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keelhaul: ") and message in err and "\n" not in err


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["load", *argv])


def test_headless_command_writes_reports_and_selects_scenarios(tmp_path: Path) -> None:
    args = parse(
        [
            "--headless",
            "--users",
            "4",
            "--run-time",
            "1m",
            "--scenario",
            "chunked",
            "PullStorm",
            "--layer-size",
            "2GiB",
            "--processes",
            "2",
            "--stop-after",
            "4GiB",
            "--",
            "--loglevel",
            "WARNING",
        ]
    )
    command = locust_command(
        args, url="http://127.0.0.1:5000", profile=None, run_id="abc", report_dir=tmp_path
    )
    assert command[:4] == [sys.executable, "-m", "locust", "-f"] and command[4] == str(LOCUSTFILE)
    joined = " ".join(command)
    for fragment in (
        "--host http://127.0.0.1:5000",
        "--users 4",
        "--spawn-rate 4",
        "--layer-size 2GiB",
        "--run-time 1m",
        "--processes 2",
        "--headless",
        f"--csv {tmp_path}/locust",
        f"--html {tmp_path}/report.html",
        f"--keelhaul-report-dir {tmp_path}",
        "--run-id abc",
        f"--stop-after-bytes {4 << 30}",
        "ChunkedLayerUpload PullStorm --loglevel WARNING",
    ):
        assert fragment in joined


def test_profile_wins_over_url_and_workers_get_only_the_master() -> None:
    command = locust_command(
        parse(["--master", "--expect-workers", "3"]),
        url="http://x:1",
        profile="/p.toml",
        run_id="r",
        report_dir=None,
    )
    assert "--keelhaul-profile /p.toml" in " ".join(command) and "--host" not in command
    assert "--master --expect-workers 3" in " ".join(command)
    worker = locust_command(
        parse(["--worker", "--master-host", "10.0.0.5"]), url=None, profile=None, run_id="r", report_dir=None
    )
    assert worker[5:] == ["--worker", "--master-host", "10.0.0.5"]


def test_web_ui_waits_for_start_and_listens_on_loopback_unless_told() -> None:
    def build(*argv: str) -> str:
        return " ".join(
            locust_command(parse(list(argv)), url="http://x:1", profile=None, run_id="r", report_dir=None)
        )

    plain = build()
    assert "--autostart" not in plain and "--web-host 127.0.0.1" in plain
    started = build("--autostart", "--run-time", "1m", "--web-host", "0.0.0.0")
    assert "--autostart --autoquit 30" in started and "--web-host 0.0.0.0" in started


def test_processes_use_a_loopback_port_of_their_own() -> None:
    command = locust_command(
        parse(["--processes", "2", "--headless"]), url="http://x:1", profile=None, run_id="r", report_dir=None
    )
    port = command[command.index("--master-bind-port") + 1]
    assert command[command.index("--master-port") + 1] == port != "5557"
    assert command[command.index("--master-bind-host") + 1] == "127.0.0.1"


def test_embedded_target_pid_seed_and_keep_data_reach_locust() -> None:
    command = " ".join(
        locust_command(
            parse(["--seed", "abc", "--keep-data"]),
            url="http://x:1",
            profile=None,
            run_id="r",
            report_dir=None,
            embedded=True,
        )
    )
    assert f"--keelhaul-target-pid {os.getpid()}" in command
    assert "--seed abc" in command and "--keep-data" in command


# A stand-in for Locust: on SIGTERM or SIGINT it takes a moment (verification, cleanup), then exits 3.
# It writes with os.write: a signal can land while `print` still holds stdout's buffer, and a print
# in the handler would then fail with "reentrant call".
GRACEFUL_CHILD = """
import os, signal, sys, time
def finish(*_):
    time.sleep(0.5)
    os.write(1, b"finished gracefully\\n")
    sys.exit(3)
signal.signal(signal.SIGTERM, finish)
signal.signal(signal.SIGINT, finish)
os.write(1, b"ready\\n")
time.sleep(60)
"""
WRAPPER = "import sys; from load.cli import run_locust; sys.exit(run_locust(sys.argv[1:]))"


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["SIGTERM to the wrapper", "Ctrl-C in a terminal"],
)
def test_wrapper_lets_locust_finish_after_a_stop_signal(signum: int, to_group: bool) -> None:
    """`keelhaul load` waits for Locust's end-of-run work and returns its exit code, instead of
    killing it 0.25 s after Ctrl-C or leaving it running after a SIGTERM."""
    wrapper = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, sys.executable, "-c", GRACEFUL_CHILD],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert wrapper.stdout is not None and wrapper.stdout.readline().strip() == "ready"
        if to_group:
            os.killpg(wrapper.pid, signum)  # a terminal sends Ctrl-C to every process in the foreground
        else:
            wrapper.send_signal(signum)
        rest, _ = wrapper.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait(10)
    assert "finished gracefully" in rest and wrapper.returncode == 3
