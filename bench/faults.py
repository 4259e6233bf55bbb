"""The reference server under faults (issue 15): the three figures its acceptance asks for.

    python bench/faults.py [--repositories 20000] [--stalled 200] [--only catalog|neighbours|rss]

- catalog: the median cost of `GET /v2/_catalog?n=1` for a user who may read none of the
  repositories, with 20,000 repositories against 10 (target: within 2x).
- neighbours: manifest GETs per second from one client, alone and while another client loops
  that catalog page (target: within 2x).
- rss: the server's RSS while 200 clients each send all but the last byte of a 4 MiB manifest
  and stall, and after they close (target: peak < 150 MB, and it falls back).

Each part starts its own `keelhaul serve` (ServerProcess) on a temp data folder, so the server's
CPU and memory are its own. Prints the figures and PASS/MISS; exit status 1 with --strict on a miss.
"""

from __future__ import annotations

import argparse
import json
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess

MB = 1_000_000
MIB = 1024 * 1024
DIGEST = "sha256:" + "0" * 64


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# -- catalog -----------------------------------------------------------------------------------
def seed_auth_world(data: Path, repositories: int) -> str:
    """`repositories` private packages of `owner` (with their registry repositories) and a PAT of
    `outsider`, who may read none of them. Written straight into the stores (fast), before the
    server starts. Returns the outsider's token."""
    from reference_server.ghcr.admin import Admin
    from reference_server.storage.metadata import MetadataStore

    admin = Admin(data)
    metadata = MetadataStore(data / "registry.db")
    try:
        owner = admin.create_user("owner")
        admin.create_user("outsider")
        token = admin.create_token("outsider", ["read:packages"]).token
        store = admin.store
        db = store._connection()
        now = time.time()
        db.execute("BEGIN")
        columns = {row["name"] for row in db.execute("PRAGMA table_info(packages)")}
        named = "registry_name" in columns  # absent before issue 15: lets the bench run on old code
        db.executemany(
            "INSERT INTO packages (owner_id, name, visibility, repository_id, inherit, created_by, "
            f"created_at, updated_at{', registry_name' if named else ''}) "
            f"VALUES (?, ?, 'private', NULL, 1, 'bench', ?, ?{', ?' if named else ''})",
            [
                (owner.id, f"img{i:06d}", now, now, *([f"owner/img{i:06d}"] if named else []))
                for i in range(repositories)
            ],
        )
        db.execute("COMMIT")
        conn = metadata._conn
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT OR IGNORE INTO repositories (name, created_at) VALUES (?, ?)",
            [(f"owner/img{i:06d}", now) for i in range(repositories)],
        )
        conn.execute("COMMIT")
    finally:
        metadata.close()
        admin.close()
    return token


def bearer(url: str, token: str, scope: str) -> str:
    response = httpx.get(
        f"{url}/token",
        params={"scope": scope, "service": urlsplit(url).netloc},
        auth=("outsider", token),
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["token"]


def timed_requests(client: httpx.Client, path: str, seconds: float) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = client.get(path)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    return latencies


def catalog_cost(workdir: Path, repositories: int, seconds: float) -> float:
    data = workdir / f"catalog-{repositories}"
    token = seed_auth_world(data, repositories)
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None
        jwt = bearer(server.url, token, "registry:catalog:*")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {jwt}"}) as client:
            page = client.get("/v2/_catalog?n=1")
            assert page.status_code == 200 and page.json()["repositories"] == [], page.text
            return statistics.median(timed_requests(client, "/v2/_catalog?n=1", seconds))


# -- neighbours ------------------------------------------------------------------------------------
def push_small_image(client: httpx.Client, repo: str) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    import hashlib

    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=config).raise_for_status()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    client.put(
        f"/v2/{repo}/manifests/v1",
        content=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()


def manifest_rate_beside_catalog(workdir: Path, repositories: int, seconds: float) -> tuple[float, float]:
    data = workdir / "neighbours"
    token = seed_auth_world(data, repositories)
    # a public image the manifest client pulls anonymously
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None
        from reference_server.ghcr.admin import Admin

        admin = Admin(data)
        try:
            writer = admin.create_token("owner", ["read:packages", "write:packages"]).token
        finally:
            admin.close()
        scope = "repository:owner/public-app:pull,push"
        jwt = httpx.get(
            f"{server.url}/token",
            params={"scope": scope, "service": urlsplit(server.url).netloc},
            auth=("owner", writer),
            timeout=30,
        ).json()["token"]
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {jwt}"}, timeout=30) as c:
            push_small_image(c, "owner/public-app")
        catalog_jwt = bearer(server.url, token, "registry:catalog:*")
        pull_jwt = httpx.get(
            f"{server.url}/token",
            params={"scope": "repository:owner/public-app:pull", "service": urlsplit(server.url).netloc},
            auth=("owner", writer),
            timeout=30,
        ).json()["token"]
        headers = {
            "Authorization": f"Bearer {pull_jwt}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        }

        def rate() -> float:
            """Manifest GETs/s from wrk (a C client, 4 connections), so the client is not the limit."""
            command = ["wrk", "-t1", "-c4", f"-d{int(seconds)}s"]
            for name, value in headers.items():
                command += ["-H", f"{name}: {value}"]
            output = subprocess.run(
                [*command, f"{server.url}/v2/owner/public-app/manifests/v1"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            if "Non-2xx" in output:
                raise RuntimeError(f"manifest GETs failed: {output}")
            return float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))

        rate()  # warm-up (the policy's decision cache, the page cache), not counted
        alone = rate()
        # The catalog loop runs in its own process: one client, one request after another.
        looper = subprocess.Popen(
            [sys.executable, "-c", CATALOG_LOOP, server.url, catalog_jwt],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(1)
            beside = rate()
        finally:
            looper.terminate()
            looped = looper.communicate(timeout=30)[0].strip()
        print(f"(catalog loop: {looped} pages while measured)")
        return alone, beside


CATALOG_LOOP = """
import signal, sys, httpx
count = 0
def stop(*_):
    print(count, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with httpx.Client(base_url=sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]}) as client:
    while True:
        assert client.get("/v2/_catalog?n=1").status_code == 200
        count += 1
"""


# -- rss -----------------------------------------------------------------------------------------
def stalled_manifests(url: str, pid: int, count: int, size: int, hold: float) -> tuple[int, int, int, int]:
    """(RSS before, peak RSS, RSS after close, bodies refused with 503)."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    head = (
        f"PUT /v2/stall/app/manifests/v1 HTTP/1.1\r\nHost: registry\r\n"
        f"Content-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    body = b"{" + b" " * (size - 2)  # all but the last byte: the server must hold it, waiting
    before = rss_bytes(pid)
    peak = before
    selector = selectors.DefaultSelector()
    pending: dict[socket.socket, memoryview] = {}
    refused = 0
    for _ in range(count):
        sock = socket.create_connection(address)
        sock.setblocking(False)
        pending[sock] = memoryview(head + body)
        selector.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ)
    opened = list(pending)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        for key, events in selector.select(timeout=0.05):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if events & selectors.EVENT_READ:
                try:
                    answer = sock.recv(65536)
                except OSError:
                    answer = b""
                if answer.startswith(b"HTTP/1.1 503"):
                    refused += 1
                selector.unregister(sock)
                pending.pop(sock, None)
                continue
            data = pending.get(sock)
            if data is None or not data:
                continue
            try:
                sent = sock.send(data[: 256 * 1024])
            except OSError:
                selector.unregister(sock)
                pending.pop(sock)
                continue
            pending[sock] = data[sent:]
            if not pending[sock]:
                selector.modify(sock, selectors.EVENT_READ)
        peak = max(peak, rss_bytes(pid))
    for sock in opened:
        sock.close()
    selector.close()
    time.sleep(3)  # the server notices the closes and the debounced trim runs
    return before, peak, rss_bytes(pid), refused


def rss_under_stalled_bodies(workdir: Path, count: int) -> tuple[int, int, int, int]:
    config = ServerConfig(listen_port=0, data_dir=workdir / "rss", auth=False)
    with ServerProcess(config) as server:
        assert server.url is not None and server.pid is not None
        with httpx.Client(base_url=server.url) as client:
            push_small_image(client, "warm/app")  # warm the paths first, as a running server would be
        return stalled_manifests(server.url, server.pid, count, 4 * MIB, hold=8.0)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repositories", type=int, default=20_000)
    parser.add_argument("--stalled", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed loop")
    parser.add_argument("--only", choices=["catalog", "neighbours", "rss"], default=None)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    results: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="keelhaul-faults-bench-") as tmp:
        workdir = Path(tmp)
        parts: dict[str, Callable[[], None]] = {}

        def catalog() -> None:
            small = catalog_cost(workdir, 10, args.seconds)
            large = catalog_cost(workdir, args.repositories, args.seconds)
            ratio = large / small
            print(
                f"catalog n=1, nothing readable: 10 repos {small * 1000:.2f} ms, "
                f"{args.repositories} repos {large * 1000:.2f} ms, ratio {ratio:.2f} (target <= 2) "
                f"{verdict(ratio <= 2)}"
            )
            results.append(("catalog", ratio <= 2))

        def neighbours() -> None:
            alone, beside = manifest_rate_beside_catalog(workdir, args.repositories, args.seconds)
            ratio = alone / beside if beside else float("inf")
            print(
                f"manifest GETs/s: alone {alone:.0f}, beside a catalog loop {beside:.0f}, "
                f"ratio {ratio:.2f} (target <= 2) {verdict(ratio <= 2)}"
            )
            results.append(("neighbours", ratio <= 2))

        def rss() -> None:
            before, peak, after, refused = rss_under_stalled_bodies(workdir, args.stalled)
            ok = peak < 150 * MB and after < peak
            print(
                f"RSS with {args.stalled} stalled 4 MiB manifests: before {before / MB:.0f} MB, "
                f"peak {peak / MB:.0f} MB (target < 150), after close {after / MB:.0f} MB; "
                f"{refused} refused with 503 {verdict(ok)}"
            )
            results.append(("rss", ok))

        parts = {"catalog": catalog, "neighbours": neighbours, "rss": rss}
        for name, run in parts.items():
            if args.only in (None, name):
                run()
    missed = [name for name, ok in results if not ok]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
