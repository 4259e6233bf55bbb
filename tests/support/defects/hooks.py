"""How a defect gets into a running reference server without editing the core or the ghcr layer:
through the server's test hook on app creation (`create_app(..., hooks=[...])`, which hands over
the app's parts: `reference_server.http.app.AppParts`).

Three kinds of change, all scoped to ONE application (never a module-level patch, so a clean and a
defective server can run side by side in one process, as the mutation tests do):
- `patch(owner, attribute, make)`: replace a method on one object (the app's MetadataStore,
  UploadManager, Registry, policy, ...) by `make(original)`. The patch point must exist and be
  callable, else DefectWiringError: a refactor of the core makes the defect fail loudly instead of
  silently injecting nothing.
- `set_value(owner, attribute, value)`: the same for a plain attribute (limits).
- `middleware(handler)`: an outermost aiohttp middleware, so it sees every response, OCI errors included,
  and may rewrite the request first (`rewrite`) or the response after (`restatus`, headers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from reference_server.access import Endpoint, Route
from reference_server.ghcr.policy import GhcrPolicy
from reference_server.http.app import AppParts
from reference_server.http.routing import parse_route
from reference_server.registry.errors import OCIError
from reference_server.registry.services import Registry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


class DefectWiringError(RuntimeError):
    """A patch point a defect relies on is gone: the defect cannot be injected as written."""


@dataclass
class Injection:
    """The one application a defect is injected into, and what was changed (for the log)."""

    app: web.Application
    registry: Registry
    policy: Any
    changes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, parts: AppParts) -> Injection:
        return cls(app=parts.app, registry=parts.registry, policy=parts.policy)

    def require(self, owner: object, attribute: str, *, callable_: bool = True) -> Any:
        name = f"{type(owner).__name__}.{attribute}"
        if not hasattr(owner, attribute):
            raise DefectWiringError(f"patch point {name} does not exist (the core changed?)")
        value = getattr(owner, attribute)
        if callable_ and not callable(value):
            raise DefectWiringError(f"patch point {name} is not callable (the core changed?)")
        return value

    def patch(self, owner: object, attribute: str, make: Callable[[Any], Any]) -> None:
        original = self.require(owner, attribute)
        setattr(owner, attribute, make(original))
        self.changes.append(f"patched {type(owner).__name__}.{attribute}")

    def set_value(self, owner: object, attribute: str, value: object) -> None:
        self.require(owner, attribute, callable_=False)
        setattr(owner, attribute, value)
        self.changes.append(f"set {type(owner).__name__}.{attribute} = {value!r}")

    def middleware(self, function: Middleware) -> None:
        self.app.middlewares.insert(0, web.middleware(function))
        self.changes.append(f"middleware {function.__name__}")

    def ghcr_policy(self) -> GhcrPolicy:
        """The ghcr.io policy this app runs with; DefectWiringError when it runs another policy."""
        if not isinstance(self.policy, GhcrPolicy):
            raise DefectWiringError(
                "this defect needs the ghcr.io policy (auth on); "
                f"the server runs {type(self.policy).__name__}"
            )
        return self.policy


def route_of(request: web.Request) -> Route | None:
    """The request's OCI route, or None for anything that is not a valid /v2 route."""
    try:
        return parse_route(request.raw_path.split("?", 1)[0])
    except OCIError:
        return None


def is_endpoint(request: web.Request, *endpoints: Endpoint) -> bool:
    route = route_of(request)
    return route is not None and route.endpoint in endpoints


def rewrite(
    request: web.Request,
    *,
    drop_query: tuple[str, ...] = (),
    drop_headers: tuple[str, ...] = (),
    add_query: dict[str, str] | None = None,
) -> web.Request:
    """A copy of `request` without some query parameters or headers (the body stream is shared)."""
    url = request.rel_url
    if drop_query or add_query:
        kept = [(k, v) for k, v in url.query.items() if k not in drop_query]
        kept += list((add_query or {}).items())
        url = url.with_query(kept)
    headers = request.headers.copy()
    for name in drop_headers:
        headers.popall(name, None)
    return request.clone(rel_url=url, headers=headers)


def replace_response(
    response: web.StreamResponse,
    status: int,
    body: bytes,
    content_type: str,
    keep_headers: tuple[str, ...] = (),
) -> web.Response:
    """A new response with `status` and `body`, keeping the named headers of `response`."""
    new = web.Response(status=status, body=body, content_type=content_type)
    for name in keep_headers:
        if name in response.headers:
            new.headers[name] = response.headers[name]
    return new
