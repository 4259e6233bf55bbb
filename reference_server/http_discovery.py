"""HTTP handlers for discovery: the API version check, tag lists, the catalog and referrers."""

from __future__ import annotations

from aiohttp import web

from reference_server.access import Principal
from reference_server.errors import ErrorCode, OCIError
from reference_server.grammar import parse_digest
from reference_server.manifests import OCI_INDEX
from reference_server.pagination import link_header, page_limit, parse_page
from reference_server.registry import Registry
from reference_server.routing import Route

CATALOG_DEFAULT_PAGE = 1000
CATALOG_MIN_BATCH = 64  # candidates fetched per index walk when the page is small


def _json(
    document: object, *, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> web.Response:
    return web.json_response(document, headers=headers, content_type=content_type)


async def ping(
    request: web.Request, registry: Registry, route: Route, principal: Principal
) -> web.StreamResponse:
    return _json({})


async def list_tags(
    request: web.Request, registry: Registry, route: Route, principal: Principal
) -> web.StreamResponse:
    page = parse_page(request.query)
    if not registry.metadata.repository_exists(route.name):
        raise OCIError(ErrorCode.NAME_UNKNOWN, detail={"name": route.name})
    limit = page_limit(page, None)
    headers: dict[str, str] = {}
    if limit == 0:
        tags: list[str] = []
    else:
        tags = registry.metadata.list_tags(route.name, page.last, None if limit is None else limit + 1)
        if limit is not None and len(tags) > limit:
            tags = tags[:limit]
            headers["Link"] = link_header(f"/v2/{route.name}/tags/list", limit, tags[-1])
    return _json({"name": route.name, "tags": tags}, headers=headers)


def readable_page(registry: Registry, principal: Principal, after: str, wanted: int) -> list[str]:
    """The first `wanted` repository names after `after` the principal may read. The policy's
    candidates (an index walk) keep the work proportional to the page, not to the registry: a
    caller who may read nothing costs a few index probes, not a policy check per repository."""
    names: list[str] = []
    batch = max(wanted, CATALOG_MIN_BATCH)
    cursor = after
    candidates_of = getattr(registry.policy, "catalog_candidates", None)
    while len(names) < wanted:
        found = candidates_of(principal, cursor, batch) if candidates_of is not None else None
        if found is None:
            candidates = registry.metadata.list_repositories(cursor, batch)
            existing = set(candidates)
        else:
            # Each source gives its first `batch` names after the cursor, so the first `batch` of
            # their union are exactly the first `batch` candidates overall.
            pool = set(found.names)
            for namespace in found.namespaces:
                pool.update(registry.metadata.list_repositories_in(namespace, cursor, batch))
            candidates = sorted(pool)[:batch]
            existing = registry.metadata.existing_repositories(candidates)
        for name in candidates:
            if name in existing and registry.policy.may_read(principal, name):
                names.append(name)
                if len(names) == wanted:
                    break
        if len(candidates) < batch:
            break
        cursor = candidates[-1]
    return names


async def catalog(
    request: web.Request, registry: Registry, route: Route, principal: Principal
) -> web.StreamResponse:
    page = parse_page(request.query)
    limit = page_limit(page, CATALOG_DEFAULT_PAGE)
    assert limit is not None
    names: list[str] = []
    headers: dict[str, str] = {}
    if limit > 0:
        names = readable_page(registry, principal, page.last or "", limit + 1)
        if len(names) > limit:
            names = names[:limit]
            headers["Link"] = link_header("/v2/_catalog", limit, names[-1])
    return _json({"repositories": names}, headers=headers)


async def referrers(
    request: web.Request, registry: Registry, route: Route, principal: Principal
) -> web.StreamResponse:
    subject = str(parse_digest(route.argument))
    artifact_type = request.query.get("artifactType")
    records = registry.metadata.referrers(route.name, subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [record.referrer_descriptor() for record in records],
    }
    return _json(document, headers=headers, content_type=OCI_INDEX)
