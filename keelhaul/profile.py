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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from keelhaul.client.auth import Credentials
from keelhaul.client.grammar import is_valid_name
from keelhaul.client.recorder import ExchangeRecorder
from keelhaul.client.registry import RegistryClient
from keelhaul.errors import UsageError

KINDS = ("reference", "distribution", "ghcr", "generic")
ROLES = ("anonymous", "reader", "writer", "deleter", "admin", "other_tenant", "workflow")
SECRET_KEYS = ("password", "token", "secret", "auth", "pat")
NAMESPACE = "repository name prefix"  # what a namespace is, in messages
ROLE_KEYS = ("username", "username_env", "password_env", "docker_config", "namespace", "source_repository")


@dataclass(frozen=True)
class Limits:
    """What the target declares; None = not declared (checks that need it are skipped)."""

    max_layer_bytes: int | None = None
    upload_expiry_seconds: float | None = None  # a fraction allowed: a test server's expiry may be short
    upload_expiry_from: str | None = None  # start | last-activity
    max_manifest_bytes: int | None = None
    label_overflow: str | None = None  # truncate | reject   (LBL-7)
    description_max_chars: int | None = None
    licenses_max_chars: int | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def value(self, name: str) -> int | str | None:
        """The limit called `name` (a check's `needs(limit=...)`); KeyError for an unknown name."""
        if name not in self.names():
            raise KeyError(name)
        value: int | str | None = getattr(self, name)
        return value


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

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_flags(self, flags: Mapping[str, bool]) -> Features:
        """These features with the on/off ones in `flags` set (what `--probe` found on the target)."""
        for name in flags:
            if not isinstance(self.value(name), bool):
                raise KeyError(name)
        return Features(**(asdict(self) | dict(flags)))

    def value(self, name: str) -> bool | str:
        """The feature called `name` (a check's `needs(...)`); KeyError for an unknown name."""
        if name not in self.names():
            raise KeyError(name)
        value: bool | str = getattr(self, name)
        return value


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
    "reference": Features(
        token_auth=True,
        referrers_api=True,
        manifest_delete=False,
        blob_delete=False,
        tag_delete=False,
        automatic_crossmount=True,
        single_post_upload=True,
        packages_api="github",
        package_pages=True,
    ),
    "distribution": Features(manifest_delete=True, blob_delete=True),
    "ghcr": Features(token_auth=True, packages_api="github", package_pages=True),
    "generic": Features(),
}
KIND_LIMITS: dict[str, Limits] = {
    "reference": Limits(
        max_layer_bytes=10_000_000_000,
        upload_expiry_seconds=600,
        upload_expiry_from="start",
        max_manifest_bytes=4 * 1024 * 1024,
        label_overflow="truncate",
        description_max_chars=512,
        licenses_max_chars=256,
    ),
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
_Value = TypeVar("_Value")
Table = Mapping[str, object]  # a parsed TOML/YAML table, read key by key with checks
CHOICES = {
    "upload_expiry_from": ("start", "last-activity"),
    "label_overflow": ("truncate", "reject"),
    "packages_api": ("github", "none"),
}


@dataclass(frozen=True)
class TargetProfile:
    """A registry under test, parsed and checked once: where it is, what it declares, who acts on it."""

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
        return RegistryClient(
            self.url, credentials=self.credentials(role), recorder=recorder, verify=self.tls_verify
        )

    @classmethod
    def embedded(
        cls,
        url: str,
        roles: Mapping[str, Role],
        limits: Limits | None = None,
        *,
        namespace: str = "keelhaul-ci",
        auth: bool = True,
        registry_deletes: bool = False,
        name: str = "embedded reference server",
    ) -> TargetProfile:
        """A profile for the suite's own reference server: the reference kind's features (without
        auth: no tokens, no packages API, no package pages, and /v2 deletes work; with auth they work
        only when the server runs with `registry_deletes`) and `limits` (default: the reference's)."""
        features = replace(KIND_FEATURES["reference"], token_auth=auth)
        if registry_deletes or not auth:
            features = replace(features, manifest_delete=True, blob_delete=True, tag_delete=True)
        if not auth:
            # without the auth layer there are no tokens, no packages API and no package pages, and
            # /v2 deletes work: the plain OCI registry
            features = replace(features, packages_api="none", package_pages=False)
        if not auth or registry_deletes:
            features = replace(features, manifest_delete=True, blob_delete=True, tag_delete=True)
        return cls(
            name=name,
            kind="reference",
            url=url.rstrip("/"),
            namespace=namespace,
            limits=KIND_LIMITS["reference"] if limits is None else limits,
            features=features,
            roles=dict(roles),
        )


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


def _parse(text: str, suffix: str, where: str) -> Table:
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

    def table(self, document: Table, key: str, required: bool = False) -> Table:
        value = document.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(key, "missing (required section)")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table/mapping, got {_shown(value)}")
        return value

    def known(self, table: Table, prefix: str, allowed: tuple[str, ...] | list[str]) -> None:
        for key in table:
            if key not in allowed:
                hint = ""
                if key.lower() in SECRET_KEYS:
                    hint = " (secrets never go in the file: use password_env or docker_config)"
                raise self.fail(
                    f"{prefix}.{key}" if prefix else key, f"unknown key{hint}; allowed: {', '.join(allowed)}"
                )

    def string(self, table: Table, prefix: str, key: str, required: bool = False) -> str | None:
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
        table: Table,
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

    def integer(self, table: Table, prefix: str, key: str) -> int | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{prefix}.{key}", f"expected an integer, got {_shown(value)}")
        if value <= 0:
            raise self.fail(f"{prefix}.{key}", f"expected a positive integer, got {value}")
        return value

    def seconds(self, table: Table, prefix: str, key: str) -> float | None:
        """A positive number of seconds (an integer stays one, so "600 s" reads as written)."""
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{prefix}.{key}", f"expected a number of seconds, got {_shown(value)}")
        if not value > 0 or value == float("inf"):
            raise self.fail(f"{prefix}.{key}", f"expected a positive number of seconds, got {value}")
        return value

    def boolean(self, table: Table, prefix: str, key: str) -> bool | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{prefix}.{key}", f"expected true or false, got {_shown(value)}")
        return value

    def choice(self, table: Table, prefix: str, key: str) -> str | None:
        value = self.string(table, prefix, key)
        if value is not None and value not in CHOICES[key]:
            raise self.fail(f"{prefix}.{key}", f"expected one of {', '.join(CHOICES[key])}, got {value!r}")
        return value

    # ---- sections ----
    def profile(self, document: Table) -> TargetProfile:
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
            limits=self.limits(self.table(document, "limits"), KIND_LIMITS[kind]),
            features=self.features(self.table(document, "features"), KIND_FEATURES[kind]),
            read_only=self.read_only(document),
            roles=self.roles(self.table(document, "credentials"), parts.netloc),
            tls_verify=True if tls_verify is None else tls_verify,
            source=self.where,
        )

    def limits(self, table: Table, preset: Limits) -> Limits:
        """[limits]: each key checked; the kind's preset is kept where the file says nothing."""
        self.known(table, "limits", Limits.names())
        p = "limits"
        return Limits(
            max_layer_bytes=_or(self.integer(table, p, "max_layer_bytes"), preset.max_layer_bytes),
            upload_expiry_seconds=_or(
                self.seconds(table, p, "upload_expiry_seconds"), preset.upload_expiry_seconds
            ),
            upload_expiry_from=_or(self.choice(table, p, "upload_expiry_from"), preset.upload_expiry_from),
            max_manifest_bytes=_or(self.integer(table, p, "max_manifest_bytes"), preset.max_manifest_bytes),
            label_overflow=_or(self.choice(table, p, "label_overflow"), preset.label_overflow),
            description_max_chars=_or(
                self.integer(table, p, "description_max_chars"), preset.description_max_chars
            ),
            licenses_max_chars=_or(self.integer(table, p, "licenses_max_chars"), preset.licenses_max_chars),
        )

    def features(self, table: Table, preset: Features) -> Features:
        """[features]: each key checked; the kind's preset is kept where the file says nothing."""
        self.known(table, "features", Features.names())
        p = "features"
        return Features(
            token_auth=_or(self.boolean(table, p, "token_auth"), preset.token_auth),
            referrers_api=_or(self.boolean(table, p, "referrers_api"), preset.referrers_api),
            manifest_delete=_or(self.boolean(table, p, "manifest_delete"), preset.manifest_delete),
            blob_delete=_or(self.boolean(table, p, "blob_delete"), preset.blob_delete),
            tag_delete=_or(self.boolean(table, p, "tag_delete"), preset.tag_delete),
            automatic_crossmount=_or(
                self.boolean(table, p, "automatic_crossmount"), preset.automatic_crossmount
            ),
            single_post_upload=_or(self.boolean(table, p, "single_post_upload"), preset.single_post_upload),
            packages_api=_or(self.choice(table, p, "packages_api"), preset.packages_api),
            package_pages=_or(self.boolean(table, p, "package_pages"), preset.package_pages),
        )

    def read_only(self, document: Table) -> ReadOnlyContent | None:
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

    def roles(self, table: Table, host: str) -> dict[str, Role]:
        self.known(table, "credentials", [r for r in ROLES if r != "anonymous"])
        roles = {}
        for name in table:
            prefix = f"credentials.{name}"
            entry = self.table(table, prefix)
            self.known(entry, prefix, ROLE_KEYS)
            roles[name] = self.role(name, entry, prefix, host)
        return roles

    def role(self, name: str, entry: Table, prefix: str, host: str) -> Role:
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
        if docker_config:
            found, problem = _docker_config_credentials(Path(docker_config).expanduser(), host)
            if found is None:
                return Role(
                    name, unavailable=problem, namespace=namespace, source_repository=source_repository
                )
            user = username or (os.environ.get(username_env) if username_env else None) or found.username
            return Role(
                name,
                Credentials(user, found.password),
                namespace=namespace,
                source_repository=source_repository,
            )
        if username_env:
            username = os.environ.get(username_env)
            if not username:
                return Role(
                    name,
                    unavailable=f"environment variable {username_env} is not set",
                    namespace=namespace,
                    source_repository=source_repository,
                )
        password = os.environ.get(password_env or "")
        if not password:
            return Role(
                name,
                unavailable=f"environment variable {password_env} is not set",
                namespace=namespace,
                source_repository=source_repository,
            )
        # ghcr accepts any username with a PAT; registries with Basic realms need the right one
        return Role(
            name,
            Credentials(username or "keelhaul", password),
            namespace=namespace,
            source_repository=source_repository,
        )


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


def _or(found: _Value | None, preset: _Value) -> _Value:
    """What the file says, else the preset."""
    return preset if found is None else found


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
