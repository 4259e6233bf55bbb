"""keelhaul.client.transport.PooledTransport against a scripted HTTP/1.1 server on a raw socket, so
every byte on the wire and every connection is known."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import resource
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keelhaul.client.transport import PooledTransport

Handler = Callable[[socket.socket, "Wire"], None]


class Wire:
    """A server that runs `handler` once per accepted connection and keeps what it read."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(connection,), daemon=True).start()

    def _run(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            self.handler(connection, self)

    def close(self) -> None:
        self.listener.close()


def read_request(connection: socket.socket) -> bytes | None:
    """One request's head and its body (Content-Length or chunked), or None when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.recv(65536)
        if not piece:
            return None
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), None)
    if length is not None:
        while len(rest) < length:
            rest += connection.recv(65536)
        return head + b"\r\n\r\n" + rest
    if b"transfer-encoding: chunked" in lines:
        while not rest.endswith(b"0\r\n\r\n"):
            rest += connection.recv(65536)
        return head + b"\r\n\r\n" + rest
    return head + b"\r\n\r\n"


def keep_alive(body: bytes = b"ok") -> Handler:
    def handler(connection: socket.socket, wire: Wire) -> None:
        while (request := read_request(connection)) is not None:
            wire.requests.append(request)
            payload = b"" if request.startswith(b"HEAD") else body
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), payload))

    return handler


@pytest.fixture
def transport() -> Iterator[PooledTransport]:
    pool = PooledTransport()
    yield pool
    pool.close()


def serve(handler: Handler) -> Iterator[Wire]:
    wire = Wire(handler)
    yield wire
    wire.close()


@pytest.fixture
def wire() -> Iterator[Wire]:
    yield from serve(keep_alive())


def test_requests_reuse_one_kept_alive_connection(transport: PooledTransport, wire: Wire) -> None:
    with httpx.Client(transport=transport) as client:
        answers = [client.get(wire.url + "/v2/"), client.head(wire.url + "/v2/"), client.get(wire.url + "/x")]
    assert [(a.status_code, a.content) for a in answers] == [(200, b"ok"), (200, b""), (200, b"ok")]
    assert answers[0].reason_phrase == "OK" and answers[0].http_version == "HTTP/1.1"
    assert wire.connections == 1
    assert wire.requests[1].startswith(b"HEAD /v2/ HTTP/1.1\r\n")


def test_headers_and_bytes_body_go_out_as_httpx_built_them(transport: PooledTransport, wire: Wire) -> None:
    with httpx.Client(transport=transport) as client:
        client.put(wire.url + "/v2/r/manifests/a%2Bb?x=1", content=b"{}", headers={"X-Case": "Kept"})
    request = wire.requests[0]
    assert request.startswith(b"PUT /v2/r/manifests/a%2Bb?x=1 HTTP/1.1\r\n")
    assert b"\r\nX-Case: Kept\r\n" in request
    assert b"\r\nContent-Length: 2\r\n" in request and request.endswith(b"\r\n\r\n{}")
    assert b"accept-encoding: identity" not in request.lower()  # nothing added beyond httpx's headers


def test_a_body_of_unknown_length_is_sent_chunked(transport: PooledTransport, wire: Wire) -> None:
    pieces = [b"a" * 10, b"", b"b" * 70_000]
    with httpx.Client(transport=transport) as client:
        assert client.post(wire.url + "/upload", content=iter(pieces)).status_code == 200
    head, _, body = wire.requests[0].partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"a\r\n" + b"a" * 10 + b"\r\n" + b"11170\r\n" + b"b" * 70_000 + b"\r\n0\r\n\r\n"


def test_a_connection_numbered_past_1023_is_reused(transport: PooledTransport, wire: Wire) -> None:
    """select() cannot watch such a descriptor; a load run or a busy process holds that many."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the open-file limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    fillers = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with httpx.Client(transport=transport) as client:
            answers = [client.get(wire.url + "/").status_code for _ in range(3)]
        assert answers == [200, 200, 200]
        assert wire.connections == 1
        assert max(fillers) > 1023
    finally:
        for descriptor in fillers:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_the_server_closed_while_idle_is_not_reused(transport: PooledTransport) -> None:
    def answer_once(connection: socket.socket, wire: Wire) -> None:
        wire.requests.append(read_request(connection) or b"")
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive, then closes

    for wire in serve(answer_once):
        with httpx.Client(transport=transport) as client:
            first = client.get(wire.url + "/")
            threading.Event().wait(0.1)  # the server's close reaches the idle pooled connection
            second = client.get(wire.url + "/")
        assert (first.status_code, second.status_code) == (200, 200)
        assert wire.connections == 2


def test_an_unread_streamed_body_closes_its_connection(transport: PooledTransport) -> None:
    for wire in serve(keep_alive(b"x" * 1_000_000)):
        with httpx.Client(transport=transport) as client:
            with client.stream("GET", wire.url + "/blob") as streamed:
                assert len(next(streamed.iter_bytes())) > 0
            assert client.get(wire.url + "/blob").content == b"x" * 1_000_000
        assert wire.connections == 2  # the half-read one was closed, not handed to the next request


def test_an_answer_sent_before_the_body_is_read_is_returned(transport: PooledTransport) -> None:
    def refuse_early(connection: socket.socket, wire: Wire) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        connection.sendall(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig"
        )
        connection.shutdown(socket.SHUT_RDWR)

    def endless() -> Iterator[bytes]:
        while True:
            yield b"z" * 1_048_576

    for wire in serve(refuse_early):
        with httpx.Client(transport=transport) as client:
            answer = client.put(wire.url + "/upload", content=endless())
        assert (answer.status_code, answer.content) == (413, b"big")


def test_socket_failures_are_httpx_errors(transport: PooledTransport) -> None:
    def silent(connection: socket.socket, wire: Wire) -> None:
        read_request(connection)
        threading.Event().wait(2)

    def garbage(connection: socket.socket, wire: Wire) -> None:
        read_request(connection)
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    closed = socket.create_server(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    with httpx.Client(transport=transport, timeout=0.3) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{refused_port}/")
        for wire in serve(silent):
            with pytest.raises(httpx.ReadTimeout):
                client.get(wire.url + "/")
        for wire in serve(garbage):
            with pytest.raises(httpx.RemoteProtocolError):
                client.get(wire.url + "/")
        with pytest.raises(httpx.UnsupportedProtocol):
            client.get("ftp://127.0.0.1/")


def test_a_closed_transport_keeps_no_connection(wire: Wire) -> None:
    transport = PooledTransport()
    with httpx.Client(transport=transport) as client:
        client.get(wire.url + "/")
    transport.close()
    assert transport._idle == {}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA vouches for, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keelhaul-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_is_verified_unless_the_profile_says_not_to(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    serving = keep_alive(b"secret")

    def over_tls(connection: socket.socket, wire: Wire) -> None:
        with server_side.wrap_socket(connection, server_side=True) as tls:
            serving(tls, wire)

    for wire in serve(over_tls):
        url = f"https://127.0.0.1:{wire.port}/v2/"
        with httpx.Client(transport=PooledTransport()) as client, pytest.raises(httpx.ConnectError):
            client.get(url)  # nobody vouches for the certificate
        with httpx.Client(transport=PooledTransport(verify=False)) as client:
            answers = [client.get(url).content, client.get(url).content]
        assert answers == [b"secret", b"secret"]
        assert wire.connections == 2  # the refused handshake, then one kept-alive connection


def scripted(*answers: bytes) -> Handler:
    """Answer the requests of one connection with `answers` in turn, then close."""

    def handler(connection: socket.socket, wire: Wire) -> None:
        for answer in answers:
            if read_request(connection) is None:
                return
            connection.sendall(answer)

    return handler


def test_response_heads_are_read_as_http_says(transport: PooledTransport) -> None:
    """Repeated fields in order, folded lines joined, a line without a colon skipped, an interim 100
    passed over, and the framing each status and method implies (the next answer on the same
    connection proves where each body ended)."""
    answers = (
        b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
        b'HTTP/1.1 201 Created\r\nWarning: 299 - "one"\r\nX-Folded: first\r\n  second\r\n'
        b'no colon here\r\nwarning: 299 - "two"\r\nContent-Length: 3\r\n\r\nabc',
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # a HEAD: no body despite the length
        b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nto the end",  # neither length nor chunks: the body runs to the close
    )
    for wire in serve(scripted(*answers)):
        with httpx.Client(transport=transport) as client:
            created = client.put(wire.url + "/a", content=b"x")
            head = client.head(wire.url + "/b")
            empty = client.get(wire.url + "/c")
            chunked = client.get(wire.url + "/d")
            to_close = client.get(wire.url + "/e")
        assert wire.connections == 1
    assert created.status_code == 201 and created.content == b"abc"
    assert created.headers.get_list("warning") == ['299 - "one"', '299 - "two"']
    assert created.headers["x-folded"] == "first second"
    assert "x-interim" not in created.headers and len(created.headers) == 4
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")
    assert (empty.status_code, empty.content) == (204, b"")
    assert chunked.content == b"hi"
    assert to_close.content == b"to the end"


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 1001 + b"\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
    ],
    ids=["line-too-long", "too-many-lines", "not-http-1"],
)
def test_a_malformed_head_is_a_protocol_error(transport: PooledTransport, head: bytes) -> None:
    for wire in serve(scripted(head)):
        with httpx.Client(transport=transport) as client, pytest.raises(httpx.RemoteProtocolError):
            client.get(wire.url + "/")
