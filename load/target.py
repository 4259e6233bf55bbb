"""Which registry a load run hits, and as whom: a target profile, or a bare URL with no credentials."""

from __future__ import annotations

import httpx

from keelhaul.errors import UsageError
from keelhaul.profile import TargetProfile, load_profile
from load.options import LoadSettings


def url_profile(url: str) -> TargetProfile:
    """`--host URL` without a profile: a generic registry, anonymous, no declared limits."""
    return TargetProfile(name=url, kind="generic", url=url.rstrip("/"), namespace="", roles={})


def resolve_profile(settings: LoadSettings) -> TargetProfile:
    """The run's target: `--keelhaul-profile` when given (its URL wins over --host), else `--host`."""
    if settings.profile_path:
        return load_profile(settings.profile_path)
    if not settings.host:
        raise UsageError("no target: give --keelhaul-profile PROFILE or --host URL (or KEELHAUL_PROFILE)")
    if not settings.host.startswith(("http://", "https://")):
        raise UsageError(f"--host must be an http:// or https:// URL, got {settings.host!r}")
    return url_profile(settings.host)


def usable_role(profile: TargetProfile, wanted: str) -> str:
    """`wanted` when the profile has it; else the writer (who may also read and delete its own
    repositories); else anonymous, for registries without auth."""
    for role in (wanted, "writer"):
        if profile.has_role(role):
            return role
    return "anonymous"


def preflight(profile: TargetProfile) -> None:
    """One GET /v2/ as the role that will push: a target that cannot be reached, or that refuses the
    credentials, is one line before any user starts instead of a failure per request."""
    role = usable_role(profile, "writer")
    who = "anonymous access" if role == "anonymous" else f"the {role} credentials of the profile"
    try:
        with profile.client(role) as client:
            status = client.ping().status_code
    except httpx.HTTPError as error:
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        raise UsageError(f"cannot reach the target at {profile.url}: {reason}") from None
    if status in (401, 403):
        raise UsageError(f"the target at {profile.url} refuses {who} ({status} to GET /v2/)")
    if status != 200:
        raise UsageError(f"the target at {profile.url} is not an OCI registry? GET /v2/ answered {status}")


def embedded_profile_text(url: str) -> str:
    """A profile for a reference server started without auth (the `keelhaul load` default target)."""
    return (
        "# written by keelhaul load for its embedded reference server (no auth)\n"
        "[target]\n"
        'name = "embedded reference server"\n'
        'kind = "reference"\n'
        f'url = "{url}"\n'
        'namespace = "keelhaul-load"\n'
        "[features]\n"
        "token_auth = false\n"
        'packages_api = "none"\n'
        "package_pages = false\n"
    )
