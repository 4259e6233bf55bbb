"""Keep freed upload buffers inside the process instead of handing them back to the kernel.

Why: request bodies arrive as one bytes object per socket read (up to 256 KiB each); glibc malloc's
defaults give memory back (heap trim, or mmap/munmap for big blocks) as soon as an upload's buffers
are freed, so the next request page-faults fresh, zeroed pages in again. For a chunked push that
happened on every PATCH: 16 MiB chunks cost ~2,700 page faults each and about a third of the server's
CPU (measured: 171k minor faults and 0.57 s of kernel time per GiB in the event loop thread, against
~50 faults and 0.17 s with the settings below). A fixed mmap threshold keeps those blocks on the heap,
and a trim threshold above what a few uploads hold at once keeps the heap from shrinking between
requests. The cost is bounded: at most TRIM_THRESHOLD_BYTES of freed memory stays resident.

Only for a process that is the server (`keelhaul serve`): it changes malloc for the whole process.
"""

from __future__ import annotations

import ctypes
import sys

MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024  # blocks below this come from the heap (socket reads are <= 256 KiB)
TRIM_THRESHOLD_BYTES = 32 * 1024 * 1024  # free heap kept before giving memory back
_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Tune glibc malloc as described above; False (and no change) when malloc is not glibc's."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # e.g. musl libc has no mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


def release_freed_memory() -> bool:
    """Hand free heap pages back to the kernel now (glibc malloc_trim); False where unavailable.
    Called after a burst of buffered bodies drained, since the threshold above keeps them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))
