"""Running the real container clients: one assertion with the command (credentials hidden) and its
stderr when a command fails; a skip with the reason when a binary is missing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

COMMAND_TIMEOUT = 180


def run(*command: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a client command; a failure shows the command and its stderr in one assertion."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{shown(command)} -> exit {result.returncode}: {result.stderr.strip()}"
    return result.stdout


def shown(command: tuple[str, ...]) -> str:
    """The command line with the values of --creds/--src-creds/--dest-creds hidden."""
    words = list(command)
    for index, word in enumerate(words[:-1]):
        if word.endswith("creds"):
            words[index + 1] = words[index + 1].split(":", 1)[0] + ":<redacted>"
    return " ".join(words)


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian package {binary})")
    return path
