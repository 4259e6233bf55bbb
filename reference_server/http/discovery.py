"""HTTP handlers for discovery: the API version check, tag lists, the catalog and referrers."""

from __future__ import annotations

import json
from urllib.parse import quote

from aiohttp import web

from reference_server.access import RequestAccess, Route
from reference_server.registry.errors import ErrorCode, OCIError
from reference_server.registry.grammar import parse_digest
from reference_server.registry.manifests import OCI_INDEX
from reference_server.registry.pagination import page_limit, parse_page
from reference_server.registry.services import Registry

CATALOG_DEFAULT_PAGE = 1000
CATALOG_MIN_BATCH = 64  # candidates fetched per index walk when the page is small


def link_header(path: str, limit: int, last_item: str) -> str:
    """The `Link` header that announces the next page."""
    return f'<{path}?n={limit}&last={quote(last_item, safe="")}>; rel="next"'


def _json(
    document: object, *, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> web.Response:
    return web.json_response(document, headers=headers, content_type=content_type)


async def ping(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    return _json({})


async def list_tags(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
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


def readable_page(registry: Registry, access: RequestAccess, after: str, wanted: int) -> list[str]:
    """The first `wanted` repository names after `after` the principal may read. The policy's
    candidates (an index walk) keep the work proportional to the page, not to the registry: a
    caller who may read nothing costs a few index probes, not a policy check per repository."""
    names: list[str] = []
    batch = max(wanted, CATALOG_MIN_BATCH)
    cursor = after
    while len(names) < wanted:
        found = access.catalog_candidates(cursor, batch)
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
            if name in existing and access.may_read(name):
                names.append(name)
                if len(names) == wanted:
                    break
        if len(candidates) < batch:
            break
        cursor = candidates[-1]
    return names


async def catalog(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
) -> web.StreamResponse:
    page = parse_page(request.query)
    limit = page_limit(page, CATALOG_DEFAULT_PAGE)
    assert limit is not None
    names: list[str] = []
    headers: dict[str, str] = {}
    if limit > 0:
        names = readable_page(registry, access, page.last or "", limit + 1)
        if len(names) > limit:
            names = names[:limit]
            headers["Link"] = link_header("/v2/_catalog", limit, names[-1])
    return _json({"repositories": names}, headers=headers)


async def referrers(
    request: web.Request, registry: Registry, route: Route, access: RequestAccess
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
    # exactly the index type: the spec says the Content-Type "MUST be set to" it, so no `; charset=`
    return web.Response(body=json.dumps(document).encode(), headers={**headers, "Content-Type": OCI_INDEX})
