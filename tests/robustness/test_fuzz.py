"""Fuzz the reference server's HTTP surface: at least 10,000 generated requests, zero 5xx, every 4xx
an OCI error body. The server runs as a child process (`keelhaul serve --no-auth`), so the client
threads and the server use both cores, and a crash would show as a dead process, not a hung thread.

Counts are printed and written to reports/robustness/fuzz.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from keelhaul.client import RegistryClient
from keelhaul.client.images import push_image, sample_image
from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess

from .http_fuzz import Known, RequestFactory, Verdict, fire

REQUESTS = int(os.environ.get("KEELHAUL_FUZZ_REQUESTS", "10000"))
THREADS = 4
SEED = int(os.environ.get("KEELHAUL_FUZZ_SEED", "20261126"))
LIVE_SESSIONS = 40


def seed_content(url: str) -> Known:
    """Two repositories with images and tags, plus live upload sessions for the fuzzer to poke."""
    repos, tags, blobs, manifests = ["fz/app", "fz/app/nested", "fz/other"], ["v1", "latest", "2.5"], [], []
    with RegistryClient(url) as client:
        for index, repo in enumerate(repos[:2]):
            for tag in tags:
                image = sample_image(f"fuzz-{index}-{tag}")
                manifests.append(push_image(client, repo, tag, image))
                blobs += [blob.digest for blob in image.blobs]
        uploads = []
        for index in range(LIVE_SESSIONS):
            response = client.request("POST", f"/v2/{repos[index % 3]}/blobs/uploads/")
            assert response.status_code == 202
            uploads.append(response.headers["Location"])
    return Known(repos, tags, sorted(set(blobs)), manifests, uploads)


def test_fuzz_http_surface(tmp_path: Path, report_dir: Path) -> None:
    config = ServerConfig(
        listen_port=0,
        data_dir=tmp_path / "data",
        auth=False,
        max_layer_bytes=1_000_000,
        upload_timeout_seconds=120,
    )
    server = ServerProcess(config, log_path=tmp_path / "serve.log")
    url = server.start()
    verdict = Verdict()
    started = time.monotonic()
    try:
        known = seed_content(url)
        fire(
            url,
            lambda index: RequestFactory(SEED + index, known),
            verdict.judge,
            verdict,
            requests=REQUESTS,
            threads=THREADS,
        )
        alive = server.process is not None and server.process.poll() is None
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    summary = verdict.summary() | {"seed": SEED, "threads": THREADS, "seconds": round(elapsed, 1)}
    (report_dir / "fuzz.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nfuzz: {summary['requests']} requests in {elapsed:.1f} s (seed {SEED}): {summary['by_class']}")
    print(
        f"fuzz: 5xx {summary['server_errors']}, non-OCI 4xx bodies {summary['non_oci_error_bodies']}, "
        f"transport errors {summary['transport_errors']}"
    )
    print(f"fuzz: error codes {summary['error_codes']}")
    problems = verdict.server_errors[:5] + verdict.bad_error_bodies[:5] + verdict.transport_errors[:5]
    assert alive, "the server process died during the fuzz run"
    assert verdict.total >= REQUESTS
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("seed", [1, 2])
def test_request_factory_is_deterministic(seed: int) -> None:
    known = Known(
        ["a/b"], ["v1"], ["sha256:" + "1" * 64], ["sha256:" + "2" * 64], ["/v2/a/b/blobs/uploads/x"]
    )
    first, again = RequestFactory(seed, known), RequestFactory(seed, known)
    requests = [first.next().describe() for _ in range(50)]
    assert requests == [again.next().describe() for _ in range(50)]
    assert len(set(requests)) > 40, "the generator must vary its requests"
