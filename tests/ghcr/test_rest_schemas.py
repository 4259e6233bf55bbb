"""Every REST answer the reference server gives, checked against GitHub's published description of the
packages API (the vendored extract): packages, versions, lists, errors, owners and repositories, on
the /user, /users/{u} and /orgs/{o} paths, active and deleted. Zero violations is the bar."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conformance.ghcr import rest_schemas
from keelhaul.client.images import build_image, sample_image

from .world import World

USER = "/users/alice/packages/container"
ORG = "/orgs/acme/packages/container"


class Recorder:
    """world.api, with every answer's body judged against GitHub's description as it comes in."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.violations: list[str] = []
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, role: str = "owner", **kwargs: Any) -> httpx.Response:
        response = self.world.api(method, path, role, **kwargs)
        url_path = response.request.url.raw_path.decode().split("?", 1)[0]
        body = response.json() if response.content else None
        template = rest_schemas.operation(method, url_path)
        if template is None and method == "PATCH":  # the visibility extension answers a package
            template = "PATCH (extension)"
            component = rest_schemas.PACKAGE if response.status_code == 200 else rest_schemas.ERROR
            problems = rest_schemas.shape_errors(body, component)
        else:
            problems = rest_schemas.response_errors(method, url_path, response.status_code, body)
        if response.status_code >= 400 and not problems:
            problems = [] if isinstance(body, dict) and body.get("message") else ["an error without message"]
        self.violations += [f"{method} {url_path} -> {response.status_code}: {p}" for p in problems]
        self.seen.add((method, template or url_path, response.status_code))
        return response


@pytest.fixture(scope="module")
def recorded(world: World) -> Iterator[Recorder]:
    yield Recorder(world)


def push(world: World, name: str, tag: str | None, image: Any) -> str:
    assert world.push("owner", name, tag, image).status_code == 201
    return image.digest


def test_packages_and_owners_have_githubs_shape(world: World, recorded: Recorder) -> None:
    linked = build_image(
        [{"a.txt": b"a"}], labels={"org.opencontainers.image.source": "https://github.com/alice/app"}
    )
    push(world, "alice/shape-app", "v1", linked)
    push(world, "acme/shape-org", "v1", sample_image("shape-org"))
    world.admin.set_visibility("acme/shape-org", "internal")
    for path in (
        "/user/packages",
        "/users/alice/packages",
        "/orgs/acme/packages",
    ):
        listed = recorded("GET", path, params={"package_type": "container"})
        assert listed.status_code == 200 and listed.json()
    app = recorded("GET", f"{USER}/shape-app").json()
    assert app["repository"]["full_name"] == "alice/app"
    assert app["repository"]["owner"]["login"] == "alice"
    org = recorded("GET", f"{ORG}/shape-org").json()
    assert org["visibility"] == "internal" and org["owner"]["type"] == "Organization"
    assert recorded("GET", "/user/packages/container/shape-app").status_code == 200
    assert recorded("PATCH", f"{USER}/shape-app", json={"visibility": "public"}).status_code == 200
    assert recorded("PATCH", f"{USER}/shape-app", json={"visibility": "private"}).status_code == 200
    assert recorded.violations == [], "\n".join(recorded.violations)


@pytest.mark.parametrize(
    ("prefix", "namespace"),
    [("/user/packages/container", "alice"), (USER, "alice"), (ORG, "acme")],
)
def test_versions_active_and_deleted_have_githubs_shape(
    world: World, recorded: Recorder, prefix: str, namespace: str
) -> None:
    name = f"shape-versions-{prefix.count('/')}-{namespace}"
    for tag in ("v1", "v2"):
        push(world, f"{namespace}/{name}", tag, sample_image(f"{name}-{tag}"))
    push(world, f"{namespace}/{name}", None, sample_image(f"{name}-untagged"))
    versions = recorded("GET", f"{prefix}/{name}/versions").json()
    assert len(versions) == 3
    untagged = next(v for v in versions if not v["metadata"]["container"]["tags"])
    one = f"{prefix}/{name}/versions/{untagged['id']}"
    assert recorded("GET", one).status_code == 200
    assert recorded("DELETE", one).status_code == 204
    assert recorded("GET", f"{prefix}/{name}/versions", params={"state": "deleted"}).json()
    assert recorded("GET", one).json()["deleted_at"]
    assert recorded("POST", f"{one}/restore").status_code == 204
    assert recorded("DELETE", f"{prefix}/{name}").status_code == 204
    assert recorded("POST", f"{prefix}/{name}/restore").status_code == 204
    assert recorded("GET", f"{prefix}/{name}").status_code == 200
    assert recorded.violations == [], "\n".join(recorded.violations)


def test_errors_have_githubs_shape(world: World, recorded: Recorder) -> None:
    push(world, "alice/shape-errors", "v1", sample_image("shape-errors"))
    only = recorded("GET", f"{USER}/shape-errors/versions").json()[0]["id"]
    statuses = [
        recorded("GET", "/user/packages", "anonymous", params={"package_type": "container"}).status_code,
        recorded("GET", "/user/packages", "expired", params={"package_type": "container"}).status_code,
        recorded("GET", "/user/packages", "workflow", params={"package_type": "container"}).status_code,
        recorded("GET", "/user/packages").status_code,
        recorded("GET", "/users/alice/packages", params={"package_type": "container", "page": 0}).status_code,
        recorded("GET", f"{USER}/missing").status_code,
        recorded("GET", f"{USER}/shape-errors/versions/1").status_code,
        recorded("DELETE", f"{USER}/shape-errors", "writer").status_code,
        recorded("DELETE", f"{USER}/shape-errors/versions/{only}").status_code,
        recorded("POST", f"{ORG}/missing/restore").status_code,
        recorded("PATCH", f"{USER}/shape-errors", json={"visibility": "internal"}).status_code,
        recorded("GET", "/orgs/alice/packages", params={"package_type": "container"}).status_code,
    ]
    assert statuses == [401, 401, 403, 400, 400, 404, 404, 403, 400, 404, 422, 404]
    assert recorded("DELETE", f"{USER}/shape-errors").status_code == 204
    push(world, "alice/shape-errors", "v1", sample_image("shape-errors-again"))
    assert recorded("POST", f"{USER}/shape-errors/restore").status_code == 409
    error = recorded("GET", f"{USER}/missing").json()
    assert error == {"message": "Not Found", "documentation_url": error["documentation_url"], "status": "404"}
    assert recorded.violations == [], "\n".join(recorded.violations)


def test_lists_page_with_githubs_link_relations(world: World, recorded: Recorder) -> None:
    for index in range(5):
        push(world, "alice/shape-pages", f"t{index}", sample_image(f"shape-page-{index}"))
    path = f"{USER}/shape-pages/versions"

    def relations(page: int) -> dict[str, int]:
        answer = recorded("GET", path, params={"per_page": 2, "page": page})
        assert answer.status_code == 200 and len(answer.json()) == (1 if page == 3 else 2)
        found = {}
        for part in answer.headers["Link"].split(","):
            url, rel = part.split(";")
            found[rel.strip().removeprefix('rel="').removesuffix('"')] = int(
                httpx.URL(url.strip().strip("<>")).params["page"]
            )
        return found

    assert relations(1) == {"next": 2, "last": 3}
    assert relations(2) == {"prev": 1, "next": 3, "last": 3, "first": 1}
    assert relations(3) == {"prev": 2, "first": 1}
    assert "Link" not in recorded("GET", path).headers
    assert recorded.violations == [], "\n".join(recorded.violations)


def test_every_described_answer_was_seen(recorded: Recorder) -> None:
    """The module above reached every operation template the server implements, each with a
    success and the error statuses GitHub describes for it."""
    seen_templates = {(method, template) for method, template, _ in recorded.seen}
    for template, operations in rest_schemas.description()["paths"].items():
        for method in operations:
            assert (method.upper(), template) in seen_templates, f"{method.upper()} {template} never called"
    statuses = {status for _, _, status in recorded.seen}
    assert {200, 204, 400, 401, 403, 404, 409, 422} <= statuses
