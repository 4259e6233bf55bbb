"""Crash safety: kill -9 the server (ServerProcess) in the middle of chunked uploads, monolithic blob
uploads and manifest writes, restart it on the same data folder, and check that

- everything committed before the kill is intact and verifies (bytes hash to their digest, manifests
  byte-exact by tag and by digest, tag lists complete);
- no partial blob or manifest is visible (over HTTP, and no blob file on disk whose content does not
  hash to its name);
- an interrupted upload either resumes from the offset the server reports (and then verifies) or
  answers 404 BLOB_UPLOAD_UNKNOWN.

Results are printed and written to reports/robustness/crash.json.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from keelhaul.client import RegistryClient
from keelhaul.client.images import push_image, sample_image
from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess

OCTET = {"Content-Type": "application/octet-stream"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 4 * 1024 * 1024
ROUNDS = 3


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Committed:
    """What the server acknowledged (201) before a kill: it must all survive."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()


def slow_body(data: bytes, halfway: threading.Event, piece: int = 64 * 1024) -> Iterator[bytes]:
    """Yield `data` in pieces with pauses, setting `halfway` once half of it went out."""
    for start in range(0, len(data), piece):
        if start >= len(data) // 2:
            halfway.set()
        yield data[start : start + piece]
        time.sleep(0.002)
    halfway.set()


def kill_mid_request(
    server: ServerProcess, http: httpx.Client, method: str, target: str, body: bytes, headers: dict[str, str]
) -> None:
    """Send `body` slowly and SIGKILL the server once half of it is on the wire; the server must
    not have answered (else the test interrupted nothing)."""
    halfway = threading.Event()
    outcome: dict[str, object] = {}

    def send() -> None:
        try:
            outcome["status"] = http.request(
                method, target, content=slow_body(body, halfway), headers=headers
            ).status_code
        except httpx.HTTPError as error:
            outcome["error"] = type(error).__name__

    sender = threading.Thread(target=send)
    sender.start()
    assert halfway.wait(60)
    server.kill()
    sender.join(60)
    assert "status" not in outcome, "the server answered before the kill; the test did not interrupt it"


def verify_everything(url: str, committed: Committed, data_dir: Path) -> dict[str, int]:
    """Every acknowledged blob, manifest and tag is there and exact; every blob file on disk hashes
    to its own name; every listed tag resolves to bytes matching its digest."""
    checked = {"blobs": 0, "manifests": 0, "tags": 0, "blob_files": 0}
    with httpx.Client(base_url=url, timeout=60) as http:
        for (repo, digest), data in committed.blobs.items():
            response = http.get(f"/v2/{repo}/blobs/{digest}")
            assert response.status_code == 200, (repo, digest, response.status_code)
            assert response.content == data and sha256(response.content) == digest
            checked["blobs"] += 1
        for (repo, digest), body in committed.manifests.items():
            response = http.get(f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST})
            assert response.status_code == 200, (repo, digest, response.status_code)
            assert response.content == body
            checked["manifests"] += 1
        repos = {repo for repo, _ in committed.manifests} | {repo for repo, _ in committed.tags}
        for repo in repos:
            listed = http.get(f"/v2/{repo}/tags/list").json()["tags"]
            for tag_repo, tag in committed.tags:
                if tag_repo == repo:
                    assert tag in listed, (repo, tag)
            for tag in listed:  # also tags whose PUT was in flight: all or nothing
                response = http.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
                assert response.status_code == 200, (repo, tag, response.status_code)
                assert sha256(response.content) == response.headers["Docker-Content-Digest"]
                checked["tags"] += 1
    for path in (data_dir / "blobs").rglob("*"):
        if path.is_file():
            algorithm = path.relative_to(data_dir / "blobs").parts[0]
            assert hashlib.new(algorithm, path.read_bytes()).hexdigest() == path.name, f"partial blob {path}"
            checked["blob_files"] += 1
    return checked


def push_committed_images(url: str, committed: Committed, repo: str, count: int) -> None:
    with RegistryClient(url) as client:
        for index in range(count):
            image = sample_image(f"crash-{repo}-{index}")
            tag = f"base-{index}"
            digest = push_image(client, repo, tag, image)
            committed.manifests[(repo, digest)] = image.manifest.body
            committed.tags[(repo, tag)] = digest
            for blob in image.blobs:
                committed.blobs[(repo, blob.digest)] = blob.body


def kill_during_chunked_upload(config: ServerConfig, committed: Committed, rng: random.Random) -> dict:
    """Two chunks acknowledged, the third killed halfway through its body."""
    data = rng.randbytes(3 * CHUNK)
    server = ServerProcess(config)
    url = server.start()
    push_committed_images(url, committed, "crash/chunked", 2)
    with httpx.Client(base_url=url, timeout=60) as http:
        location = http.post("/v2/crash/chunked/blobs/uploads/").headers["Location"]
        for index in range(2):
            piece = data[index * CHUNK : (index + 1) * CHUNK]
            headers = {**OCTET, "Content-Range": f"{index * CHUNK}-{(index + 1) * CHUNK - 1}"}
            assert http.patch(location, content=piece, headers=headers).status_code == 202
        headers = {**OCTET, "Content-Range": f"{2 * CHUNK}-{3 * CHUNK - 1}", "Content-Length": str(CHUNK)}
        kill_mid_request(server, http, "PATCH", location, data[2 * CHUNK :], headers)

    again = ServerProcess(config)
    url = again.start()
    try:
        checked = verify_everything(url, committed, config.data_dir)
        with httpx.Client(base_url=url, timeout=60) as http:
            assert http.head(f"/v2/crash/chunked/blobs/{sha256(data)}").status_code == 404, (
                "partial blob visible"
            )
            status = http.get(location)
            if status.status_code == 404:
                assert status.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
                result = "BLOB_UPLOAD_UNKNOWN"
                offset = None
            else:
                assert status.status_code == 204, status.status_code
                offset = int(status.headers["Range"].split("-")[1]) + 1
                assert 2 * CHUNK <= offset <= 3 * CHUNK, f"offset {offset} outside what was acknowledged/sent"
                rest = data[offset:]
                response = http.patch(
                    location, content=rest, headers={**OCTET, "Content-Range": f"{offset}-{len(data) - 1}"}
                )
                assert response.status_code == 202, response.text
                done = http.put(f"{location}?digest={sha256(data)}")
                assert done.status_code == 201, done.text
                pulled = http.get(f"/v2/crash/chunked/blobs/{sha256(data)}")
                assert pulled.content == data
                result = "resumed"
                committed.blobs[("crash/chunked", sha256(data))] = data
    finally:
        again.stop()
    return {
        "scenario": "kill -9 halfway through a chunk PATCH",
        "upload": result,
        "resumed_at": offset,
        "verified": checked,
    }


def kill_during_manifest_writes(config: ServerConfig, committed: Committed, rng: random.Random) -> dict:
    """A writer pushes manifests (new tags, moved tags, by digest) as fast as it can; kill at random."""
    server = ServerProcess(config)
    url = server.start()
    repo = "crash/manifests"
    push_committed_images(url, committed, repo, 1)
    with RegistryClient(url) as client:
        image = sample_image("crash-manifest-base")
        push_image(client, repo, None, image)
        for blob in image.blobs:
            committed.blobs[(repo, blob.digest)] = blob.body
    base = json.loads(image.manifest.body)
    stop = threading.Event()
    acknowledged = {"count": 0}

    def writer() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            index = 0
            while not stop.is_set():
                document = dict(base, annotations={"n": str(index), "pad": "x" * rng.randint(0, 3000)})
                body = json.dumps(document).encode()
                tag = f"t{index % 7}"
                reference = tag if index % 3 else f"{sha256(body)}?tag={tag}"
                try:
                    response = http.put(
                        f"/v2/{repo}/manifests/{reference}",
                        content=body,
                        headers={"Content-Type": OCI_MANIFEST},
                    )
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    with committed.lock:
                        committed.manifests[(repo, sha256(body))] = body
                        committed.tags[(repo, tag)] = sha256(body)
                        acknowledged["count"] += 1
                index += 1

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(rng.uniform(0.3, 1.0))
    server.kill()
    stop.set()
    thread.join(30)

    again = ServerProcess(config)
    url = again.start()
    try:
        checked = verify_everything(url, committed, config.data_dir)
    finally:
        again.stop()
    return {
        "scenario": "kill -9 during a stream of manifest PUTs",
        "acknowledged_before_kill": acknowledged["count"],
        "verified": checked,
    }


def kill_during_monolithic_upload(config: ServerConfig, committed: Committed, rng: random.Random) -> dict:
    """A single-request (POST ?digest=) and a monolithic PUT, each killed halfway through the body."""
    results = {}
    for kind in ("single POST", "monolithic PUT"):
        data = rng.randbytes(2 * CHUNK)
        server = ServerProcess(config)
        url = server.start()
        with httpx.Client(base_url=url, timeout=60) as http:
            if kind == "single POST":
                target = f"/v2/crash/mono/blobs/uploads/?digest={sha256(data)}"
                method = "POST"
            else:
                location = http.post("/v2/crash/mono/blobs/uploads/").headers["Location"]
                target, method = f"{location}?digest={sha256(data)}", "PUT"
            kill_mid_request(server, http, method, target, data, {**OCTET, "Content-Length": str(len(data))})
        again = ServerProcess(config)
        url = again.start()
        try:
            verify_everything(url, committed, config.data_dir)
            with httpx.Client(base_url=url, timeout=60) as http:
                head = http.head(f"/v2/crash/mono/blobs/{sha256(data)}")
                assert head.status_code == 404, f"partial {kind} blob visible"
            leftovers = sorted(p.name for p in (config.data_dir / "uploads").glob("tmp-*"))
            assert not leftovers, f"stray temp files after restart: {leftovers}"
        finally:
            again.stop()
        results[kind] = "nothing visible, no temp files left"
    return {"scenario": "kill -9 halfway through a one-request blob upload", **results}


def test_kill_9_never_loses_or_exposes_data(tmp_path: Path, report_dir: Path) -> None:
    config = ServerConfig(listen_port=0, data_dir=tmp_path / "data", auth=False)
    committed = Committed()
    rng = random.Random(6)
    results = []
    for _ in range(ROUNDS):
        results.append(kill_during_chunked_upload(config, committed, rng))
        results.append(kill_during_manifest_writes(config, committed, rng))
    results.append(kill_during_monolithic_upload(config, committed, rng))
    summary = {
        "rounds": ROUNDS,
        "kills": len(results) + 1,
        "committed_blobs": len(committed.blobs),
        "committed_manifests": len(committed.manifests),
        "results": results,
    }
    (report_dir / "crash.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\ncrash:", json.dumps(summary, indent=1))
