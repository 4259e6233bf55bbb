"""Concurrency: 50 clients push the same blob and the same tag at once.

Each client (its own connection, released together by a barrier) uploads the same 2 MiB blob (a third
monolithic, a third chunked, a third single POST), then the same config, then PUTs its own manifest
(own annotation) to the same tag. Every request must succeed; the blob must exist once on disk, with
no upload left behind; the tag must point at one of the manifests that were pushed, byte-exact.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from pathlib import Path

from keelhaul.client import BytesBlob, RegistryClient, digest_of
from keelhaul.client.media_types import OCI_CONFIG, OCI_MANIFEST
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer

CLIENTS = 50
REPO = "race/app"
TAG = "latest"


def test_fifty_clients_push_the_same_blob_and_tag(tmp_path: Path, report_dir: Path) -> None:
    blob = random.Random(50).randbytes(2 * 1024 * 1024)
    config_blob = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    blob_digest, config_digest = digest_of(blob), digest_of(config_blob)
    barrier = threading.Barrier(CLIENTS)
    results: list[dict[str, object]] = [{} for _ in range(CLIENTS)]
    data_dir = tmp_path / "data"

    def client_run(index: int, url: str) -> None:
        outcome = results[index]
        try:
            with RegistryClient(url) as client:
                barrier.wait(60)
                method = ("monolithic", "chunked", "single POST")[index % 3]
                if method == "monolithic":
                    upload = client.upload_monolithic(REPO, blob)
                elif method == "chunked":
                    upload = client.upload_chunked(REPO, BytesBlob(blob), 512 * 1024)
                else:
                    upload = client.upload_single_post(REPO, blob)
                outcome["blob"] = upload.response.status_code if upload.response else None
                outcome["config"] = client.upload_monolithic(REPO, config_blob).response.status_code
                manifest = json.dumps(
                    {
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": {
                            "mediaType": OCI_CONFIG,
                            "digest": config_digest,
                            "size": len(config_blob),
                        },
                        "layers": [
                            {
                                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": blob_digest,
                                "size": len(blob),
                            }
                        ],
                        "annotations": {"client": str(index)},
                    }
                ).encode()
                outcome["manifest_body"] = manifest
                response = client.put_manifest(REPO, TAG, manifest, OCI_MANIFEST)
                outcome["manifest"] = response.status_code
                outcome["digest_header"] = response.headers.get("Docker-Content-Digest")
        except Exception as error:  # reported below, per client
            outcome["error"] = f"{type(error).__name__}: {error}"

    with EmbeddedServer(ServerConfig(listen_port=0, data_dir=data_dir, auth=False)) as server:
        assert server.url is not None
        threads = [threading.Thread(target=client_run, args=(i, server.url)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        with RegistryClient(server.url) as client:
            tagged = client.get_manifest(REPO, TAG)
            pulled_blob = client.get_blob(REPO, blob_digest)
            tags = client.list_tags(REPO).json()

    failures = [
        (i, r)
        for i, r in enumerate(results)
        if r.get("error") or (r.get("blob"), r.get("config"), r.get("manifest")) != (201, 201, 201)
    ]
    assert not failures, failures[:5]
    pushed = {r["manifest_body"] for r in results}
    assert tagged.status_code == 200 and tagged.content in pushed, (
        "the tag points at a manifest nobody pushed"
    )
    assert tagged.headers["Docker-Content-Digest"] == digest_of(tagged.content)
    assert tags == {"name": REPO, "tags": [TAG]}
    assert pulled_blob.content == blob
    hex_digest = blob_digest.split(":", 1)[1]
    copies = [p for p in (data_dir / "blobs").rglob("*") if p.is_file() and p.name == hex_digest]
    assert len(copies) == 1, copies
    assert hashlib.sha256(copies[0].read_bytes()).hexdigest() == hex_digest
    leftovers = [p.name for p in (data_dir / "uploads").iterdir()]
    assert not leftovers, f"upload data left behind: {leftovers[:5]}"
    summary = {
        "clients": CLIENTS,
        "all_succeeded": True,
        "blob_copies_on_disk": len(copies),
        "tag_points_at_client": json.loads(tagged.content)["annotations"]["client"],
    }
    (report_dir / "concurrency.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nconcurrency:", summary)
