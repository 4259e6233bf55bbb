"""Target profiles: which registry to test, as whom, and what it promises (TOML or YAML).

A profile never holds a secret. Each role's password comes from an environment variable or from a
docker `config.json` (the `auths` entry for the profile URL's host); a `password` key in the file is
refused. Everything else is validated up front, and every problem is one line naming the file and
the key, e.g. `profiles/x.toml: limits.max_layer_bytes: expected an integer, got "ten"`.
"""

from __future__ import annotations

import base64
import json
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from keelhaul.client.auth import Credentials
from keelhaul.client.grammar import is_valid_name
from keelhaul.errors import UsageError

if TYPE_CHECKING:
    from keelhaul.client.recorder import ExchangeRecorder
    from keelhaul.client.registry import RegistryClient

KINDS = ("reference", "distribution", "ghcr", "generic")
ROLES = ("anonymous", "reader", "writer", "deleter", "admin", "other_tenant", "workflow")
SECRET_KEYS = ("password", "token", "secret", "auth", "pat")
NAMESPACE = "repository name prefix"  # what a namespace is, in messages
ROLE_KEYS = ("username", "username_env", "password_env", "docker_config", "namespace", "source_repository")


@dataclass(frozen=True)
class Limits:
    """What the target declares; None = not declared (checks that need it are skipped)."""

    max_layer_bytes: int | None = None
    upload_expiry_seconds: int | None = None
    upload_expiry_from: str | None = None  # start | last-activity
    max_manifest_bytes: int | None = None
    label_overflow: str | None = None  # truncate | reject   (LBL-7)
    description_max_chars: int | None = None
    licenses_max_chars: int | None = None


@dataclass(frozen=True)
class Features:
    """Optional behaviours; False/"none" = the target lacks it (checks needing it are skipped)."""

    token_auth: bool = False
    referrers_api: bool = False
    manifest_delete: bool = False
    blob_delete: bool = False
    tag_delete: bool = False
    automatic_crossmount: bool = False
    single_post_upload: bool = False
    packages_api: str = "none"  # github | none
    package_pages: bool = False


@dataclass(frozen=True)
class ReadOnlyContent:
    """Existing content a --read-only run may pull and list."""

    repository: str
    tag: str | None = None
    manifest_digest: str | None = None
    blob_digest: str | None = None


@dataclass(frozen=True)
class Role:
    """One identity of the profile. `credentials` None = anonymous; `unavailable` says why the role
    cannot be used (an environment variable not set, no docker config entry, ...)."""

    name: str
    credentials: Credentials | None = None
    namespace: str | None = None  # other_tenant: where that tenant's own repositories live
    source_repository: str | None = None  # workflow: the repository its token belongs to
    unavailable: str | None = None


# What each kind of registry is known to promise when the file does not say (the file always wins).
KIND_FEATURES: dict[str, Features] = {
    # `keelhaul serve` with auth answers /v2 deletes as ghcr.io does (405): deletion goes through the
    # REST API. `--no-auth` (plain OCI) or `--registry-deletes` accepts them; say so in the profile.
    "reference": Features(True, True, False, False, False, True, True, "github", True),
    "distribution": Features(manifest_delete=True, blob_delete=True),
    "ghcr": Features(token_auth=True, packages_api="github", package_pages=True),
    "generic": Features(),
}
KIND_LIMITS: dict[str, Limits] = {
    "reference": Limits(10_000_000_000, 600, "start", 4 * 1024 * 1024, "truncate", 512, 256),
    # github/docs "Working with the Container registry": 10 GB per layer, 10 minute upload timeout,
    # description limited to 512 characters, licenses to 256.
    "ghcr": Limits(
        max_layer_bytes=10_000_000_000,
        upload_expiry_seconds=600,
        description_max_chars=512,
        licenses_max_chars=256,
    ),
    "distribution": Limits(),
    "generic": Limits(),
}
_Declared = TypeVar("_Declared", Limits, Features)
CHOICES = {
    "upload_expiry_from": ("start", "last-activity"),
    "label_overflow": ("truncate", "reject"),
    "packages_api": ("github", "none"),
}


@dataclass(frozen=True)
class TargetProfile:
    name: str
    kind: str
    url: str
    namespace: str
    limits: Limits = field(default_factory=Limits)
    features: Features = field(default_factory=Features)
    read_only: ReadOnlyContent | None = None
    roles: dict[str, Role] = field(default_factory=dict)
    tls_verify: bool = True
    source: str | None = None  # the file it came from

    def role(self, role: str) -> Role:
        if role == "anonymous":
            return Role("anonymous")
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        return self.roles.get(role) or Role(role, unavailable=f"no [credentials.{role}] in the profile")

    def has_role(self, role: str) -> bool:
        """True when the role's credentials are available (anonymous always is)."""
        return self.role(role).unavailable is None

    def role_unavailable_reason(self, role: str) -> str | None:
        return self.role(role).unavailable

    def credentials(self, role: str) -> Credentials | None:
        """The role's credentials; None for anonymous. Raises UsageError when unavailable."""
        found = self.role(role)
        if found.unavailable:
            raise UsageError(f"role {role}: {found.unavailable}")
        return found.credentials

    def client(self, role: str = "writer", recorder: ExchangeRecorder | None = None) -> RegistryClient:
        from keelhaul.client.registry import RegistryClient

        return RegistryClient(
            self.url, credentials=self.credentials(role), recorder=recorder, verify=self.tls_verify
        )

    @classmethod
    def embedded(
        cls,
        url: str,
        credentials_by_role: dict[str, Any],
        limits: Limits | dict[str, Any] | None = None,
        *,
        namespace: str = "keelhaul-ci",
        auth: bool = True,
        features: Features | dict[str, Any] | None = None,
        name: str = "embedded reference server",
    ) -> TargetProfile:
        """A profile for the suite's own reference server. Values of `credentials_by_role` are
        Credentials, Role, or dicts with username/password (+ namespace, source_repository)."""
        roles: dict[str, Role] = {}
        for role, value in credentials_by_role.items():
            if isinstance(value, Role):
                roles[role] = value
            elif isinstance(value, Credentials) or value is None:
                roles[role] = Role(role, value)
            else:
                roles[role] = Role(
                    role,
                    Credentials(value["username"], value["password"]),
                    namespace=value.get("namespace"),
                    source_repository=value.get("source_repository"),
                )
        if isinstance(limits, Limits):
            limit_values = limits
        else:
            limit_values = replace(KIND_LIMITS["reference"], **(limits or {}))
        if isinstance(features, Features):
            feature_values = features
        else:
            feature_values = replace(KIND_FEATURES["reference"], **{"token_auth": auth, **(features or {})})
        if not auth and not isinstance(features, Features):
            # without the auth layer there are no tokens, no packages API and no package pages, and
            # /v2 deletes work: the plain OCI registry
            feature_values = replace(
                feature_values,
                packages_api="none",
                package_pages=False,
                manifest_delete=True,
                blob_delete=True,
                tag_delete=True,
            )
        return cls(name, "reference", url.rstrip("/"), namespace, limit_values, feature_values, None, roles)


# ---- loading ---------------------------------------------------------------------------------------
def load_profile(path: str | os.PathLike[str]) -> TargetProfile:
    """Read and validate a profile file (.toml, .yaml/.yml or .json)."""
    path = Path(path).expanduser()
    where = str(path)
    if not path.is_file():
        raise UsageError(f"{where}: no such profile file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{where}: cannot read: {error}") from None
    document = _parse(text, path.suffix.lower(), where)
    return _Reader(where, path.stem).profile(document)


def _parse(text: str, suffix: str, where: str) -> dict[str, Any]:
    if suffix == ".toml":
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise UsageError(f"{where}: not valid TOML: {error}") from None
    elif suffix in (".yaml", ".yml", ".json"):
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            detail = " ".join(str(error).split())
            raise UsageError(f"{where}: not valid YAML: {detail}") from None
    else:
        raise UsageError(f"{where}: profile must be .toml, .yaml, .yml or .json")
    if not isinstance(document, dict):
        raise UsageError(f"{where}: expected a table/mapping at the top level")
    return document


class _Reader:
    """Walks the document, checking each key; every error names the file and the dotted key."""

    def __init__(self, where: str, default_name: str) -> None:
        self.where = where
        self.default_name = default_name

    def fail(self, key: str, problem: str) -> UsageError:
        return UsageError(f"{self.where}: {key}: {problem}")

    def table(self, document: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
        value = document.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(key, "missing (required section)")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table/mapping, got {_shown(value)}")
        return value

    def known(self, table: dict[str, Any], prefix: str, allowed: tuple[str, ...] | list[str]) -> None:
        for key in table:
            if key not in allowed:
                hint = ""
                if key.lower() in SECRET_KEYS:
                    hint = " (secrets never go in the file: use password_env or docker_config)"
                raise self.fail(
                    f"{prefix}.{key}" if prefix else key, f"unknown key{hint}; allowed: {', '.join(allowed)}"
                )

    def string(self, table: dict[str, Any], prefix: str, key: str, required: bool = False) -> str | None:
        value = table.get(key)
        if value is None:
            if required:
                raise self.fail(f"{prefix}.{key}", "missing (required)")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{prefix}.{key}", f"expected a non-empty string, got {_shown(value)}")
        return value.strip()

    def repository(
        self,
        table: dict[str, Any],
        prefix: str,
        key: str,
        required: bool = False,
        what: str = "repository name",
    ) -> str | None:
        """A string in the repository-name grammar (a namespace too: names begin with it)."""
        value = self.string(table, prefix, key, required)
        if value is not None and not is_valid_name(value):
            raise self.fail(f"{prefix}.{key}", f"{value!r} is not a valid {what}")
        return value

    def integer(self, table: dict[str, Any], prefix: str, key: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{prefix}.{key}", f"expected an integer, got {_shown(value)}")
        if value <= 0:
            raise self.fail(f"{prefix}.{key}", f"expected a positive integer, got {value}")
        return value

    def boolean(self, table: dict[str, Any], prefix: str, key: str) -> bool | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{prefix}.{key}", f"expected true or false, got {_shown(value)}")
        return value

    def choice(self, table: dict[str, Any], prefix: str, key: str) -> str | None:
        value = self.string(table, prefix, key)
        if value is not None and value not in CHOICES[key]:
            raise self.fail(f"{prefix}.{key}", f"expected one of {', '.join(CHOICES[key])}, got {value!r}")
        return value

    # ---- sections ----
    def profile(self, document: dict[str, Any]) -> TargetProfile:
        self.known(document, "", ("target", "credentials", "limits", "features", "read_only"))
        target = self.table(document, "target", required=True)
        self.known(target, "target", ("name", "kind", "url", "namespace", "tls_verify"))
        kind = self.string(target, "target", "kind") or "generic"
        if kind not in KINDS:
            raise self.fail("target.kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        url = self.string(target, "target", "url", required=True) or ""
        parts = urlsplit(url)
        has_extra = parts.path.strip("/") or parts.query or parts.fragment
        if parts.scheme not in ("http", "https") or not parts.hostname or has_extra:
            raise self.fail("target.url", f"expected http(s)://host[:port] with no path, got {url!r}")
        namespace = self.repository(target, "target", "namespace", True, NAMESPACE) or ""
        tls_verify = self.boolean(target, "target", "tls_verify")
        return TargetProfile(
            name=self.string(target, "target", "name") or self.default_name,
            kind=kind,
            url=url.rstrip("/"),
            namespace=namespace,
            limits=self.declared(self.table(document, "limits"), "limits", KIND_LIMITS[kind], self.integer),
            features=self.declared(
                self.table(document, "features"), "features", KIND_FEATURES[kind], self.boolean
            ),
            read_only=self.read_only(document),
            roles=self.roles(self.table(document, "credentials"), parts.netloc),
            tls_verify=True if tls_verify is None else tls_verify,
            source=self.where,
        )

    def declared(
        self, table: dict[str, Any], prefix: str, preset: _Declared, scalar: Callable[..., Any]
    ) -> _Declared:
        """[limits] or [features]: each field of `preset` read with `scalar` (or as a choice), the
        preset kept where the file says nothing."""
        names = [f.name for f in fields(preset)]
        self.known(table, prefix, names)
        values: dict[str, Any] = {}
        for name in names:
            value = self.choice(table, prefix, name) if name in CHOICES else scalar(table, prefix, name)
            if value is not None:
                values[name] = value
        return replace(preset, **values)

    def read_only(self, document: dict[str, Any]) -> ReadOnlyContent | None:
        table = self.table(document, "read_only")
        if not table:
            return None
        self.known(table, "read_only", ("repository", "tag", "manifest_digest", "blob_digest"))
        return ReadOnlyContent(
            self.repository(table, "read_only", "repository", required=True) or "",
            self.string(table, "read_only", "tag"),
            self.string(table, "read_only", "manifest_digest"),
            self.string(table, "read_only", "blob_digest"),
        )

    def roles(self, table: dict[str, Any], host: str) -> dict[str, Role]:
        self.known(table, "credentials", [r for r in ROLES if r != "anonymous"])
        roles = {}
        for name in table:
            prefix = f"credentials.{name}"
            entry = self.table(table, prefix)
            self.known(entry, prefix, ROLE_KEYS)
            roles[name] = self.role(name, entry, prefix, host)
        return roles

    def role(self, name: str, entry: dict[str, Any], prefix: str, host: str) -> Role:
        namespace = self.repository(entry, prefix, "namespace", what=NAMESPACE)
        source_repository = self.repository(entry, prefix, "source_repository")
        if name == "other_tenant" and namespace is None:
            raise self.fail(f"{prefix}.namespace", "missing (where the other tenant's own repositories live)")
        if name == "workflow" and source_repository is None:
            raise self.fail(f"{prefix}.source_repository", "missing (the repository of the workflow token)")
        username = self.string(entry, prefix, "username")
        username_env = self.string(entry, prefix, "username_env")
        password_env = self.string(entry, prefix, "password_env")
        docker_config = self.string(entry, prefix, "docker_config")
        if username and username_env:
            raise self.fail(prefix, "give username or username_env, not both")
        if password_env and docker_config:
            raise self.fail(prefix, "give password_env or docker_config, not both")
        if not password_env and not docker_config:
            raise self.fail(prefix, "needs password_env (an environment variable name) or docker_config")
        extra = {"namespace": namespace, "source_repository": source_repository}
        if docker_config:
            found, problem = _docker_config_credentials(Path(docker_config).expanduser(), host)
            if found is None:
                return Role(name, unavailable=problem, **extra)
            user = username or (os.environ.get(username_env) if username_env else None) or found.username
            return Role(name, Credentials(user, found.password), **extra)
        if username_env:
            username = os.environ.get(username_env)
            if not username:
                return Role(name, unavailable=f"environment variable {username_env} is not set", **extra)
        password = os.environ.get(password_env or "")
        if not password:
            return Role(name, unavailable=f"environment variable {password_env} is not set", **extra)
        # ghcr accepts any username with a PAT; registries with Basic realms need the right one
        return Role(name, Credentials(username or "keelhaul", password), **extra)


def _docker_config_credentials(path: Path, host: str) -> tuple[Credentials | None, str]:
    """Credentials for `host` from a docker config.json `auths` entry (base64 user:pass)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"docker config {path} does not exist"
    except (OSError, ValueError) as error:
        return None, f"docker config {path} is unreadable: {error}"
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None, f"docker config {path} has no auths"
    for key, entry in auths.items():
        if _host_of(key) != host.lower() or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, f"docker config {path}: auths[{key}].auth is not base64 of user:password"
            if sep and password:
                return Credentials(user, password), ""
            return None, f"docker config {path}: auths[{key}].auth is not base64 of user:password"
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return Credentials(entry["username"], entry["password"]), ""
    helpers = (
        " (credential helpers/credsStore are not supported)"
        if isinstance(config, dict) and (config.get("credsStore") or config.get("credHelpers"))
        else ""
    )
    return None, f"docker config {path} has no auths entry for {host}{helpers}"


def _host_of(key: str) -> str:
    """`https://ghcr.io/v1/` and `ghcr.io` both name host `ghcr.io`."""
    return (urlsplit(key).netloc if "://" in key else key.split("/", 1)[0]).lower()


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
