"""The seam to the auth layer: every request goes through authenticate + authorize with the
action from the explicit table; mount sources and the catalog are filtered by may_read
(failure-modes lessons 1 and 2: method→action mapping, blob existence is an authorization question)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from reference_server.access import Action, Endpoint, MetadataStore, Principal, Route, StoredManifest
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer
from reference_server.registry.errors import ErrorCode, OCIError

from .helpers import assert_oci_error, push_blob, push_image, sha256


class RecordingPolicy:
    """Everyone is `X-User` (or anonymous); repositories in `hidden` are unreadable to all but 'owner'."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.authenticated: list[Route] = []
        self.hidden: set[str] = set()
        self.refuse: set[tuple[str, Action]] = set()
        self.stored: list[StoredManifest] = []

    async def authenticate(self, request: web.Request, route: Route) -> Principal:
        self.authenticated.append(route)
        user = request.headers.get("X-User")
        return Principal(user, "user") if user else Principal()

    def authorize(self, request: web.Request, route: Route, principal: Principal, action: Action) -> None:
        repository = route.name
        self.calls.append((request.method, repository, str(action)))
        if repository == "seam/boom":
            raise RuntimeError("a bug in the policy")
        if (repository, action) in self.refuse:
            raise OCIError(
                ErrorCode.UNAUTHORIZED,
                headers={
                    "WWW-Authenticate": f'Bearer realm="http://x/token",scope="repository:{repository}:{action}"'
                },
            )

    def authorize_catalog(self, request: web.Request, principal: Principal) -> None:
        self.calls.append((request.method, "_catalog", "catalog"))

    def authorize_ping(self, request: web.Request, principal: Principal) -> None:
        self.calls.append((request.method, "", "ping"))
        if request.headers.get("X-Deny-Ping"):
            raise OCIError(
                ErrorCode.UNAUTHORIZED, headers={"WWW-Authenticate": 'Bearer realm="http://x/token"'}
            )

    def may_read(self, principal: Principal, repository: str) -> bool:
        return repository not in self.hidden or principal.subject == "owner"

    def manifest_stored(self, principal: Principal, stored: StoredManifest) -> list[str]:
        self.stored.append(stored)
        return ['label "x" was truncated', "second warning"]

    def install(self, app: web.Application, manifests: MetadataStore) -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.Response(text="policy route")

        app.router.add_get("/policy-route", hello)


@pytest.fixture(scope="module")
def policy_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedServer, RecordingPolicy]]:
    policy = RecordingPolicy()
    config = ServerConfig(listen_port=0, data_dir=tmp_path_factory.mktemp("policy"), auth=True)
    with EmbeddedServer(config, policy) as server:
        yield server, policy


@pytest.fixture
def pol(
    policy_server: tuple[EmbeddedServer, RecordingPolicy],
) -> Iterator[tuple[httpx.Client, RecordingPolicy]]:
    server, policy = policy_server
    policy.calls.clear()
    policy.authenticated.clear()
    policy.hidden.clear()
    policy.refuse.clear()
    with httpx.Client(base_url=server.url) as http:
        yield http, policy


def test_actions_per_method(pol: tuple[httpx.Client, RecordingPolicy]) -> None:
    http, policy = pol
    digest, _ = push_image(http, "seam/a", "v1")
    policy.calls.clear()
    http.get("/v2/seam/a/manifests/v1")
    http.head("/v2/seam/a/manifests/v1")
    http.get("/v2/seam/a/tags/list")
    http.get(f"/v2/seam/a/referrers/{digest}")
    http.delete("/v2/seam/a/manifests/v1")
    http.delete(f"/v2/seam/a/blobs/{sha256(b'x')}")
    location = http.post("/v2/seam/a/blobs/uploads/").headers["Location"]
    http.patch(location, content=b"x")
    http.get(location)
    http.delete(location)
    assert policy.calls == [
        ("GET", "seam/a", "pull"),
        ("HEAD", "seam/a", "pull"),
        ("GET", "seam/a", "pull"),
        ("GET", "seam/a", "pull"),
        ("DELETE", "seam/a", "delete"),
        ("DELETE", "seam/a", "delete"),
        ("POST", "seam/a", "push"),
        ("POST", "seam/a", "pull"),
        ("PATCH", "seam/a", "push"),
        ("PATCH", "seam/a", "pull"),
        ("GET", "seam/a", "push"),
        ("GET", "seam/a", "pull"),
        ("DELETE", "seam/a", "push"),
        ("DELETE", "seam/a", "pull"),
    ]


def test_authenticate_gets_the_parsed_route(pol: tuple[httpx.Client, RecordingPolicy]) -> None:
    """The policy learns what is asked from the core's own parse of the path (so a challenge can
    name the repository), never by parsing the request again."""
    http, policy = pol
    http.get("/v2/")
    http.get("/v2/_catalog")
    http.get("/v2/seam/route/x/manifests/v1")
    http.post("/v2/seam/route/blobs/uploads/")
    assert policy.authenticated == [
        Route(Endpoint.PING),
        Route(Endpoint.CATALOG),
        Route(Endpoint.MANIFEST, "seam/route/x", "v1"),
        Route(Endpoint.UPLOADS, "seam/route"),
    ]


def test_refusal_is_an_oci_401_with_the_challenge_and_nothing_happens(
    pol: tuple[httpx.Client, RecordingPolicy],
) -> None:
    http, policy = pol
    policy.refuse.add(("seam/locked", Action.PUSH))
    response = http.post("/v2/seam/locked/blobs/uploads/")
    assert_oci_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert "seam/locked" not in http.get("/v2/_catalog").json()["repositories"]


def test_ping_asks_the_policy(pol: tuple[httpx.Client, RecordingPolicy]) -> None:
    http, policy = pol
    assert http.get("/v2/").status_code == 200
    assert ("GET", "", "ping") in policy.calls
    denied = http.get("/v2/", headers={"X-Deny-Ping": "1"})
    assert_oci_error(denied, 401, "UNAUTHORIZED")
    assert "WWW-Authenticate" in denied.headers


def test_mount_source_must_be_readable(pol: tuple[httpx.Client, RecordingPolicy]) -> None:
    http, policy = pol
    digest = push_blob(http, "tenant-a/private", b"secret layer")
    policy.hidden.add("tenant-a/private")
    for query in [f"mount={digest}&from=tenant-a/private", f"mount={digest}"]:
        response = http.post(f"/v2/tenant-b/app/blobs/uploads/?{query}")
        assert response.status_code == 202, query  # same as an unknown blob: nothing revealed
    assert http.head(f"/v2/tenant-b/app/blobs/{digest}").status_code == 404
    owner = http.post(
        f"/v2/tenant-b/app/blobs/uploads/?mount={digest}&from=tenant-a/private", headers={"X-User": "owner"}
    )
    assert owner.status_code == 201


def test_catalog_is_filtered_by_may_read(pol: tuple[httpx.Client, RecordingPolicy]) -> None:
    http, policy = pol
    push_blob(http, "cat/visible", b"v")
    push_blob(http, "cat/hidden", b"h")
    policy.hidden.add("cat/hidden")
    names = http.get("/v2/_catalog").json()["repositories"]
    assert "cat/visible" in names and "cat/hidden" not in names
    assert ("GET", "_catalog", "catalog") in policy.calls
    assert "cat/hidden" in http.get("/v2/_catalog", headers={"X-User": "owner"}).json()["repositories"]


def test_manifest_stored_gets_config_and_warnings_become_headers(
    pol: tuple[httpx.Client, RecordingPolicy],
) -> None:
    http, policy = pol
    digest, _ = push_image(http, "seam/labels", "v1", seed="labels")
    stored = policy.stored[-1]
    assert (stored.repository, stored.digest, stored.tag) == ("seam/labels", digest, "v1")
    assert stored.config is not None and stored.config["seed"] == "labels"
    response = http.put(
        "/v2/seam/labels/manifests/v2",
        content=http.get("/v2/seam/labels/manifests/v1").content,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert response.headers.get_list("Warning") == [
        '299 - "label \\"x\\" was truncated"',
        '299 - "second warning"',
    ]


def test_policy_routes_are_installed_and_keep_their_responses(
    pol: tuple[httpx.Client, RecordingPolicy],
) -> None:
    http, _ = pol
    assert http.get("/policy-route").text == "policy route"
    assert http.get("/not-a-route").status_code == 404


def test_unexpected_exception_is_a_500_with_an_oci_body(pol: tuple[httpx.Client, RecordingPolicy]) -> None:
    http, _ = pol
    response = http.get("/v2/seam/boom/tags/list")
    body = assert_oci_error(response, 500, "UNSUPPORTED")
    assert "a bug in the policy" not in response.text and "Traceback" not in response.text
    assert body["errors"][0]["message"] == "internal server error"
