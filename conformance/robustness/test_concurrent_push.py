"""Many concurrent pushes of one blob and one tag, inside the run's own repository: each answer is a
success or a clean 4xx, and what the registry ends with is consistent (the blob's bytes match its
digest, the tag names one of the manifests whose PUT succeeded, byte-exact)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conformance import content
from conformance.harness.state import HarnessState
from conformance.oci.expect import fail
from keelhaul.client.content import digest_of
from keelhaul.client.images import Built, oci_manifest, upload_data
from keelhaul.client.registry import RegistryClient

MOST_WRITERS = 16
TAG = "contended"


@pytest.mark.robustness
@pytest.mark.req("ROB-CONC-1")
def test_concurrent_pushes_of_one_blob_and_one_tag(
    client: RegistryClient, new_repo: Callable[[], str], harness: HarnessState
) -> None:
    """ROB-CONC-1: up to 16 writers (within --robustness-connections) push the same layer and then
    different manifests to one tag at the same moment: no 5xx, the blob and the tag end consistent."""
    repo = new_repo()
    writers = min(MOST_WRITERS, harness.options.robustness_connections)
    image = content.image("rob-conc-1")
    config, layer = image.config, image.layers[0]
    client.upload_monolithic(repo, upload_data(config))
    manifests = [
        oci_manifest(config, [layer], annotations={"org.keelhaul.writer": str(i)}) for i in range(writers)
    ]
    start = threading.Barrier(writers)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def push(index: int) -> Built | None:
        start.wait()
        blob = client.upload_monolithic(repo, upload_data(layer))
        put = client.put_manifest(repo, TAG, manifests[index].body, manifests[index].media_type)
        with lock:
            answers.extend([*blob.responses, put])
        return manifests[index] if put.status_code == 201 else None

    with ThreadPoolExecutor(max_workers=writers) as pool:
        accepted = [m for m in pool.map(push, range(writers)) if m is not None]
    for answer in answers:
        if answer.status_code >= 500:
            fail("ROB-CONC-1", answer, f"success or a 4xx while {writers} writers push one blob and tag")
    blob = client.get_blob(repo, layer.digest)
    if blob.status_code != 200 or digest_of(blob.content) != layer.digest:
        fail("ROB-CONC-1", blob, f"the layer {layer.digest} whole after {writers} concurrent pushes")
    if not accepted:
        pytest.fail(
            f"ROB-CONC-1: none of {writers} concurrent manifest PUTs to one tag succeeded", pytrace=False
        )
    tagged = client.get_manifest(repo, TAG)
    if tagged.status_code != 200 or tagged.content not in {m.body for m in accepted}:
        fail(
            "ROB-CONC-1", tagged, f"the tag to name one of the {len(accepted)} accepted manifests, byte-exact"
        )
    by_digest = client.get_manifest(repo, digest_of(tagged.content))
    if by_digest.status_code != 200 or by_digest.content != tagged.content:
        fail("ROB-CONC-1", by_digest, "the tagged manifest served by its digest, byte-exact")
