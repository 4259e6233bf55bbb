"""Mapping a request path to an endpoint, and each (endpoint, method) to the actions it needs.

Parsed from the raw (still percent-encoded) path, from the right: tags, references and digests
never contain '/', so the last components decide the endpoint and the rest is the repository name.
The action table is explicit and deny-by-default: a pair missing from it is 405 UNSUPPORTED
before any credentials are looked at.
"""

from __future__ import annotations

from reference_server.access import Action, Endpoint, Route
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.grammar import validate_name

MAX_PATH_LENGTH = 4096


PULL = (Action.PULL,)
PUSH = (Action.PUSH, Action.PULL)

# (endpoint, method) -> what the caller must be allowed to do. Anything else: 405.
# Ping and catalog need no repository action: the gate asks the policy about them separately.
ACCESS: dict[tuple[Endpoint, str], tuple[Action, ...]] = {
    (Endpoint.PING, "GET"): (),
    (Endpoint.PING, "HEAD"): (),
    (Endpoint.CATALOG, "GET"): (),
    (Endpoint.CATALOG, "HEAD"): (),
    (Endpoint.TAGS, "GET"): PULL,
    (Endpoint.TAGS, "HEAD"): PULL,
    (Endpoint.MANIFEST, "GET"): PULL,
    (Endpoint.MANIFEST, "HEAD"): PULL,
    (Endpoint.MANIFEST, "PUT"): PUSH,
    (Endpoint.MANIFEST, "DELETE"): (Action.DELETE,),
    (Endpoint.BLOB, "GET"): PULL,
    (Endpoint.BLOB, "HEAD"): PULL,
    (Endpoint.BLOB, "DELETE"): (Action.DELETE,),
    (Endpoint.UPLOADS, "POST"): PUSH,
    (Endpoint.UPLOAD, "GET"): PUSH,
    (Endpoint.UPLOAD, "PATCH"): PUSH,
    (Endpoint.UPLOAD, "PUT"): PUSH,
    (Endpoint.UPLOAD, "DELETE"): PUSH,  # cancelling an upload is part of pushing, not a delete
    (Endpoint.REFERRERS, "GET"): PULL,
    (Endpoint.REFERRERS, "HEAD"): PULL,
}


def allowed_methods(endpoint: Endpoint) -> list[str]:
    return [method for (ep, method) in ACCESS if ep is endpoint]


def _not_found(path: str) -> OCIError:
    return OCIError(ErrorCode.UNSUPPORTED, "no such endpoint", status=404, detail={"path": path[:200]})


def parse_route(path: str) -> Route:
    """The Route of a raw /v2/... path (query already removed)."""
    if len(path) > MAX_PATH_LENGTH:
        raise OCIError(
            ErrorCode.NAME_INVALID, f"request path longer than {MAX_PATH_LENGTH} characters", status=414
        )
    if path in ("/v2/", "/v2"):
        return Route(Endpoint.PING)
    if not path.startswith("/v2/"):
        raise _not_found(path)
    rest = path[4:]
    if rest == "_catalog":
        return Route(Endpoint.CATALOG)
    parts = rest.split("/")
    n = len(parts)
    endpoint: Endpoint | None = None
    argument = ""
    name_parts = 0
    if n >= 3 and parts[-2] == "tags" and parts[-1] == "list":
        endpoint, name_parts = Endpoint.TAGS, n - 2
    elif n >= 4 and parts[-3] == "blobs" and parts[-2] == "uploads":
        if parts[-1]:
            endpoint, argument = Endpoint.UPLOAD, parts[-1]
        else:
            endpoint = Endpoint.UPLOADS
        name_parts = n - 3
    elif n >= 3 and parts[-2] == "blobs" and parts[-1] == "uploads":
        endpoint, name_parts = Endpoint.UPLOADS, n - 2
    elif n >= 3 and parts[-2] in ("manifests", "blobs", "referrers") and parts[-1]:
        endpoint = {"manifests": Endpoint.MANIFEST, "blobs": Endpoint.BLOB, "referrers": Endpoint.REFERRERS}[
            parts[-2]
        ]
        argument, name_parts = parts[-1], n - 2
    if endpoint is None:
        raise _not_found(path)
    return Route(endpoint, validate_name("/".join(parts[:name_parts])), argument)
