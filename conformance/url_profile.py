"""`keelhaul check --url URL`: the profile a vendor would otherwise write by hand, from a URL alone.

It says what a profile file says, with defaults: the kind from the host (ghcr.io is `ghcr`, anything
else `generic`, so only what OCI requires is assumed), a namespace, and one account for the reader,
writer and deleter roles. The password is named by an environment variable, never written out.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from keelhaul.errors import UsageError

PASSWORD_ENV = "KEELHAUL_CHECK_PASSWORD"
DEFAULT_NAMESPACE = "keelhaul-ci"
# One account acts in every role a single login can hold; other_tenant, admin and workflow need
# other accounts or tokens, so the checks that need them are skipped with that reason.
ROLES = ("reader", "writer", "deleter")


def checked_url(url: str) -> str:
    """`url` as scheme://host[:port], or a one-line error."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must be http(s)://host[:port], got {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(f"--url takes no path or query (repositories come from --namespace), got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def default_kind(url: str) -> str:
    return "ghcr" if (urlsplit(url).hostname or "").lower() == "ghcr.io" else "generic"


def default_namespace(kind: str, username: str | None) -> str:
    """ghcr.io only lets an account push under its own name (or its organisations')."""
    if kind == "ghcr" and username:
        return username.lower()
    return DEFAULT_NAMESPACE


def url_profile_text(
    url: str, username: str | None, *, kind: str | None = None, namespace: str | None = None
) -> str:
    """A TOML profile for `url`; with `username`, its password comes from PASSWORD_ENV."""
    url = checked_url(url)
    kind = kind or default_kind(url)
    lines = [
        "# written by `keelhaul check --url` for this run",
        "[target]",
        f"name = {json.dumps(urlsplit(url).netloc)}",
        f"kind = {json.dumps(kind)}",
        f"url = {json.dumps(url)}",
        f"namespace = {json.dumps(namespace or default_namespace(kind, username))}",
    ]
    if username:
        for role in ROLES:
            lines += [
                f"[credentials.{role}]",
                f"username = {json.dumps(username)}",
                f"password_env = {json.dumps(PASSWORD_ENV)}",
            ]
    return "\n".join(lines) + "\n"
