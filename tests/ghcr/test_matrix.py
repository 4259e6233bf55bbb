"""The token × action matrix on the running reference server (AUTH-1…AUTH-11).

Rows: who is calling (anonymous, alice's reader / writer / deleter / full tokens, another tenant,
an expired and a revoked token, a workflow token of alice/app). Columns: pull of a private and a
public package, push, delete, catalog, and the packages REST API. Every cell is one real request
through the shared OCI client, token flow included. The server runs with `--registry-deletes`, so
the delete column shows who may delete; by default every /v2 delete answers 405 as on ghcr.io
(test_ghcr_answers.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keelhaul.client.images import sample_image

from .world import World, start_world

PRIVATE = "alice/private-img"
PUBLIC = "alice/public-img"

# role: (pull private, pull public, push, delete, catalog status, catalog shows private, REST get)
MATRIX = {
    "anonymous": (401, 200, 401, 401, 401, False, 401),
    "reader": (200, 200, 403, 403, 200, True, 200),
    "writer": (200, 200, 201, 403, 200, True, 200),
    "deleter": (200, 200, 403, 202, 200, True, 200),
    "owner": (200, 200, 201, 202, 200, True, 200),
    "other": (403, 200, 403, 403, 200, False, 404),
    "expired": (401, 401, 401, 401, 401, False, 401),
    "revoked": (401, 401, 401, 401, 401, False, 401),
    "workflow": (403, 200, 403, 403, 200, False, 404),
}
ROLES = list(MATRIX)
# Callers who cannot create packages in alice's namespace: for them a missing package and an
# unreadable one must look the same. (alice's own workflows may create there, so they can tell.)
OUTSIDERS = ("anonymous", "other", "expired", "revoked")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    started = start_world(tmp_path_factory.mktemp("matrix"), registry_deletes=True)
    yield started
    started.server.stop()
    started.admin.close()


@pytest.fixture(scope="module")
def packages(world: World) -> World:
    assert world.push("owner", PRIVATE, "v1", sample_image("matrix-private")).status_code == 201
    assert world.push("owner", PUBLIC, "v1", sample_image("matrix-public")).status_code == 201
    world.admin.set_visibility(PUBLIC, "public")
    return world


@pytest.mark.parametrize("role", ROLES)
def test_pull_private(packages: World, role: str) -> None:
    """AUTH-2/5/11: private packages need a token with read access; others get a refusal that
    does not say whether the package exists."""
    with packages.client(role) as client:
        response = client.get_manifest(PRIVATE, "v1")
        missing = client.get_manifest("alice/no-such-package", "v1")
    assert response.status_code == MATRIX[role][0], response.text
    if role in OUTSIDERS:
        assert (missing.status_code, missing.json()) == (response.status_code, response.json())  # AUTH-11


@pytest.mark.parametrize("role", ROLES)
def test_pull_public(packages: World, role: str) -> None:
    """AUTH-6: anyone pulls a public package, anonymously too; bad credentials are still refused."""
    with packages.client(role) as client:
        assert client.get_manifest(PUBLIC, "v1").status_code == MATRIX[role][1]


@pytest.mark.parametrize("role", ROLES)
def test_push(packages: World, role: str) -> None:
    """AUTH-3/5/8: pushing needs write:packages and write access (workflows: a connected package)."""
    response = packages.push(role, PRIVATE, f"push-{role}", sample_image(f"matrix-push-{role}"))
    assert response.status_code == MATRIX[role][2], response.text
    if response.status_code == 403:
        assert response.json()["errors"][0]["code"] == "DENIED"


@pytest.mark.parametrize("role", ROLES)
def test_delete(packages: World, role: str) -> None:
    """AUTH-4: deleting needs delete:packages (and admin on the package)."""
    image = sample_image(f"matrix-delete-{role}")
    assert packages.push("owner", PRIVATE, f"delete-{role}", image).status_code == 201
    with packages.client(role) as client:
        response = client.delete_manifest(PRIVATE, image.digest)
    assert response.status_code == MATRIX[role][3], response.text
    with packages.client("owner") as client:
        still_there = client.get_manifest(PRIVATE, image.digest).status_code == 200
    assert still_there == (response.status_code != 202)


@pytest.mark.parametrize("role", ROLES)
def test_catalog_lists_only_readable(packages: World, role: str) -> None:
    with packages.client(role) as client:
        response = client.catalog()
    assert response.status_code == MATRIX[role][4]
    if response.status_code == 200:
        names = response.json()["repositories"]
        assert (PRIVATE in names) == MATRIX[role][5]
        assert PUBLIC in names


@pytest.mark.parametrize("role", ROLES)
def test_rest_get_package(packages: World, role: str) -> None:
    """API-1 with AUTH-11: a package the caller cannot read is a 404 like a missing one."""
    credentials = packages.credentials(role)
    auth = (credentials.username, credentials.password) if credentials else None
    with packages.http() as http:
        response = http.get("/users/alice/packages/container/private-img", auth=auth)
        missing = http.get("/users/alice/packages/container/no-such-package", auth=auth)
    assert response.status_code == MATRIX[role][6], response.text
    if response.status_code == 200:
        assert response.json()["name"] == "private-img"
    else:
        assert missing.status_code == response.status_code


def test_reader_token_cannot_push_even_to_a_new_package(packages: World) -> None:
    assert (
        packages.push("reader", "alice/new-from-reader", "v1", sample_image("reader-new")).status_code == 403
    )


def test_other_tenant_cannot_create_in_my_namespace(packages: World) -> None:
    assert packages.push("other", "alice/bobs-attempt", "v1", sample_image("bob-in-alice")).status_code == 403
    assert packages.push("other", "bob/own", "v1", sample_image("bob-own")).status_code == 201


def test_mount_from_an_unreadable_package_is_refused(packages: World) -> None:
    """A cross-repository mount never copies a blob the caller cannot read (no 201 from bob)."""
    image = sample_image("mount-source")
    assert packages.push("owner", "alice/mount-source", "v1", image).status_code == 201
    layer = image.layers[0].digest
    with packages.client("other") as client:
        response = client.mount_blob("bob/mounted", layer, from_repo="alice/mount-source")
        automatic = client.mount_blob("bob/mounted", layer)
        head = client.head_blob("bob/mounted", layer)
    assert response.status_code == 202 and automatic.status_code == 202
    assert head.status_code == 404


def test_public_packages_still_need_a_token_to_publish_or_delete(packages: World) -> None:
    """AUTH-5: anonymous callers never push to or delete from a public package."""
    image = sample_image("anonymous-public-push")
    assert packages.push("anonymous", PUBLIC, "anon", image).status_code == 401
    with packages.client("anonymous") as client:
        assert client.delete_manifest(PUBLIC, "v1").status_code == 401
        assert client.get_manifest(PUBLIC, "v1").status_code == 200
