"""A full disk or an exhausted quota, named: 507 Insufficient Storage with an OCI error body that says
which store ran out, `Retry-After`, and one log line when the condition starts and one when it ends
(not a traceback per request).

Why 507 and not the generic 500: a client told UNSUPPORTED/500 concludes the operation will never
work; 507 is "temporary, the server cannot store this now" (RFC 4918 §11.5), and pushes succeed again
once space frees, without a restart. The spec's error-code table governs 4xx bodies; for this 5xx
we send distribution's UNAVAILABLE code, the one registry clients already know for "try later".
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading

from reference_server.registry.errors import ErrorCode, OCIError

log = logging.getLogger("reference_server")

RETRY_AFTER_SECONDS = 30
_ERRNO_NAMES = {errno.ENOSPC: "ENOSPC", errno.EDQUOT: "EDQUOT"}


def exhausted_reason(error: BaseException) -> str | None:
    """ "ENOSPC", "EDQUOT" or "SQLITE_FULL" when `error` (or what caused it) is storage running out."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _ERRNO_NAMES:
            return _ERRNO_NAMES[current.errno]
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(current, sqlite3.Error) and code == sqlite3.SQLITE_FULL:
            return "SQLITE_FULL"
        current = current.__cause__ or current.__context__
    return None


def _store_of(reason: str) -> str:
    return "metadata database" if reason == "SQLITE_FULL" else "blob store"


class StorageAlarm:
    """Tracks whether storage is exhausted, so each episode is logged once, start and end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: str | None = None

    @property
    def active(self) -> str | None:
        return self._active

    def error_for(self, reason: str, where: str) -> OCIError:
        """The 507 answer for `reason`; logs a warning only when the episode starts."""
        with self._lock:
            starting = self._active is None
            self._active = reason
        if starting:
            log.warning(
                "storage exhausted (%s in the %s, first seen on %s): answering 507 until space frees",
                reason,
                _store_of(reason),
                where[:200],
            )
        return OCIError(
            ErrorCode.UNAVAILABLE,
            f"insufficient storage: the registry's {_store_of(reason)} is full ({reason}); retry later",
            status=507,
            detail={"storage": _store_of(reason), "reason": reason},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    def write_succeeded(self) -> None:
        """Call after a request that wrote succeeded: ends an episode (one log line)."""
        if self._active is None:
            return
        with self._lock:
            ended, self._active = self._active, None
        if ended is not None:
            log.warning("storage writable again (after %s): writes succeed", ended)
