"""The account and repository objects, error bodies and `Link` headers of GitHub's REST API, filled
the way GitHub fills them, so every answer validates against GitHub's published schemas
(`simple-user`, `nullable-minimal-repository`, `basic-error`).

Fields this server cannot know get GitHub's well-formed values instead of being left out: API URLs
(and URL templates) under this server's base, where api.github.com's would be; web pages
(`html_url`) at github.com, where the repositories' own URLs point; `node_id` in GitHub's legacy
global-ID form (base64 of `04:User42`); avatars at avatars.githubusercontent.com; counts of 0 and
flags at GitHub's defaults for a new repository.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from yarl import URL

from reference_server.ghcr.data.store import Account, SourceRepository
from reference_server.ghcr.data.timestamps import rfc3339

WEB = "https://github.com"
AVATARS = "https://avatars.githubusercontent.com"
_NODE_TYPES = {"user": "User", "organization": "Organization"}


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node ID: base64 of `<len(kind):02>:<kind><id>` (e.g. MDQ6VXNlcjE=)."""
    return base64.b64encode(f"{len(kind):02d}:{kind}{number}".encode()).decode()


def account_json(base: str, account: Account) -> dict[str, Any]:
    """A `simple-user` (GitHub uses it for organisations too, with `/users/` URLs)."""
    kind = _NODE_TYPES.get(account.kind, "User")
    api = f"{base}/users/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": node_id(kind, account.id),
        "avatar_url": f"{AVATARS}/u/{account.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{WEB}/{account.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


# name -> path template under /repos/{owner}/{name}, as GitHub's repository objects list them.
_REPOSITORY_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository_json(base: str, repository: SourceRepository) -> dict[str, Any]:
    """A `minimal-repository`: every required field, plus the clone URLs and dates GitHub adds."""
    api = f"{base}/repos/{repository.full_name}"
    web = repository.url.rstrip("/")
    host = urlsplit(web).hostname or "github.com"
    created = rfc3339(repository.created_at)
    document: dict[str, Any] = {
        "id": repository.id,
        "node_id": node_id("Repository", repository.id),
        "name": repository.name,
        "full_name": repository.full_name,
        "owner": account_json(base, repository.owner),
        "private": repository.visibility != "public",
        "visibility": repository.visibility,
        "html_url": web,
        "description": None,
        "fork": False,
        "url": api,
        **{field: api + path for field, path in _REPOSITORY_URLS.items()},
        "git_url": f"git://{host}/{repository.full_name}.git",
        "ssh_url": f"git@{host}:{repository.full_name}.git",
        "clone_url": f"{web}.git",
        "created_at": created,
        "updated_at": created,
        "pushed_at": None,
    }
    return document


def error_json(status: int, message: str, documentation_url: str) -> dict[str, str]:
    """GitHub's `basic-error` body: message, documentation URL and the status as a string."""
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def link_header(url: URL, page: int, per_page: int, total: int) -> str | None:
    """GitHub's pagination `Link`: `prev`/`first` after page 1, `next`/`last` before the last page."""
    last = max(1, -(-total // per_page))

    def at(number: int) -> str:
        return str(url.update_query(page=str(number), per_page=str(per_page)))

    links = []
    if page > 1:
        links.append(f'<{at(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links += [f'<{at(page + 1)}>; rel="next"', f'<{at(last)}>; rel="last"']
    if page > 1:
        links.append(f'<{at(1)}>; rel="first"')
    return ", ".join(links) or None
