"""allocator.keep_freed_memory: freed request-sized buffers must be reused without new page faults.

Run in a child process: the tuning changes malloc for the whole process, and fault counts of the
pytest process itself would be noise."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

CHILD = """
import resource, sys
if sys.argv[1] == "tuned":
    from reference_server.allocator import keep_freed_memory
    assert keep_freed_memory()

def one_patch():
    # 16 MiB arriving as 256 KiB socket reads, all freed when the request ends
    pieces = [b"x" * (256 * 1024) for _ in range(64)]
    del pieces

one_patch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    one_patch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc malloc")
def test_freed_upload_buffers_are_reused_without_page_faults() -> None:
    untuned = _faults("default")
    tuned = _faults("tuned")
    # 4 x 16 MiB = 16,384 pages: the default allocator faults most of them in again.
    assert untuned > 8000, "the scenario no longer reproduces the default allocator's refaulting"
    assert tuned < 500
