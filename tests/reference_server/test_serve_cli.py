"""`keelhaul serve` argument handling: bad values are one-line errors, never tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keelhaul.cli import main
from reference_server.config import default_data_dir


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--listen", "nohost"], "--listen must be HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "port must be 0-65535"),
        (["--listen", "127.0.0.1:http"], "port must be 0-65535"),
        (["--max-layer-size", "ten"], "--max-layer-size must be a positive integer"),
        (["--max-layer-size", "0"], "--max-layer-size must be positive"),
        (["--upload-timeout", "-5"], "--upload-timeout must be positive"),
        (["--upload-timeout", "nan"], "--upload-timeout must be positive"),
        (["--max-manifest-size", "1.5"], "--max-manifest-size must be a positive integer"),
        (["--public-url", "ftp://x"], "--public-url must start with http"),
    ],
)
def test_bad_flags_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    code = main(["serve", "--data", str(tmp_path), "--no-auth", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert fragment in err and err.startswith("keelhaul: ") and "\n" not in err


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "keelhaul",
                "serve",
                "--no-auth",
                "--data",
                str(tmp_path),
                "--listen",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("keelhaul: cannot listen on") and "Traceback" not in result.stderr


def test_default_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "keelhaul" / "registry"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_data_dir() == Path.home() / ".local" / "share" / "keelhaul" / "registry"
