"""One keep-alive HTTP/1.1 connection that sends exact bytes and reads one answer at a time: for
tests where the bytes on the wire matter (the replay of identical requests, framing after it)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawAnswer:
    raw: bytes  # everything received for this answer: status line, headers, body
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated name keeps its last value
    body: bytes

    def without_date(self) -> bytes:
        """The raw answer with its Date line removed (the one part allowed to differ on replay)."""
        lines = self.raw.split(b"\r\n")
        return b"\r\n".join(line for line in lines if not line.lower().startswith(b"date:"))


class RawConnection:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.host = f"{parts.hostname}:{parts.port}"
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self._buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()

    def request_bytes(self, method: str, path: str, *headers: str) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", *headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def exchange(self, method: str, path: str, *headers: str) -> RawAnswer:
        self.send(self.request_bytes(method, path, *headers))
        return self.read_answer(head_only=method == "HEAD")

    def read_answer(self, *, head_only: bool = False) -> RawAnswer:
        """One answer framed by its Content-Length (no body for HEAD)."""
        while b"\r\n\r\n" not in self._buffer:
            self._receive()
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            self._receive()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return RawAnswer(head + b"\r\n\r\n" + body, int(lines[0].split(" ")[1]), headers, body)

    def _receive(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk
