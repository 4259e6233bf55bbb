"""A record of the HTTP exchanges a client made, safe to put in a report a customer will read.

Credentials never reach a record: Authorization headers, cookies, token fields in JSON bodies and
secret-looking query parameters are replaced by "<redacted>" before anything is stored.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, urlsplit, urlunsplit

REDACTED = "<redacted>"
BODY_TEXT_LIMIT = 4096
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth"}
)
SECRET_FIELDS = frozenset({"token", "access_token", "refresh_token", "password", "secret", "client_secret"})
SECRET_QUERY = frozenset({"access_token", "refresh_token", "token", "password", "client_secret"})
TEXT_TYPES = ("json", "text", "xml", "html", "javascript", "x-www-form-urlencoded")
_JSON_SECRET_RE = re.compile(r'("(?:' + "|".join(sorted(SECRET_FIELDS)) + r')"\s*:\s*)"(?:[^"\\]|\\.)*"')


@dataclass
class Exchange:
    """One request and its response, redacted."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body_size: int | None
    status: int | None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body_size: int | None = None
    response_text: str | None = None  # first 4 KiB of a text body, secrets redacted
    error: str | None = None  # transport error, when there was no response
    elapsed_ms: float | None = None
    note: str | None = None  # e.g. "token request"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """One line: "PUT /v2/x/manifests/v1 -> 201"."""
        path = urlsplit(self.url)
        target = path.path + (f"?{path.query}" if path.query else "")
        outcome = str(self.status) if self.status is not None else f"error: {self.error}"
        return f"{self.method} {target} -> {outcome}"


def redact_headers(headers: object) -> dict[str, str]:
    """A plain dict of the headers with secret values replaced; keeps the auth scheme visible."""
    items = headers.multi_items() if hasattr(headers, "multi_items") else dict(headers).items()  # type: ignore[call-overload]
    result: dict[str, str] = {}
    for name, value in items:
        lower = name.lower()
        if lower in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if lower.endswith("authorization") and " " in value else ""
            value = f"{scheme} {REDACTED}" if scheme else REDACTED
        result[lower] = f"{result[lower]}, {value}" if lower in result else value
    return result


def redact_url(url: str) -> str:
    """Drops userinfo and hides secret query parameters; leaves everything else byte for byte."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query and any(key.lower() in SECRET_QUERY for key, _ in parse_qsl(query, True)):
        query = "&".join(
            f"{pair.partition('=')[0]}={REDACTED}" if pair.partition("=")[0].lower() in SECRET_QUERY else pair
            for pair in query.split("&")
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """Hide token-like fields of a JSON body (works on truncated JSON too)."""
    try:
        document = json.loads(text)
    except ValueError:
        return _JSON_SECRET_RE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    return json.dumps(_redact_json(document))


def _redact_json(value: object) -> object:
    if isinstance(value, dict):
        return {k: (REDACTED if k.lower() in SECRET_FIELDS else _redact_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json(v) for v in value]
    return value


def is_text_type(content_type: str | None) -> bool:
    return bool(content_type) and any(kind in content_type.lower() for kind in TEXT_TYPES)  # type: ignore[union-attr]


class ExchangeRecorder:
    """Keeps the last `limit` exchanges (all of them when limit is None). Thread-safe."""

    def __init__(self, limit: int | None = 1000) -> None:
        self._exchanges: deque[Exchange] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._count = 0

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)
            self._count += 1

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def mark(self) -> int:
        """A position to pass to `since` (counts every exchange ever added)."""
        return self._count

    def since(self, mark: int) -> list[Exchange]:
        """Exchanges added after `mark` (as far as the limit kept them)."""
        with self._lock:
            newer = self._count - mark
            return list(self._exchanges)[-newer:] if newer > 0 else []

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()

    def __len__(self) -> int:
        return len(self._exchanges)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.exchanges)
