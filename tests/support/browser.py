"""Running one headless Chromium command to its end, for the tests that render pages."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def run_headless(command: list[str], timeout: float) -> str:
    """Run a headless Chromium `command` and return its stdout (the DOM with --dump-dom), "" if it
    hung past `timeout`. Its whole process group is killed after, so no helper process outlives it."""
    browser = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    out = b""
    try:
        out, _ = browser.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):  # helpers (zygote, utility processes) go too
            os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(10)
    return out.decode(errors="replace")
