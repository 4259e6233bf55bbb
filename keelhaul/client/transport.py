"""An httpx transport on the standard library's HTTP/1.1 client, with a pool of kept-alive connections.

Why not httpx's own: httpcore and h11 spent about 0.5 ms of CPU on every request here (a pure-Python
state machine, header validation by regular expression), a third of the client's time in a default
conformance run of 2,000 requests, while `http.client` parses responses in about a third of that.
Everything above the wire stays httpx: requests, responses, timeouts, errors, redirects.

What it keeps from httpx's transport: one connection per request at a time, kept alive and reused
when the response was read to its end and the server did not close; a pooled connection the server
has closed (or sent anything to) while idle is dropped, never reused; httpx's exception classes.

Response heads are read by `_Response.begin` rather than `http.client`'s, which hands every head to
the `email` package's parser: that parser was a tenth of a default conformance run's CPU. The body
framing (length, chunked, read to close) and the reading stay `http.client`'s.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import httpx

MAX_IDLE_PER_ORIGIN = 16
READ_SIZE = 256 * 1024
SMALL_PIECE = 64 * 1024
MAX_HEAD_LINE = 65536  # as http.client: a longer status or header line is a protocol error
MAX_HEADER_LINES = 1000
_NO_TIMEOUT: dict[str, float | None] = {}

Origin = tuple[str, str, int]


class PooledTransport(httpx.BaseTransport):
    """HTTP/1.1 over `http.client`, for `http` and `https` URLs; shared by every client of a run."""

    def __init__(self, *, verify: bool = True) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None  # made at the first https connection: loading CAs costs
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request.url)
        timeouts = request.extensions.get("timeout", _NO_TIMEOUT)
        connection = self._take(origin) or self._connect(origin, timeouts.get("connect"))
        try:
            _send(connection, request, timeouts.get("write"))
        except Exception as error:
            # A server may answer before the body is all sent (413 for a body over its limit) and close:
            # that answer is what the caller asked about, so it is read if it is there.
            response = _early_response(connection, timeouts.get("read"))
            if response is None:
                raise _translated(error, "write") from error
        else:
            response = _response(connection, timeouts.get("read"))
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.getheaders()]
        return httpx.Response(
            status_code=response.status,
            headers=headers,
            stream=_Body(self, origin, connection, response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1")},
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _take(self, origin: Origin) -> http.client.HTTPConnection | None:
        """An idle connection to `origin` that the server has not closed, or None."""
        while True:
            with self._lock:
                pool = self._idle.get(origin)
                if not pool:
                    return None
                connection = pool.pop()
            if connection.sock is not None and not _readable(connection.sock):
                return connection
            connection.close()  # closed by the server while idle, or it sent something unasked

    def give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            pool = self._idle.setdefault(origin, [])
            if not self._closed and connection.sock is not None and len(pool) < MAX_IDLE_PER_ORIGIN:
                pool.append(connection)
                return
        connection.close()

    def _tls(self) -> ssl.SSLContext:
        """The same trust as httpx's own transport: its CA bundle, SSL_CERT_FILE and SSL_CERT_DIR."""
        with self._lock:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(verify=self._verify)
            return self._ssl

    def _connect(self, origin: Origin, timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = _TLSConnection(host, port, timeout=timeout, context=self._tls())
        else:
            connection = _Connection(host, port, timeout=timeout)
        try:
            connection.connect()  # with TCP_NODELAY, as http.client sets it
        except BaseException as error:
            connection.close()
            raise _translated(error, "connect") from error
        return connection


class _Headers:
    """A response's header fields in arrival order, looked up without regard to case: the part of
    `email.message.Message` that `http.client.HTTPResponse` and this transport use."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        wanted = name.lower()
        values = [value for field, value in self._fields if field.lower() == wanted]
        return values or default

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


def _read_line(fp: Any) -> bytes:
    line: bytes = fp.readline(MAX_HEAD_LINE + 1)
    if len(line) > MAX_HEAD_LINE:
        raise http.client.LineTooLong("header line")
    return line


def _read_fields(fp: Any) -> list[tuple[str, str]]:
    """Header lines up to the empty line, as (name, value) with the value's surrounding white space
    removed. A line folded onto the next (obsolete, RFC 9112 section 5.2) joins its field with one
    space; a line without a colon carries no field and is skipped, as lenient clients do."""
    fields: list[tuple[str, str]] = []
    for _ in range(MAX_HEADER_LINES + 1):
        line = _read_line(fp)
        if line in (b"\r\n", b"\n", b""):
            return fields
        text = line.decode("iso-8859-1")
        if text[0] in " \t" and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {text.strip()}".strip())
            continue
        name, colon, value = text.partition(":")
        if colon:
            fields.append((name, value.strip()))
    raise http.client.HTTPException(f"got more than {MAX_HEADER_LINES} header lines")


class _Response(http.client.HTTPResponse):
    """`http.client`'s response with its head read here (see the module docstring)."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        version, status, reason = self._read_status()
        while status == http.client.CONTINUE:  # interim answers carry nothing we use
            _read_fields(self.fp)
            version, status, reason = self._read_status()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.code = self.status = status
        self.reason = reason.strip()
        headers = _Headers(_read_fields(self.fp))
        self.headers = self.msg = headers
        self.chunked = (headers.get("transfer-encoding") or "").lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None if self.chunked else _content_length(headers.get("content-length"))
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or status < 200
            or self._method == "HEAD"
        ):
            self.length = 0  # no body, whatever the headers say
        if self.length is None and not self.chunked:
            self.will_close = True  # the body runs to the end of the connection


def _content_length(value: str | None) -> int | None:
    """The body length a Content-Length field gives, None when absent or not a length."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class _Connection(http.client.HTTPConnection):
    response_class = _Response


class _TLSConnection(http.client.HTTPSConnection):
    response_class = _Response


class _Body(httpx.SyncByteStream):
    """The response body as it arrives; the connection goes back to the pool once it is read to the end."""

    def __init__(
        self,
        transport: PooledTransport,
        origin: Origin,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        try:
            while piece := self._response.read(READ_SIZE):
                yield piece
        except BaseException as error:
            self._drop()
            raise _translated(error, "read") from error

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        finished = self._response.isclosed() and not self._response.will_close
        self._response.close()
        if finished:
            self._transport.give_back(self._origin, connection)
        else:  # unread bytes would be taken for the next response: never reuse
            connection.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._response.close()
        if connection is not None:
            connection.close()


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
    return scheme, url.host, url.port or (443 if scheme == "https" else 80)


def _send(connection: http.client.HTTPConnection, request: httpx.Request, timeout: float | None) -> None:
    """The request line and headers exactly as httpx built them, then the body, chunked if so framed."""
    if connection.sock is None:
        raise http.client.RemoteDisconnected("connection closed")
    connection.sock.settimeout(timeout)
    target = request.url.raw_path.decode("ascii")
    connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
    chunked = False
    for name, value in request.headers.raw:
        connection.putheader(name, value)
        chunked = chunked or (name.lower() == b"transfer-encoding" and value.lower() == b"chunked")
    stream: Any = request.stream
    if isinstance(stream, httpx.ByteStream):
        body = b"".join(stream)
        connection.endheaders(body or None)
        return
    connection.endheaders()
    for piece in stream:
        if not piece:
            continue
        if not chunked:
            connection.send(piece)
        elif len(piece) < SMALL_PIECE:
            connection.send(b"%x\r\n%b\r\n" % (len(piece), piece))
        else:  # a large piece is not copied to frame it
            connection.send(b"%x\r\n" % len(piece))
            connection.send(piece)
            connection.send(b"\r\n")
    if chunked:
        connection.send(b"0\r\n\r\n")


def _response(connection: http.client.HTTPConnection, timeout: float | None) -> http.client.HTTPResponse:
    try:
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection.getresponse()
    except BaseException as error:
        connection.close()
        raise _translated(error, "read") from error


def _early_response(
    connection: http.client.HTTPConnection, timeout: float | None
) -> http.client.HTTPResponse | None:
    """The answer a server sent before it stopped reading the body, or None; the connection is never
    reused after a failed send."""
    try:
        response = _response(connection, timeout)
    except Exception:
        return None
    response.will_close = True
    return response


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server's close, or bytes nobody asked for.
    poll, not select: select cannot watch a descriptor numbered past 1023 (a load run holds more)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    if not hasattr(select, "poll"):  # gevent's select module, under Locust, may lack it
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _translated(error: BaseException, phase: str) -> BaseException:
    """httpx's exception for what the socket or the parser raised; anything else as it was."""
    if isinstance(error, httpx.HTTPError):
        return error
    message = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
        return _TIMEOUTS[phase](message)
    if phase == "connect" and isinstance(error, OSError):
        return httpx.ConnectError(message)
    if isinstance(error, http.client.HTTPException):
        return httpx.RemoteProtocolError(message)
    if isinstance(error, OSError):
        return httpx.WriteError(message) if phase == "write" else httpx.ReadError(message)
    return error


_TIMEOUTS: dict[str, type[httpx.TimeoutException]] = {
    "connect": httpx.ConnectTimeout,
    "write": httpx.WriteTimeout,
    "read": httpx.ReadTimeout,
}
