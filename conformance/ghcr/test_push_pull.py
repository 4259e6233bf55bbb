"""PUSH-1…4 and PULL-1…4 (GHCR §"Subir imágenes de contenedor", §"Extraer imágenes de contenedor"):
tags and nested names, private by default, linking by the source label, pulls by digest, tag and name."""

from __future__ import annotations

import pytest

from conformance.ghcr.support import (
    SOURCE,
    expect_allowed,
    expect_refused,
    push,
    repository_url,
)
from conformance.oci.expect import expect_manifest, expect_status, fail
from keelhaul.client import digest_of
from keelhaul.client.images import sample_image


@pytest.mark.req("PUSH-1", "PULL-3")
def test_push_latest_and_version_tags(client, new_repo):
    """PUSH-1/PULL-3: `:latest` and `:2.5` style tags both push, and each pulls its own image."""
    repo = new_repo()
    images = {tag: sample_image(f"push1-{repo}-{tag}") for tag in ("latest", "2.5", "1.14.1")}
    for tag, image in images.items():
        expect_status(push(client, repo, tag, image), 201, f"PUSH-1: push {repo}:{tag} MUST succeed")
    for tag, image in images.items():
        expect_manifest(
            client.get_manifest(repo, tag), image.manifest, f"PULL-3: pull {repo}:{tag} resolves that tag"
        )


@pytest.mark.req("PUSH-1", "PULL-4")
def test_nested_names_push_and_pull(client, new_repo):
    """PUSH-1/PULL-4: names nest (`NAMESPACE/IMAGE/release:1.14.1`) and pull like flat ones."""
    repo = new_repo("release")
    image = sample_image(f"pull4-{repo}")
    expect_status(push(client, repo, "1.14.1", image), 201, f"PUSH-1: push to the nested name {repo}")
    expect_manifest(client.get_manifest(repo, "1.14.1"), image.manifest, "PULL-4: a nested name pulls by tag")
    expect_manifest(
        client.get_manifest(repo, image.digest), image.manifest, "PULL-4: a nested name pulls by digest"
    )
    for blob in image.blobs:
        answer = client.get_blob(repo, blob.digest)
        expect_status(answer, 200, "PULL-4: the nested name's layers pull")
        if answer.content != blob.body:
            fail("PULL-4: layer bytes", answer, f"{blob.size} bytes {blob.digest}", digest_of(answer.content))


@pytest.mark.req("PULL-1")
def test_pull_by_digest_is_stable(client, new_repo):
    """PULL-1: pulling `IMAGE@sha256:…` always returns the same bytes, hashing to that digest, even
    after the tag moved to another image."""
    repo = new_repo()
    first, second = sample_image(f"pull1-a-{repo}"), sample_image(f"pull1-b-{repo}")
    expect_status(push(client, repo, "latest", first), 201, "PULL-1: setup push")
    expect_status(push(client, repo, "latest", second), 201, "PULL-1: moving the tag")
    for _ in range(2):
        answer = client.get_manifest(repo, first.digest)
        expect_manifest(answer, first.manifest, "PULL-1: pull by digest returns the bytes of that digest")
        if digest_of(answer.content) != first.digest:
            fail("PULL-1: the digest matches the content", answer, first.digest, digest_of(answer.content))


@pytest.mark.req("PULL-2")
def test_reported_digest_is_the_content_digest(client, new_repo):
    """PULL-2: the Docker-Content-Digest the registry reports on push, HEAD and GET is the digest of the
    manifest bytes (what `docker inspect`/`pull` show)."""
    repo = new_repo()
    image = sample_image(f"pull2-{repo}")
    pushed = push(client, repo, "v1", image)
    expect_status(pushed, 201, "PULL-2: setup push")
    answers = [pushed, client.head_manifest(repo, "v1"), client.get_manifest(repo, "v1")]
    for answer in answers:
        reported = answer.headers.get("docker-content-digest")
        if reported != image.digest:
            fail(
                "PULL-2: Docker-Content-Digest is the manifest's digest", answer, image.digest, str(reported)
            )
    body = answers[-1].content
    if digest_of(body) != image.digest:
        fail(
            "PULL-2: the pulled bytes hash to the reported digest", answers[-1], image.digest, digest_of(body)
        )


@pytest.mark.req("PUSH-2", "AUTH-5")
@pytest.mark.needs("token_auth", roles=("other_tenant",))
def test_first_push_is_private(client, client_for, new_repo):
    """PUSH-2: a package's first publication is private: anonymous callers and other tenants cannot
    pull it."""
    repo = new_repo()
    image = sample_image(f"push2-{repo}")
    expect_status(push(client, repo, "v1", image), 201, "PUSH-2: setup push")
    expect_allowed(client.get_manifest(repo, "v1"), [200], "PUSH-2: the publisher pulls it")
    for role in ("anonymous", "other_tenant"):
        expect_refused(
            client_for(role).get_manifest(repo, "v1"), f"PUSH-2: a new package is private ({role})"
        )


@pytest.mark.req("PUSH-2", "API-4")
@pytest.mark.needs(packages_api="github")
def test_first_push_is_private_in_the_api(client, new_repo, rest):
    """PUSH-2: the packages API shows a freshly pushed package with visibility `private`."""
    repo = new_repo()
    expect_status(push(client, repo, "v1", sample_image(f"push2-api-{repo}")), 201, "PUSH-2: setup push")
    package = rest.package("writer", repo, "PUSH-2")
    if package["visibility"] != "private":
        fail(
            "PUSH-2: first publication is private", None, "visibility 'private'", repr(package["visibility"])
        )


@pytest.mark.req("PUSH-3")
@pytest.mark.needs(packages_api="github")
def test_cli_push_is_not_linked(client, new_repo, rest):
    """PUSH-3: a package pushed from the command line without the source label is linked to no repository."""
    repo = new_repo()
    expect_status(push(client, repo, "v1", sample_image(f"push3-{repo}")), 201, "PUSH-3: setup push")
    package = rest.package("writer", repo, "PUSH-3")
    if package.get("repository"):
        fail("PUSH-3: a CLI push is not linked", None, "no repository", repr(package["repository"]))


@pytest.mark.req("PUSH-4", "LBL-1")
@pytest.mark.needs(packages_api="github", role="workflow")
def test_source_label_links_repository(client, new_repo, rest, target):
    """PUSH-4/LBL-1: the `org.opencontainers.image.source` label (image config) links the package to that
    repository."""
    source_repository = target.role("workflow").source_repository
    repo = new_repo()
    image = sample_image(f"push4-{repo}", labels={SOURCE: repository_url(source_repository)})
    expect_status(push(client, repo, "v1", image), 201, "PUSH-4: setup push")
    package = rest.package("writer", repo, "PUSH-4")
    linked = (package.get("repository") or {}).get("full_name")
    if str(linked).lower() != source_repository.lower():
        fail(
            "PUSH-4: the source label links the package",
            None,
            f"repository {source_repository}",
            repr(linked),
        )
