"""API-1…4 (GitHub REST "Packages"): list, get and delete packages and versions, restore them within 30
days unless the name was reused, versions as manifest digests with their tags, and visibility. Every
answer is validated against GitHub's REST description (conformance/schemas/github_rest/)."""

from __future__ import annotations

import pytest

from conformance.ghcr.support import (
    expect_github_answer,
    expect_github_error,
    expect_refused,
    expect_rest_status,
    json_body,
    push,
    set_visibility,
    split_repo,
)
from conformance.oci.expect import expect_manifest, expect_status, fail
from keelhaul.client.images import sample_image

pytestmark = pytest.mark.needs(packages_api="github", role="admin")
MAX_PAGES = 20


def _listed(rest, role, namespace, query=""):
    """Every package name of `namespace` the API lists to `role` (following `Link: rel="next"`)."""
    path = f"{rest.packages_path(namespace)}?package_type=container&per_page=100{query}"
    names: list[str] = []
    for _ in range(MAX_PAGES):
        answer = rest.call(role, "GET", path)
        expect_rest_status(answer, [200], f"API-1: list packages ({path})")
        expect_github_answer(answer, "API-1: listed packages have GitHub's shape")
        names += [package["name"] for package in json_body(answer, "API-1")]
        link = answer.headers.get("link") or ""
        next_link = [part for part in link.split(",") if 'rel="next"' in part]
        if not next_link:
            break
        path = next_link[0].split(";", 1)[0].strip().strip("<>")
        path = path[path.index("/", len("https://")) :] if path.startswith("http") else path
    return names


def _push_versions(client, repo):
    """Two versions: `v1` (also `latest`) and `v2`."""
    first, second = sample_image(f"api-1-{repo}"), sample_image(f"api-2-{repo}")
    for tag, image in (("v1", first), ("latest", first), ("v2", second)):
        expect_status(push(client, repo, tag, image), 201, f"API: setup push {repo}:{tag}")
    return first, second


@pytest.mark.req("API-1")
def test_list_and_get_packages(client, new_repo, rest):
    """API-1: the namespace's package list includes a new package, and GET returns it (GitHub's shape)."""
    repo = new_repo()
    _push_versions(client, repo)
    namespace, name = split_repo(repo)
    if name not in _listed(rest, "admin", namespace):
        fail("API-1: the new package is listed", None, f"{name} in the list", "not listed")
    package = rest.package("admin", repo, "API-1")
    for field, wanted in (("name", name), ("package_type", "container"), ("version_count", 2)):
        if package[field] != wanted:
            fail(f"API-1: package {field}", None, repr(wanted), repr(package[field]))
    if str(package["owner"]["login"]).lower() != namespace:
        fail("API-1: the package's owner is the namespace", None, namespace, package["owner"]["login"])
    expect_github_error(
        rest.call("admin", "GET", f"{rest.packages_path(namespace)}"),
        [400, 422],
        "API-1: package_type is required when listing",
    )


@pytest.mark.req("API-3")
def test_versions_are_digests_with_tags(client, new_repo, rest):
    """API-3: package versions are the manifest digests, each with its tags (metadata.container.tags)."""
    repo = new_repo()
    first, second = _push_versions(client, repo)
    untagged = sample_image(f"api-3-untagged-{repo}")
    expect_status(push(client, repo, None, untagged), 201, "API-3: setup push by digest")
    versions = {v["name"]: v for v in rest.versions("admin", repo, "API-3")}
    expected = {first.digest: {"v1", "latest"}, second.digest: {"v2"}, untagged.digest: set()}
    if set(versions) != set(expected):
        fail("API-3: the versions are the pushed manifest digests", None, sorted(expected), sorted(versions))
    for digest, tags in expected.items():
        got = set(versions[digest]["metadata"]["container"]["tags"])
        if got != tags:
            fail(f"API-3: the tags of {digest}", None, sorted(tags), sorted(got))
        one = rest.call("admin", "GET", f"{rest.package_path(repo)}/versions/{versions[digest]['id']}")
        expect_rest_status(one, [200], "API-3: GET one version by id")
        if json_body(one, "API-3")["name"] != digest:
            fail("API-3: the version by id is that digest", one, digest, one.json().get("name"))


@pytest.mark.req("API-1", "API-2")
def test_delete_and_restore_a_version(client, new_repo, rest):
    """API-1/API-2: deleting a version removes its manifest and tags from the registry; restoring it
    (within 30 days) brings both back."""
    repo = new_repo()
    first, second = _push_versions(client, repo)
    version = rest.version_of("admin", repo, second.digest, "API-1")
    path = f"{rest.package_path(repo)}/versions/{version['id']}"
    expect_rest_status(rest.call("admin", "DELETE", path), [204], "API-1: delete a version")
    expect_refused(
        client.get_manifest(repo, second.digest),
        "API-1: a deleted version no longer pulls",
        (404,),
        ("MANIFEST_UNKNOWN",),
    )
    expect_refused(
        client.get_manifest(repo, "v2"), "API-1: its tags went with it", (404,), ("MANIFEST_UNKNOWN",)
    )
    active = {v["name"] for v in rest.versions("admin", repo, "API-1")}
    if second.digest in active:
        fail("API-1: a deleted version is no longer listed", None, "not listed", "still listed")
    expect_rest_status(rest.call("admin", "POST", f"{path}/restore"), [204], "API-2: restore a version")
    expect_manifest(
        client.get_manifest(repo, "v2"), second.manifest, "API-2: the restored version pulls by tag"
    )
    expect_manifest(client.get_manifest(repo, "v1"), first.manifest, "API-2: the other version was untouched")


@pytest.mark.req("API-1", "API-2")
def test_delete_and_restore_a_package(client, new_repo, rest):
    """API-1/API-2: deleting a package makes it unpullable and unlisted; restoring it brings it back whole."""
    repo = new_repo()
    first, second = _push_versions(client, repo)
    path = rest.package_path(repo)
    namespace, name = split_repo(repo)
    expect_rest_status(rest.call("admin", "DELETE", path), [204], "API-1: delete a package")
    expect_github_error(rest.call("admin", "GET", path), [404], "API-1: a deleted package is not found")
    if name in _listed(rest, "admin", namespace):
        fail("API-1: a deleted package is not listed", None, "not listed", "listed")
    expect_refused(client.get_manifest(repo, "v1"), "API-1: a deleted package does not pull", (401, 403, 404))
    expect_rest_status(rest.call("admin", "POST", f"{path}/restore"), [204], "API-2: restore a package")
    expect_manifest(client.get_manifest(repo, "v1"), first.manifest, "API-2: the restored package pulls v1")
    expect_manifest(client.get_manifest(repo, "v2"), second.manifest, "API-2: and v2")


@pytest.mark.req("API-2")
def test_no_restore_after_the_name_was_reused(client, new_repo, rest):
    """API-2: a deleted package cannot be restored once its name was published again."""
    repo = new_repo()
    _push_versions(client, repo)
    path = rest.package_path(repo)
    expect_rest_status(rest.call("admin", "DELETE", path), [204], "API-2: delete a package")
    reused = sample_image(f"api-2-reused-{repo}")
    expect_status(push(client, repo, "v1", reused), 201, "API-2: the name is published again")
    answer = rest.call("admin", "POST", f"{path}/restore")
    expect_github_error(answer, [400, 404, 409, 422], "API-2: restoring over a reused name is refused")
    expect_manifest(client.get_manifest(repo, "v1"), reused.manifest, "API-2: the new package is untouched")


@pytest.mark.req("API-4", "AUTH-6")
def test_visibility_changes(client, client_for, new_repo, rest):
    """API-4: visibility is `private` at first, can be made `public` (anonymous pulls work, the list filter
    follows) and `private` again (anonymous pulls stop)."""
    repo = new_repo()
    image = sample_image(f"api-4-{repo}")
    expect_status(push(client, repo, "v1", image), 201, "API-4: setup push")
    namespace, name = split_repo(repo)
    if rest.package("admin", repo, "API-4")["visibility"] != "private":
        fail(
            "API-4: a new package is private",
            None,
            "private",
            rest.package("admin", repo, "API-4")["visibility"],
        )
    set_visibility(rest, repo, "public", "API-4")
    if rest.package("admin", repo, "API-4")["visibility"] != "public":
        fail("API-4: visibility changed to public", None, "public", "unchanged")
    if name not in _listed(rest, "admin", namespace, "&visibility=public"):
        fail("API-4: the visibility=public filter lists it", None, "listed", "not listed")
    if name in _listed(rest, "admin", namespace, "&visibility=private"):
        fail("API-4: the visibility=private filter leaves it out", None, "not listed", "listed")
    expect_manifest(
        client_for("anonymous").get_manifest(repo, "v1"),
        image.manifest,
        "API-4: a public package pulls anonymously",
    )
    set_visibility(rest, repo, "private", "API-4")
    expect_refused(
        client_for("anonymous").get_manifest(repo, "v1"), "API-4: private again: anonymous refused"
    )


@pytest.mark.req("API-4")
@pytest.mark.needs(role="other_tenant")
def test_internal_visibility_for_organisations(client, client_for, new_repo, rest):
    """API-4: an organisation's package can be `internal`: readable by its members, not by outsiders."""
    repo = new_repo()
    namespace, _ = split_repo(repo)
    if rest.owner_section(namespace) != "orgs":
        pytest.skip(f"{namespace} is a user namespace: only organisation packages can be internal")
    image = sample_image(f"api-4i-{repo}")
    expect_status(push(client, repo, "v1", image), 201, "API-4: setup push")
    set_visibility(rest, repo, "internal", "API-4")
    if rest.package("admin", repo, "API-4")["visibility"] != "internal":
        fail("API-4: visibility changed to internal", None, "internal", "unchanged")
    expect_refused(
        client_for("other_tenant").get_manifest(repo, "v1"), "API-4: internal is closed to outsiders"
    )
    expect_refused(client_for("anonymous").get_manifest(repo, "v1"), "API-4: internal is closed to anonymous")
    expect_manifest(
        client_for("reader").get_manifest(repo, "v1"),
        image.manifest,
        "API-4: an internal package pulls for members",
    )


@pytest.mark.req("API-1")
@pytest.mark.needs(role="other_tenant")
def test_user_namespace_packages(client_for, tenant_repo, rest):
    """API-1: a user lists, gets and deletes the packages of their own namespace (`/user/packages`,
    `/users/{user}/packages/container/{name}`)."""
    repo = tenant_repo()
    tenant = client_for("other_tenant")
    expect_status(
        push(tenant, repo, "v1", sample_image(f"api-user-{repo}")), 201, "API-1: the user publishes"
    )
    namespace, name = split_repo(repo)
    listing = rest.call("other_tenant", "GET", "/user/packages?package_type=container&per_page=100")
    expect_rest_status(listing, [200], "API-1: GET /user/packages")
    expect_github_answer(listing, "API-1: /user/packages items have GitHub's shape")
    own = json_body(listing, "API-1")
    if name not in [package["name"] for package in own]:
        fail("API-1: /user/packages lists the user's new package", listing, f"{name} listed", "not listed")
    if name not in _listed(rest, "other_tenant", namespace):
        fail("API-1: the user's package is listed under /users/{user}", None, f"{name} listed", "not listed")
    path = rest.package_path(repo)
    package = rest.package("other_tenant", repo, "API-1")
    if str(package["owner"]["login"]).lower() != namespace:
        fail("API-1: the owner is the user", None, namespace, package["owner"]["login"])
    expect_rest_status(
        rest.call("other_tenant", "DELETE", path), [204], "API-1: the user deletes their package"
    )
    expect_github_error(rest.call("other_tenant", "GET", path), [404], "API-1: the deleted package is gone")
    expect_refused(tenant.get_manifest(repo, "v1"), "API-1: and no longer pulls", (401, 403, 404))
