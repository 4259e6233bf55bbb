"""GitHub's REST API for container packages, in GitHub's shapes, so existing scripts work.

Served at the registry's own root (where api.github.com would be): `/user/packages`,
`/users/{u}/packages`, `/orgs/{o}/packages`, one package, its versions, delete and restore of both,
plus one extension GitHub only offers in its web UI: `PATCH` a package's `visibility`.
Names with `/` are URL-encoded (`img%2Frelease`). A package the caller may not read is a 404, the
same as a missing one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from reference_server.ghcr.admin import AdminError, check_visibility
from reference_server.ghcr.api.rest_shapes import account_json, error_json, link_header, repository_json
from reference_server.ghcr.auth.credentials import DELETE, READ, WRITE
from reference_server.ghcr.auth.identity import Identities, Identity, parse_basic
from reference_server.ghcr.auth.permissions import Role, package_role
from reference_server.ghcr.data.packages import PackageService, RestoreError, version_id
from reference_server.ghcr.data.store import Account, AccountsStore, Package
from reference_server.ghcr.data.timestamps import rfc3339

DOCS = "https://docs.github.com/rest/packages/packages"
MAX_RESULTS_WINDOW = 10_000
# GitHub's answers (quoted in conformance/ghcr/BEHAVIOUR.md, rows A4 and A5)
LAST_VERSION = "You cannot delete the last version of a package. You must delete the package instead."
LAST_TAGGED_VERSION = (
    "You cannot delete the last tagged version of a package. You must delete the package instead."
)
API_PREFIXES = ("/user", "/users/{owner}", "/orgs/{owner}")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _not_found() -> ApiError:
    return ApiError(404, "Not Found")


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return rfc3339(timestamp)


class PackagesApi:
    def __init__(
        self,
        store: AccountsStore,
        identities: Identities,
        packages: PackageService,
        base_url: Callable[[web.Request], str],
    ) -> None:
        self.store = store
        self.identities = identities
        self.packages = packages
        self.base_url = base_url

    def install(self, app: web.Application) -> None:
        for prefix in API_PREFIXES:
            base = f"{prefix}/packages"
            one = f"{base}/{{package_type}}/{{name}}"
            routes = [
                ("GET", base, self.list_packages),
                ("GET", one, self.get_package),
                ("DELETE", one, self.delete_package),
                ("PATCH", one, self.change_package),
                ("POST", f"{one}/restore", self.restore_package),
                ("GET", f"{one}/versions", self.list_versions),
                ("GET", f"{one}/versions/{{version_id}}", self.get_version),
                ("DELETE", f"{one}/versions/{{version_id}}", self.delete_version),
                ("POST", f"{one}/versions/{{version_id}}/restore", self.restore_version),
            ]
            for method, path, handler in routes:
                app.router.add_route(method, path, self._wrap(handler))

    def _wrap(
        self, handler: Callable[[web.Request, Identity], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request, self._identity(request))
            except ApiError as error:
                body = error_json(error.status, error.message, DOCS)
                return _json(body, error.status, error.headers)

        return wrapped

    # -- who, whose, which ----------------------------------------------------------------------
    def _identity(self, request: web.Request) -> Identity:
        values = request.headers.getall("Authorization", [])
        if not values:
            raise ApiError(401, "Requires authentication")
        scheme, _, rest = values[0].strip().partition(" ")
        identity = None
        if len(values) == 1 and scheme.lower() in ("bearer", "token") and rest.strip():
            identity = self.identities.from_secret(None, rest.strip())
        elif len(values) == 1 and scheme.lower() == "basic":
            basic = parse_basic(values[0])
            identity = self.identities.from_secret(*basic) if basic else None
        if identity is None:
            raise ApiError(401, "Bad credentials")
        if READ not in identity.caller.scopes:
            raise ApiError(403, "read:packages scope required", {"X-Accepted-OAuth-Scopes": READ})
        return identity

    def _owner(self, request: web.Request, identity: Identity) -> Account:
        path = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
        if path.startswith("/user/"):
            if identity.caller.kind != "user" or identity.login is None:
                raise ApiError(403, "Resource not accessible by integration")
            return self.store.account(identity.login, "user")
        kind = "organization" if path.startswith("/orgs/") else "user"
        account = self.store.find_account(request.match_info["owner"])
        if account is None or account.kind != kind:
            raise _not_found()
        return account

    def _package_type(self, request: web.Request) -> None:
        if request.match_info["package_type"] != "container":
            raise _not_found()  # this registry holds container packages only

    def _package(self, request: web.Request, identity: Identity) -> tuple[Package, Role]:
        self._package_type(request)
        owner = self._owner(request, identity)
        package = self.store.live_package(owner, request.match_info["name"])
        role = package_role(self.store, identity.caller, package) if package else Role.NONE
        if package is None or role < Role.READ:
            raise _not_found()  # missing and invisible look the same
        return package, role

    @staticmethod
    def _require_admin(role: Role, identity: Identity, scope: str) -> None:
        if role < Role.ADMIN:
            raise ApiError(403, "You need admin permission on this package")
        if scope not in identity.caller.scopes:
            raise ApiError(403, f"{scope} scope required", {"X-Accepted-OAuth-Scopes": f"{READ}, {scope}"})

    # -- JSON shapes ----------------------------------------------------------------------------
    def _base(self, request: web.Request) -> str:
        return self.base_url(request)

    def _package_url(self, request: web.Request, package: Package) -> str:
        section = "orgs" if package.owner.kind == "organization" else "users"
        encoded = quote(package.name, safe="")
        return f"{self._base(request)}/{section}/{package.owner.login}/packages/container/{encoded}"

    def page_url(self, request: web.Request, package: Package) -> str:
        return f"{self._base(request)}/packages/container/{package.owner.login.lower()}/{package.name}"

    def _package_json(self, request: web.Request, package: Package) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": package.id,
            "name": package.name,
            "package_type": "container",
            "owner": account_json(self._base(request), package.owner),
            "version_count": len(self.packages.versions(package)),
            "visibility": package.visibility,
            "url": self._package_url(request, package),
            "created_at": _iso(package.created_at),
            "updated_at": _iso(package.updated_at),
            "html_url": self.page_url(request, package),
        }
        if package.description:
            document["description"] = package.description
        if package.licenses:
            document["license"] = package.licenses
        if package.repository_id is not None:
            repository = self.store.repository_by_id(package.repository_id)
            document["repository"] = repository_json(self._base(request), repository)
        return document

    def _version_json(
        self,
        request: web.Request,
        package: Package,
        digest: str,
        tags: list[str],
        created_at: float,
        deleted_at: float | None = None,
    ) -> dict[str, Any]:
        vid = version_id(digest)
        document: dict[str, Any] = {
            "id": vid,
            "name": digest,
            "url": f"{self._package_url(request, package)}/versions/{vid}",
            "package_html_url": self.page_url(request, package),
            "created_at": _iso(created_at),
            "updated_at": _iso(deleted_at or created_at),
            "html_url": f"{self.page_url(request, package)}?version={vid}",
            "metadata": {"package_type": "container", "container": {"tags": tags}},
        }
        if deleted_at is not None:
            document["deleted_at"] = _iso(deleted_at)
        return document

    # -- paging ---------------------------------------------------------------------------------
    @staticmethod
    def _page(request: web.Request) -> tuple[int, int]:
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", "30"))
        except ValueError:
            raise ApiError(400, "page and per_page must be integers") from None
        if page < 1 or per_page < 1:
            raise ApiError(400, "page and per_page must be positive")
        per_page = min(per_page, 100)
        if page * per_page > MAX_RESULTS_WINDOW:
            raise ApiError(400, f"Pagination is limited to {MAX_RESULTS_WINDOW} results")
        return page, per_page

    @staticmethod
    def _paged(
        request: web.Request,
        items: list[Any],
        page: int,
        per_page: int,
        render: Callable[[Any], Any] = lambda item: item,
    ) -> web.Response:
        """One page of `items` (rendered only for that page), with GitHub's `Link` (prev/next/last/first)."""
        chunk = [render(item) for item in items[(page - 1) * per_page : page * per_page]]
        link = link_header(request.url, page, per_page, len(items))
        return _json(chunk, headers={"Link": link} if link else None)

    # -- packages -------------------------------------------------------------------------------
    async def list_packages(self, request: web.Request, identity: Identity) -> web.Response:
        package_type = request.query.get("package_type")
        if package_type is None:
            raise ApiError(400, "package_type is required")
        visibility = request.query.get("visibility")
        if visibility is not None and visibility not in ("public", "private", "internal"):
            raise ApiError(400, "visibility must be public, private or internal")
        page, per_page = self._page(request)
        owner = self._owner(request, identity)
        found = []
        if package_type == "container":
            for package in self.store.packages_of(owner):
                if visibility is not None and package.visibility != visibility:
                    continue
                if package_role(self.store, identity.caller, package) >= Role.READ:
                    found.append(package)
        return self._paged(request, found, page, per_page, lambda p: self._package_json(request, p))

    async def get_package(self, request: web.Request, identity: Identity) -> web.Response:
        package, _ = self._package(request, identity)
        return _json(self._package_json(request, package))

    async def delete_package(self, request: web.Request, identity: Identity) -> web.Response:
        package, role = self._package(request, identity)
        self._require_admin(role, identity, DELETE)
        await asyncio.to_thread(self.packages.delete_package, package)  # two databases: off the loop
        return web.Response(status=204)

    async def change_package(self, request: web.Request, identity: Identity) -> web.Response:
        """Extension: `{"visibility": "public"}` (GitHub offers this only in its web UI)."""
        package, role = self._package(request, identity)
        self._require_admin(role, identity, WRITE)
        try:
            body = await request.json()
        except Exception:
            raise ApiError(400, "Problems parsing JSON") from None
        visibility = body.get("visibility") if isinstance(body, dict) else None
        if not isinstance(visibility, str):
            raise ApiError(422, "visibility is required")
        try:
            check_visibility(package, visibility)
        except AdminError as error:
            raise ApiError(422, str(error)) from None
        self.store.update_package(package.id, visibility=visibility)
        updated = self.store.package_by_id(package.id)
        if updated is None:  # deleted meanwhile
            raise _not_found()
        return _json(self._package_json(request, updated))

    async def restore_package(self, request: web.Request, identity: Identity) -> web.Response:
        self._package_type(request)
        owner = self._owner(request, identity)
        name = request.match_info["name"]
        candidates = [
            p
            for p in self.store.deleted_packages(owner, name)
            if package_role(self.store, identity.caller, p) >= Role.READ
        ]
        if not candidates:
            raise _not_found()
        package = candidates[0]
        self._require_admin(package_role(self.store, identity.caller, package), identity, WRITE)
        try:
            await asyncio.to_thread(self.packages.restore_package, package)
        except RestoreError as error:
            raise ApiError(409 if "since" in str(error) else 404, str(error)) from None
        return web.Response(status=204)

    # -- versions -------------------------------------------------------------------------------
    async def list_versions(self, request: web.Request, identity: Identity) -> web.Response:
        package, _ = self._package(request, identity)
        page, per_page = self._page(request)
        state = request.query.get("state", "active")
        if state == "active":
            items = [
                self._version_json(request, package, v.digest, v.tags, v.created_at)
                for v in self.packages.versions(package)
            ]
        elif state == "deleted":
            items = [
                self._version_json(request, package, v.digest, v.tags, v.created_at, v.deleted_at)
                for v in self.packages.deleted_versions(package)
            ]
        else:
            raise ApiError(400, "state must be active or deleted")
        return self._paged(request, items, page, per_page)

    def _version_id(self, request: web.Request) -> int:
        try:
            return int(request.match_info["version_id"])
        except ValueError:
            raise _not_found() from None

    async def get_version(self, request: web.Request, identity: Identity) -> web.Response:
        package, _ = self._package(request, identity)
        wanted = self._version_id(request)
        for version in self.packages.versions(package):
            if version_id(version.digest) == wanted:
                return _json(
                    self._version_json(request, package, version.digest, version.tags, version.created_at)
                )
        for deleted in self.packages.deleted_versions(package):
            if version_id(deleted.digest) == wanted:
                document = self._version_json(
                    request, package, deleted.digest, deleted.tags, deleted.created_at, deleted.deleted_at
                )
                return _json(document)
        raise _not_found()

    async def delete_version(self, request: web.Request, identity: Identity) -> web.Response:
        package, role = self._package(request, identity)
        wanted = self._version_id(request)
        versions = self.packages.versions(package)
        match = next((v for v in versions if version_id(v.digest) == wanted), None)
        if match is None:
            raise _not_found()
        self._require_admin(role, identity, DELETE)
        if len(versions) == 1:
            raise ApiError(400, LAST_VERSION)
        if match.tags and not any(v.tags for v in versions if v is not match):
            raise ApiError(400, LAST_TAGGED_VERSION)  # untagged versions would be all that is left
        self.packages.delete_version(package, match.digest)
        return web.Response(status=204)

    async def restore_version(self, request: web.Request, identity: Identity) -> web.Response:
        package, role = self._package(request, identity)
        wanted = self._version_id(request)
        match = next(
            (v for v in self.packages.deleted_versions(package) if version_id(v.digest) == wanted), None
        )
        if match is None:
            raise _not_found()
        self._require_admin(role, identity, WRITE)
        try:
            self.packages.restore_version(package, match.digest)
        except RestoreError as error:
            raise ApiError(409, str(error)) from None
        return web.Response(status=204)
