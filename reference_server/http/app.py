"""The aiohttp application: one catch-all /v2 route, explicit dispatch, one error middleware.

Every /v2 request goes: parse the route (name validated) → look up the required actions in the
explicit table (deny by default: 405) → the access gate (policy.authenticate, then authorize) →
handler. Any OCIError becomes the spec's JSON error body; any other exception a 500 with an OCI
body and a logged traceback, never a stack trace to the caller.

`create_app` takes test hooks (`AppHook`): callables that see the finished parts of one application
before it starts. They are the only way test code (tests/support/defects: seeded defects for the
mutation tests) changes a server; no switch of `keelhaul serve` or ServerConfig reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from reference_server.access import AccessPolicy, Endpoint, Gate, RequestAccess, Route
from reference_server.config import ServerConfig
from reference_server.http import blobs as http_blobs
from reference_server.http import direct_body
from reference_server.http import discovery as http_discovery
from reference_server.http import manifests as http_manifests
from reference_server.http.body_budget import MANIFEST_BUDGET_KEY, BodyBudget
from reference_server.http.exhaustion import StorageAlarm, exhausted_reason
from reference_server.http.replay import DEFAULT_BUDGET_BYTES as DEFAULT_REPLAY_BUDGET_BYTES
from reference_server.http.replay import ReplayCache, ReplayPlan
from reference_server.http.routing import ACCESS, allowed_methods, parse_route
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.services import Registry
from reference_server.storage.metadata import REQUEST_RECEIVED_NS

log = logging.getLogger("reference_server")

REGISTRY_KEY = web.AppKey("registry", Registry)
STORAGE_ALARM_KEY = web.AppKey("storage_alarm", StorageAlarm)
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
GATE_KEY = web.AppKey("gate", Gate)
REPLAY_KEY = web.AppKey("replay", ReplayCache)
# Set on a request whose answer the connection keeps for replay once it is sent (runtime.py).
REPLAY_PLAN_KEY = web.RequestKey("keelhaul.replay_plan", ReplayPlan)
SWEEP_INTERVAL_SECONDS = 30.0

Handler = Callable[[web.Request, Registry, Route, RequestAccess], Awaitable[web.StreamResponse]]

HANDLERS: dict[tuple[Endpoint, str], Handler] = {
    (Endpoint.PING, "GET"): http_discovery.ping,
    (Endpoint.PING, "HEAD"): http_discovery.ping,
    (Endpoint.CATALOG, "GET"): http_discovery.catalog,
    (Endpoint.CATALOG, "HEAD"): http_discovery.catalog,
    (Endpoint.TAGS, "GET"): http_discovery.list_tags,
    (Endpoint.TAGS, "HEAD"): http_discovery.list_tags,
    (Endpoint.REFERRERS, "GET"): http_discovery.referrers,
    (Endpoint.REFERRERS, "HEAD"): http_discovery.referrers,
    (Endpoint.MANIFEST, "GET"): http_manifests.get_manifest,
    (Endpoint.MANIFEST, "HEAD"): http_manifests.get_manifest,
    (Endpoint.MANIFEST, "PUT"): http_manifests.put_manifest,
    (Endpoint.MANIFEST, "DELETE"): http_manifests.delete_manifest,
    (Endpoint.BLOB, "GET"): http_blobs.get_blob,
    (Endpoint.BLOB, "HEAD"): http_blobs.get_blob,
    (Endpoint.BLOB, "DELETE"): http_blobs.delete_blob,
    (Endpoint.UPLOADS, "POST"): http_blobs.start_upload,
    (Endpoint.UPLOAD, "GET"): http_blobs.upload_status,
    (Endpoint.UPLOAD, "PATCH"): http_blobs.upload_chunk,
    (Endpoint.UPLOAD, "PUT"): http_blobs.finish_upload,
    (Endpoint.UPLOAD, "DELETE"): http_blobs.cancel_upload,
}
assert HANDLERS.keys() == ACCESS.keys(), "every allowed (endpoint, method) needs a handler and vice versa"

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


def error_response(error: OCIError) -> web.Response:
    response = web.Response(status=error.status, body=error.body(), content_type="application/json")
    for name, value in error.headers.items():
        response.headers[name] = value
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    if error.close:
        response.force_close()
    return response


_HTTP_STATUS_CODES = {
    400: ErrorCode.UNSUPPORTED,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.DENIED,
    404: ErrorCode.NAME_UNKNOWN,
    405: ErrorCode.UNSUPPORTED,
    413: ErrorCode.SIZE_INVALID,
    429: ErrorCode.TOOMANYREQUESTS,
}


@web.middleware
async def oci_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except OCIError as error:
        return error_response(error)
    except web.HTTPException as error:
        if error.status < 400 or not request.path.startswith("/v2"):
            raise  # redirects, and the auth layer's own pages/REST API, keep their responses
        code = _HTTP_STATUS_CODES.get(error.status, ErrorCode.UNSUPPORTED)
        return error_response(OCIError(code, error.reason, status=error.status))
    except (asyncio.CancelledError, HttpProcessingError):
        raise  # broken HTTP framing: aiohttp itself answers 400 and closes the connection
    except (ConnectionError, ClientPayloadError):
        # The body ended early (the client went away); usually nobody is left to read this.
        code = ErrorCode.MANIFEST_INVALID if "/manifests/" in request.path else ErrorCode.BLOB_UPLOAD_INVALID
        return error_response(OCIError(code, "request body ended early or was malformed"))
    except Exception as error:
        reason = exhausted_reason(error)
        if reason is not None:  # a full disk: named, retriable, logged once per episode
            alarm = request.app[STORAGE_ALARM_KEY]
            return error_response(alarm.error_for(reason, f"{request.method} {request.path}"))
        log.exception("unexpected error on %s %s", request.method, request.path[:200])
        return error_response(OCIError(ErrorCode.UNSUPPORTED, "internal server error", status=500))
    if request.method in WRITE_METHODS and response.status < 400:
        request.app[STORAGE_ALARM_KEY].write_succeeded()
    return response


async def dispatch(request: web.Request) -> web.StreamResponse:
    """The single /v2 entry point (see module docstring)."""
    registry = request.app[REGISTRY_KEY]
    received_ns = getattr(request.protocol, "received_ns", 0)  # runtime.RegistryRequestHandler
    if received_ns:
        REQUEST_RECEIVED_NS.set(received_ns)
    path = request.raw_path.split("?", 1)[0]
    route = parse_route(path)
    method = request.method
    access = ACCESS.get((route.endpoint, method))
    if access is None:
        allowed = allowed_methods(route.endpoint)
        raise OCIError(
            ErrorCode.UNSUPPORTED,
            f"{method[:20]} is not supported here",
            status=405,
            headers={"Allow": ", ".join(allowed)},
        )
    plan = None
    if route.endpoint is Endpoint.MANIFEST:  # before admission: see ReplayCache.plan
        plan = request.app[REPLAY_KEY].plan(request, _arrived_bytes(request))
    admitted = await request.app[GATE_KEY].admit(request, route, access)
    response = await HANDLERS[(route.endpoint, method)](request, registry, route, admitted)
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    if plan is not None and response.status == 200:
        valid_until = admitted.valid_until()
        if valid_until is not None:
            request[REPLAY_PLAN_KEY] = dataclasses.replace(plan, valid_until=valid_until)
    return response


def _replay_version(registry: Registry, gate: Gate[Any]) -> Hashable | None:
    """What a kept manifest answer depends on besides the request's bytes and the caller's
    credentials' life: the manifests and tags, and the policy's decisions. None: nothing is kept."""
    decisions = gate.decisions_version()
    return None if decisions is None else (registry.metadata.version(), decisions)


def _arrived_bytes(request: web.Request) -> bytes | None:
    """The request's bytes exactly as they arrived, when its connection knew them (runtime.py)."""
    take = getattr(request.protocol, "take_replay_request", None)
    return take() if take is not None else None


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    registry = app[REGISTRY_KEY]

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            try:
                registry.uploads.sweep_expired()
            except Exception:
                log.exception("upload sweep failed")

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    registry.close()


@dataclass(frozen=True)
class AppParts:
    """One application's parts as a test hook sees them, before the server starts."""

    app: web.Application
    registry: Registry
    policy: AccessPolicy[Any]


AppHook = Callable[[AppParts], None]


def create_app(
    config: ServerConfig, policy: AccessPolicy[Any], *, hooks: Sequence[AppHook] = ()
) -> web.Application:
    """The registry application for `config`, with `policy` deciding access (and adding its routes).

    `hooks` are for tests only (see the module docstring); each is called once, in order, last."""
    app = web.Application(middlewares=[oci_errors], client_max_size=1024**2)
    registry = Registry.open(config)
    registry.uploads.sweep_expired()
    app[REGISTRY_KEY] = registry
    app[STORAGE_ALARM_KEY] = StorageAlarm()
    app[MANIFEST_BUDGET_KEY] = BodyBudget(config.manifest_buffer_budget_bytes)
    gate = app[GATE_KEY] = Gate(policy)
    app[REPLAY_KEY] = ReplayCache(
        functools.partial(_replay_version, registry, gate),
        DEFAULT_REPLAY_BUDGET_BYTES if config.replay else 0,
    )
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_route("*", r"/v2/{tail:[\s\S]*}", dispatch)
    app.cleanup_ctx.append(_lifecycle)
    direct_body.install(app)
    policy.install(app, registry.metadata)
    for hook in hooks:
        hook(AppParts(app, registry, policy))
    return app
