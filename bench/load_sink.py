"""A registry-shaped sink: speaks just enough of the OCI upload protocol and throws every body away.

The load-generator benchmark pushes into it from curl and from a Locust worker. It stores nothing, so
its cost per byte is only the socket read, far below a real registry's: whatever is slower than the
sink is the generator. Raw asyncio (uvloop when installed) keeps it out of the measurement.

    python bench/load_sink.py --port 5550      # prints "load sink: listening on http://127.0.0.1:5550"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
from urllib.parse import parse_qs, urlsplit

READY_PREFIX = "load sink: listening on "
_UPLOADS = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/]*)$")
_BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[a-z0-9]+:[a-f0-9]+)$")
_ids = itertools.count(1)
sessions: dict[str, int] = {}  # upload id -> bytes received
blobs: dict[tuple[str, str], int] = {}  # (repository, digest) -> size


def answer(method: str, target: str, length: int) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for one request whose body (`length` bytes) was discarded."""
    parts = urlsplit(target)
    path = parts.path
    if path in ("/v2/", "/v2"):
        return 200, {"Content-Type": "application/json"}, b"{}"
    upload = _UPLOADS.match(path)
    if upload:
        name, upload_id = upload["name"], upload["id"]
        if method == "POST" and not upload_id:
            upload_id = str(next(_ids))
            sessions[upload_id] = 0
            return (
                202,
                {
                    "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
                    "Range": "0-0",
                    "Docker-Upload-UUID": upload_id,
                },
                b"",
            )
        if upload_id in sessions:
            if method == "PATCH":
                sessions[upload_id] += length
                return 202, {"Location": path, "Range": f"0-{max(0, sessions[upload_id] - 1)}"}, b""
            if method == "PUT":
                digest = parse_qs(parts.query).get("digest", [""])[0]
                blobs[(name, digest)] = sessions.pop(upload_id) + length
                return 201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}, b""
            if method == "GET":
                return 204, {"Location": path, "Range": f"0-{max(0, sessions[upload_id] - 1)}"}, b""
            if method == "DELETE":
                sessions.pop(upload_id, None)
                return 204, {}, b""
    blob = _BLOB.match(path)
    if blob and (blob["name"], blob["digest"]) in blobs:
        key = (blob["name"], blob["digest"])
        if method == "HEAD":
            return 200, {"Content-Length": str(blobs[key]), "Docker-Content-Digest": key[1]}, b""
        if method == "DELETE":
            del blobs[key]
            return 202, {}, b""
    body = json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "the sink only takes uploads"}]})
    return 404, {"Content-Type": "application/json"}, body.encode()


class SinkProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies only (chunked encoding gets 411)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.remaining = 0
        self.request: tuple[str, str, int] | None = None

    def data_received(self, data: bytes) -> None:
        if self.remaining:
            if len(data) <= self.remaining:
                self.remaining -= len(data)
                if not self.remaining:
                    self._respond()
                return
            data = data[self.remaining :]
            self.remaining = 0
            self._respond()
        self.buffer += data
        while self.request is None and b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
            }
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._send(411, {}, b"")
                self.transport.close()
                return
            length = int(headers.get("content-length", "0") or 0)
            self.request = (method, target, length)
            body_here = min(length, len(self.buffer))
            self.buffer = self.buffer[body_here:]
            self.remaining = length - body_here
            if self.remaining:
                return
            self._respond()

    def _respond(self) -> None:
        assert self.request is not None
        method, target, length = self.request
        self.request = None
        status, headers, body = answer(method, target, length)
        self._send(status, headers, b"" if method == "HEAD" else body, head_only=method == "HEAD")
        if self.buffer and not self.remaining:
            pending, self.buffer = self.buffer, b""
            self.data_received(pending)

    def _send(self, status: int, headers: dict[str, str], body: bytes, head_only: bool = False) -> None:
        if not head_only or "Content-Length" not in headers:
            headers = {**headers, "Content-Length": str(len(body))}
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"{READY_PREFIX}http://{host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
