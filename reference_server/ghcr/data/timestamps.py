"""One way to show a Unix timestamp: RFC 3339 in UTC to the second, as GitHub's APIs and the
token endpoint do (`issued_at`, package dates, the admin CLI's token list)."""

from __future__ import annotations

import datetime


def rfc3339(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
