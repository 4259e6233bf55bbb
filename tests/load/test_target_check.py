"""Before any user starts, the target must answer GET /v2/ as the role that will push; otherwise the
run ends with one line. A profile's URL becomes Locust's host, so its reports name the target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from load.hooks import check_target
from load.target import embedded_profile_text
from tests.support.distribution import free_port

from .conftest import make_environment

REPO = Path(__file__).resolve().parents[2]


def test_profile_url_becomes_locusts_host(registry_url: str, tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(embedded_profile_text(registry_url))
    environment = make_environment([], ["--keelhaul-profile", str(profile)])
    environment.create_local_runner()
    assert not environment.host
    check_target(environment)
    assert environment.host == registry_url


def test_unreachable_target_stops_the_run_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    environment = make_environment([], ["--host", f"http://127.0.0.1:{free_port()}"])
    environment.create_local_runner()
    with pytest.raises(SystemExit) as stopped:
        check_target(environment)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("keelhaul: cannot reach the target at http://127.0.0.1:") and err.count("\n") == 1


def test_refused_credentials_stop_the_run(
    auth_server: tuple[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _tokens = auth_server
    profile = tmp_path / "p.toml"
    profile.write_text(
        embedded_profile_text(url)
        + '[credentials.writer]\nusername = "alice"\npassword_env = "KEELHAUL_T_PW"\n'
    )
    os.environ["KEELHAUL_T_PW"] = "not-a-token"
    try:
        environment = make_environment([], ["--keelhaul-profile", str(profile)])
        environment.create_local_runner()
        with pytest.raises(SystemExit):
            check_target(environment)
        assert "refuses the writer credentials of the profile (401" in capsys.readouterr().err
    finally:
        del os.environ["KEELHAUL_T_PW"]


def test_keelhaul_load_against_nothing_is_one_line_before_any_user() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "keelhaul", "load", "--host", f"http://127.0.0.1:{free_port()}", "--headless"],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "keelhaul: cannot reach the target at" in done.stderr and "Traceback" not in done.stderr
    assert "Ramping to" not in done.stdout + done.stderr  # no user was started
