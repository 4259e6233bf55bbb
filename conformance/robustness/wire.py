"""Raw HTTP/1.1 sockets for the connection probes: httpx cannot send headers that never end or keep a
connection idle on purpose, so these speak the wire themselves (TLS when the target URL is https)."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Endpoint:
    """Where the target listens, from its profile URL."""

    host: str
    port: int
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        return cls(parts.hostname or "localhost", parts.port or (443 if tls else 80), tls)

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        return sock


def request_bytes(endpoint: Endpoint, path: str = "/v2/") -> bytes:
    """A complete keep-alive GET."""
    return f"GET {path} HTTP/1.1\r\nHost: {endpoint.host_header}\r\nConnection: keep-alive\r\n\r\n".encode()


def unfinished_head(endpoint: Endpoint) -> bytes:
    """The start of a request whose headers have not ended (no blank line yet)."""
    return f"GET /v2/ HTTP/1.1\r\nHost: {endpoint.host_header}\r\nX-Keelhaul-Slow: ".encode()


def read_response(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one response with a Content-Length or no body;
    raises TimeoutError past the deadline and ConnectionError when the server closes before it is whole."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += _recv(sock, deadline)
    return status, headers, body[:length]


def _recv(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete response before the deadline")
    sock.settimeout(remaining)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection before the response was whole")
    return chunk


def closed_or_answered(sock: socket.socket) -> bytes | None:
    """Without waiting: None while the connection is open and silent; b"" once the server closed it;
    else the bytes it sent (a 408 or another answer also ends a half-sent request)."""
    sock.settimeout(0.0)
    try:
        return sock.recv(65536)
    except (BlockingIOError, ssl.SSLWantReadError, TimeoutError):
        return None
    except OSError:
        return b""


def trickle(sock: socket.socket) -> bool:
    """Send one more header byte; False when the server has closed the connection."""
    sock.settimeout(1.0)
    try:
        sock.sendall(b"x")
    except OSError:
        return False
    return True
