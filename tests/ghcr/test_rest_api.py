"""The packages REST API in GitHub's shapes (API-1…API-4)."""

from __future__ import annotations

from keelhaul.client.images import sample_image

from .world import World

BASE = "/users/alice/packages/container"


def push(world: World, name: str, tag: str, seed: str) -> str:
    image = sample_image(seed)
    assert world.push("owner", name, tag, image).status_code == 201
    return image.digest


def pull_status(world: World, name: str, reference: str, role: str = "owner") -> int:
    with world.client(role) as client:
        return client.get_manifest(name, reference).status_code


def test_list_get_and_shapes(world: World) -> None:
    """API-1: list and get, with GitHub's fields; package_type is required."""
    push(world, "alice/rest-a", "v1", "rest-a")
    push(world, "alice/rest-b/nested", "v1", "rest-b")
    listed = world.api("GET", "/user/packages", params={"package_type": "container"})
    assert listed.status_code == 200
    names = [p["name"] for p in listed.json()]
    assert {"rest-a", "rest-b/nested"} <= set(names)
    one = world.api("GET", f"{BASE}/rest-b%2Fnested")
    assert one.status_code == 200
    body = one.json()
    assert body["name"] == "rest-b/nested" and body["package_type"] == "container"
    assert body["owner"]["login"] == "alice" and body["owner"]["type"] == "User"
    assert body["visibility"] == "private" and body["version_count"] == 1
    assert body["url"].endswith(f"{BASE}/rest-b%2Fnested")
    assert body["created_at"].endswith("Z") and body["html_url"].startswith(world.url)
    assert world.api("GET", "/user/packages").status_code == 400  # package_type missing
    other_type = world.api("GET", "/user/packages", params={"package_type": "npm"})
    assert other_type.status_code == 200 and other_type.json() == []
    assert world.api("GET", "/users/alice/packages/npm/rest-a").status_code == 404


def test_list_filters_and_paging(world: World) -> None:
    for i in range(3):
        push(world, f"alice/page-{i}", "v1", f"page-{i}")
    world.admin.set_visibility("alice/page-1", "public")
    public = world.api(
        "GET", "/users/alice/packages", params={"package_type": "container", "visibility": "public"}
    )
    assert "page-1" in [p["name"] for p in public.json()]
    assert all(p["visibility"] == "public" for p in public.json())
    first = world.api("GET", "/user/packages", params={"package_type": "container", "per_page": 2, "page": 1})
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["Link"]
    for bad in ({"per_page": "x"}, {"page": 0}, {"page": 200, "per_page": 100}, {"visibility": "secret"}):
        response = world.api("GET", "/user/packages", params={"package_type": "container", **bad})
        assert response.status_code == 400 and "message" in response.json()


def test_other_tenant_sees_only_public_packages(world: World) -> None:
    push(world, "alice/hidden", "v1", "hidden")
    push(world, "alice/shown", "v1", "shown")
    world.admin.set_visibility("alice/shown", "public")
    names = [
        p["name"]
        for p in world.api(
            "GET", "/users/alice/packages", "other", params={"package_type": "container"}
        ).json()
    ]
    assert "shown" in names and "hidden" not in names
    mine = world.api("GET", "/user/packages", "other", params={"package_type": "container"}).json()
    assert all(p["owner"]["login"] == "bob" for p in mine)


def test_versions_with_tags(world: World) -> None:
    """API-3: versions are manifest digests with their tags; untagged ones have []."""
    first = push(world, "alice/versions", "v1", "versions-1")
    second = push(world, "alice/versions", "v2", "versions-2")
    with world.client("owner") as client:
        assert (
            client.put_manifest(
                "alice/versions",
                "latest",
                sample_image("versions-2").manifest.body,
                sample_image("versions-2").media_type,
            ).status_code
            == 201
        )
    untagged = sample_image("versions-3")
    assert world.push("owner", "alice/versions", None, untagged).status_code == 201
    versions = world.api("GET", f"{BASE}/versions/versions").json()
    by_digest = {v["name"]: v for v in versions}
    assert by_digest[first]["metadata"] == {"package_type": "container", "container": {"tags": ["v1"]}}
    assert by_digest[second]["metadata"]["container"]["tags"] == ["latest", "v2"]
    assert by_digest[untagged.digest]["metadata"]["container"]["tags"] == []
    one = world.api("GET", f"{BASE}/versions/versions/{by_digest[first]['id']}")
    assert one.status_code == 200 and one.json()["name"] == first
    assert world.api("GET", f"{BASE}/versions/versions/12345").status_code == 404


def test_delete_and_restore_a_version(world: World) -> None:
    """API-1/2: a deleted version can no longer be pulled; restore brings it (and its tag) back."""
    keep = push(world, "alice/ver-del", "keep", "ver-del-keep")
    gone = push(world, "alice/ver-del", "gone", "ver-del-gone")
    versions = {v["name"]: v["id"] for v in world.api("GET", f"{BASE}/ver-del/versions").json()}
    assert world.api("DELETE", f"{BASE}/ver-del/versions/{versions[gone]}", "writer").status_code == 403
    assert world.api("DELETE", f"{BASE}/ver-del/versions/{versions[gone]}", "deleter").status_code == 204
    assert pull_status(world, "alice/ver-del", gone) == 404
    assert pull_status(world, "alice/ver-del", "gone") == 404
    deleted = world.api("GET", f"{BASE}/ver-del/versions", params={"state": "deleted"}).json()
    assert [v["name"] for v in deleted] == [gone] and deleted[0]["deleted_at"].endswith("Z")
    assert world.api("POST", f"{BASE}/ver-del/versions/{versions[gone]}/restore", "reader").status_code == 403
    assert world.api("POST", f"{BASE}/ver-del/versions/{versions[gone]}/restore").status_code == 204
    assert pull_status(world, "alice/ver-del", "gone") == 200
    assert world.api("DELETE", f"{BASE}/ver-del/versions/{versions[keep]}").status_code == 204
    last = world.api("DELETE", f"{BASE}/ver-del/versions/{versions[gone]}")
    assert last.status_code == 400 and "last version" in last.json()["message"]


def test_delete_and_restore_a_package(world: World) -> None:
    """API-1/2 and AUTH-9: deletion removes access to the manifests; restore within 30 days."""
    digest = push(world, "alice/pkg-del", "v1", "pkg-del")
    assert world.api("DELETE", f"{BASE}/pkg-del", "writer").status_code == 403  # no delete:packages
    assert world.api("DELETE", f"{BASE}/pkg-del", "other").status_code == 404  # cannot see it
    assert world.api("DELETE", f"{BASE}/pkg-del").status_code == 204
    assert world.api("GET", f"{BASE}/pkg-del").status_code == 404
    assert pull_status(world, "alice/pkg-del", "v1") == 404
    assert pull_status(world, "alice/pkg-del", digest) == 404
    assert world.api("POST", f"{BASE}/pkg-del/restore", "other").status_code == 404
    assert world.api("POST", f"{BASE}/pkg-del/restore").status_code == 204
    assert pull_status(world, "alice/pkg-del", "v1") == 200
    assert world.api("GET", f"{BASE}/pkg-del").json()["version_count"] == 1


def test_restore_refused_after_name_reuse_or_30_days(world: World) -> None:
    """API-2: not when the name was reused, not after 30 days."""
    push(world, "alice/reused", "v1", "reused-old")
    assert world.api("DELETE", f"{BASE}/reused").status_code == 204
    new = push(world, "alice/reused", "v1", "reused-new")
    refused = world.api("POST", f"{BASE}/reused/restore")
    assert refused.status_code == 409 and "delete it first" in refused.json()["message"]
    with world.client("owner") as client:
        assert client.get_manifest("alice/reused", "v1").headers["Docker-Content-Digest"] == new
    push(world, "alice/too-late", "v1", "too-late")
    assert world.api("DELETE", f"{BASE}/too-late").status_code == 204
    deleted = world.admin.store.deleted_packages(world.admin.user("alice"), "too-late")[0]
    world.admin.store.update_package(deleted.id, deleted_at=deleted.deleted_at - 31 * 24 * 3600)
    assert world.api("POST", f"{BASE}/too-late/restore").status_code == 404


def test_visibility_change(world: World) -> None:
    """API-4: private → public (anonymous pull works) → private; internal only for organisations."""
    push(world, "alice/vis", "v1", "vis")
    assert pull_status(world, "alice/vis", "v1", "anonymous") == 401
    changed = world.api("PATCH", f"{BASE}/vis", json={"visibility": "public"})
    assert changed.status_code == 200 and changed.json()["visibility"] == "public"
    assert pull_status(world, "alice/vis", "v1", "anonymous") == 200
    assert world.api("PATCH", f"{BASE}/vis", "reader", json={"visibility": "private"}).status_code == 403
    assert world.api("PATCH", f"{BASE}/vis", json={"visibility": "internal"}).status_code == 422
    assert world.api("PATCH", f"{BASE}/vis", json={"visibility": "private"}).status_code == 200
    assert pull_status(world, "alice/vis", "v1", "anonymous") == 401
    assert world.api("PATCH", f"{BASE}/vis", content=b"{not json").status_code == 400


def test_org_packages_endpoint(world: World) -> None:
    image = sample_image("org-rest")
    assert world.push("owner", "acme/rest", "v1", image).status_code == 201
    listed = world.api("GET", "/orgs/acme/packages", params={"package_type": "container"})
    assert "rest" in [p["name"] for p in listed.json()]
    assert listed.json()[0]["owner"]["type"] == "Organization"
    assert world.api("GET", "/orgs/alice/packages", params={"package_type": "container"}).status_code == 404
    assert world.api("GET", "/users/acme/packages", params={"package_type": "container"}).status_code == 404


def test_authentication_errors(world: World) -> None:
    assert (
        world.api("GET", "/user/packages", "anonymous", params={"package_type": "container"}).status_code
        == 401
    )
    with world.http() as http:
        bad = http.get(
            "/user/packages",
            params={"package_type": "container"},
            headers={"Authorization": "Bearer khp_nope"},
        )
        assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
        basic = http.get(
            "/user/packages", params={"package_type": "container"}, auth=("alice", world.tokens["reader"])
        )
        assert basic.status_code == 200
    expired = world.api("GET", "/user/packages", "expired", params={"package_type": "container"})
    assert expired.status_code == 401
    workflow_user = world.api("GET", "/user/packages", "workflow", params={"package_type": "container"})
    assert workflow_user.status_code == 403
