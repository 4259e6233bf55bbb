"""Shared OCI content for the checks, built by fixtures (never by another check).

`pull_content` is session-scoped and only read: one repository holding an image pushed by tag and a
second manifest pushed by digest (what the official suite's Pull setup builds). In a --read-only run
it is the content the profile's [read_only] section names instead, so the same checks run there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conformance import content
from conformance.harness.state import HarnessState
from conformance.oci.expect import fail
from keelhaul.client import RegistryClient
from keelhaul.client.images import Built, Image
from keelhaul.profile import TargetProfile

PULL_TAG = "tagtest0"


@dataclass(frozen=True)
class PullContent:
    """What the pull checks read. Bytes are None when the suite did not push them (read-only run):
    checks then verify the digest of what they get instead of comparing bytes."""

    repo: str
    tag: str | None
    manifest_digest: str | None
    manifest: Built | None
    blob_digest: str | None
    blob: Built | None
    second_manifest: Built | None = None  # pushed by digest only


def push_blobs(client: RegistryClient, repo: str, image: Image) -> None:
    """Upload the image's blobs (config and layers), each by one monolithic POST+PUT; raise on refusal."""
    for blob in image.blobs:
        result = client.upload_monolithic(repo, blob.body if isinstance(blob, Built) else blob.source)
        if not result.ok:  # the registry refused the setup: a finding about the upload, not a suite error
            fail("OCI-PUSH-2: a monolithic upload MUST end in 201 (setup)", result.response, "201")


def push_image(client: RegistryClient, repo: str, image: Image, reference: str | None = None) -> None:
    """Upload the image's blobs and its manifest (by `reference`, default its digest). Raises with
    the answer when the target refuses: fixtures need the content in place to proceed."""
    push_blobs(client, repo, image)
    answer = client.put_manifest(
        repo, reference or image.manifest.digest, image.manifest.body, image.manifest.media_type
    )
    if answer.status_code != 201:
        fail("OCI-PUSH-12: PUT of a manifest MUST answer 201 (setup)", answer, "201")


@pytest.fixture(scope="session")
def pull_content(
    harness: HarnessState, target: TargetProfile, session_repo: Callable[[], tuple[str, RegistryClient]]
) -> PullContent:
    if harness.options.read_only:
        ro = target.read_only
        if ro is None:  # selection skips read-only checks then; this only guards a direct use
            pytest.skip("--read-only run but the profile names no [read_only] content")
        return PullContent(ro.repository, ro.tag, ro.manifest_digest, None, ro.blob_digest, None)
    repo, client = session_repo()
    first = content.image("pull-0")
    second = content.image("pull-1")
    push_image(client, repo, first, PULL_TAG)
    push_image(client, repo, second)
    layer = first.layers[0]
    assert isinstance(layer, Built), "content.image builds its layers in memory"
    return PullContent(
        repo,
        PULL_TAG,
        first.manifest.digest,
        first.manifest,
        layer.digest,
        layer,
        second.manifest,
    )


@pytest.fixture
def pushed(client: RegistryClient, new_repo: Callable[[], str]) -> Callable[..., tuple[str, Image]]:
    """`pushed(seed, tag=None, repo=None)`: a fresh image pushed into a new repository (or `repo`)."""

    def factory(
        seed: str, tag: str | None = None, repo: str | None = None, **kwargs: Any
    ) -> tuple[str, Image]:
        name = repo or new_repo()
        image = content.image(seed, **kwargs)
        push_image(client, name, image, tag)
        return name, image

    return factory
