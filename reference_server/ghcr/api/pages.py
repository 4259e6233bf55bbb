"""The package page: `/packages/container/{namespace}/{name}` in HTML, like ghcr.io's package view.

Shows the description, license and source link read from the image (LBL-1/2/3/5), the connected
repository, the pull command, the tags and versions, and the platforms of multi-arch images.
Private packages only for callers allowed to read them (HTTP Basic `user:PAT` in a browser); a page
the caller may not see answers exactly like a missing one.
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web

from reference_server.ghcr.auth.identity import ANONYMOUS_IDENTITY, Identities, Identity, parse_basic
from reference_server.ghcr.auth.permissions import Role, package_role
from reference_server.ghcr.data.callers import split_name
from reference_server.ghcr.data.packages import PackageService, version_id
from reference_server.ghcr.data.store import AccountsStore, Package

INDEX_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
MAX_VERSIONS_SHOWN = 200

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:14px 32px;font-weight:600}
main{display:flex;gap:32px;padding:24px 32px;max-width:1100px}
section.content{flex:3;min-width:0}aside{flex:1;min-width:220px}
h1{font-size:26px;margin:0 0 4px}.badge{display:inline-block;border:1px solid #d0d7de;border-radius:2em;
padding:0 8px;font-size:12px;margin-left:8px;vertical-align:middle;background:#fff}
.description{margin:8px 0 20px;color:#424a53;white-space:pre-wrap}
pre{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de;font-size:13px;vertical-align:top}
code{font-size:12px;word-break:break-all}
.tag{display:inline-block;background:#ddf4ff;border-radius:2em;padding:0 8px;margin:1px}
aside dl{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin:0}
aside dt{font-weight:600;font-size:13px;margin-top:8px}aside dd{margin:0;font-size:13px;word-break:break-all}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _date(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def platforms_of(body: bytes) -> list[str]:
    """`os/architecture[/variant]` of each entry of an image index (unknown entries skipped)."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    found = []
    for entry in document.get("manifests") or [] if isinstance(document, dict) else []:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if isinstance(platform, dict) and platform.get("os") and platform.get("architecture"):
            parts = [str(platform["os"]), str(platform["architecture"])]
            if platform.get("variant"):
                parts.append(str(platform["variant"]))
            found.append("/".join(parts))
    return found


class PackagePages:
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
        app.router.add_get("/packages/container/{namespace}/{name:.+}", self.page)

    def _identity(self, request: web.Request) -> Identity | None:
        value = request.headers.get("Authorization")
        if value is None:
            return ANONYMOUS_IDENTITY
        basic = parse_basic(value)
        return self.identities.from_secret(*basic) if basic else None

    def _refusal(self, identity: Identity | None) -> web.Response:
        if identity is None or identity.is_anonymous:
            # Missing and private look alike: both ask for credentials.
            return web.Response(
                status=401,
                text="Sign in (user name and personal access token) to see this package.\n",
                headers={"WWW-Authenticate": 'Basic realm="keelhaul packages", charset="UTF-8"'},
            )
        return web.Response(status=404, text="Package not found.\n")

    async def page(self, request: web.Request) -> web.Response:
        identity = self._identity(request)
        parts = split_name(f"{request.match_info['namespace']}/{request.match_info['name']}")
        owner = self.store.find_account(parts[0]) if parts else None
        package = self.store.live_package(owner, parts[1]) if owner and parts else None
        if identity is None or package is None:
            return self._refusal(identity)
        if package_role(self.store, identity.caller, package) < Role.READ:
            return self._refusal(identity)
        if not identity.is_anonymous and "read:packages" not in identity.caller.scopes:
            return self._refusal(identity)
        return web.Response(text=self.render(request, package), content_type="text/html", charset="utf-8")

    def render(self, request: web.Request, package: Package) -> str:
        metadata = self.packages.metadata
        host = urlsplit(self.base_url(request)).netloc
        name = package.registry_name
        versions = self.packages.versions(package)
        latest_tag = "latest" if any("latest" in v.tags for v in versions) else None
        if latest_tag is None:
            latest_tag = next((v.tags[0] for v in versions if v.tags), None)
        pull = f"docker pull {host}/{name}" + (f":{latest_tag}" if latest_tag else "")
        rows = []
        for version in versions[:MAX_VERSIONS_SHOWN]:
            platforms = ""
            if version.media_type in INDEX_TYPES:
                record = metadata.get_manifest(name, version.digest)
                platforms = ", ".join(platforms_of(record.body)) if record else ""
            tags = (
                "".join(f'<span class="tag">{_esc(tag)}</span>' for tag in version.tags)
                or "<em>untagged</em>"
            )
            rows.append(
                f'<tr id="version-{version_id(version.digest)}"><td>{tags}</td>'
                f"<td><code>{_esc(version.digest)}</code></td><td>{_esc(platforms or '-')}</td>"
                f"<td>{_esc(_date(version.created_at))}</td></tr>"
            )
        source = package.source_url or ""
        if source.startswith(("https://", "http://")):
            source_html = f'<a href="{_esc(source)}" rel="nofollow noopener">{_esc(source)}</a>'
        else:
            source_html = _esc(source or "-")
        repository = "-"
        if package.repository_id is not None:
            repo = self.store.repository_by_id(package.repository_id)
            repository = f'<a href="{_esc(repo.url)}" rel="nofollow noopener">{_esc(repo.full_name)}</a>'
        description = package.description or "No description provided."
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(name)} · keelhaul packages</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><header>keelhaul · packages</header><main><section class="content">
<h1>{_esc(package.name)}<span class="badge">{_esc(package.visibility)}</span></h1>
<div class="owner">by {_esc(package.owner.login)}</div>
<p class="description">{_esc(description)}</p>
<h2>Install from the command line</h2><pre id="pull">{_esc(pull)}</pre>
<h2>Versions</h2>
<table><thead><tr><th>Tags</th><th>Digest</th><th>Platforms</th><th>Published</th></tr></thead>
<tbody>{"".join(rows) or '<tr><td colspan="4">No versions yet.</td></tr>'}</tbody></table>
</section><aside><dl>
<dt>License</dt><dd id="license">{_esc(package.licenses or "-")}</dd>
<dt>Source</dt><dd id="source">{source_html}</dd>
<dt>Repository</dt><dd id="repository">{repository}</dd>
<dt>Visibility</dt><dd>{_esc(package.visibility)}</dd>
<dt>Versions</dt><dd>{len(versions)}</dd>
<dt>Published</dt><dd>{_esc(_date(package.created_at))}</dd>
</dl></aside></main></body></html>
"""
