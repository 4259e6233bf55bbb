"""The registry under test: a profile named with --target, or the embedded reference server.

Without --target the suite starts its own reference server (free port, temporary data directory)
with small limits so the limit checks run in seconds (8 MiB layers, 0.5 s upload expiry). When the
ghcr layer is available it runs with auth and credentials are minted for every role through the same
code path `keelhaul admin` uses. KEELHAUL_EMBEDDED_NO_AUTH=1 runs it without auth on purpose; a server or
auth layer that fails to start is an error, never a quiet fall-back to a smaller run.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

from keelhaul.errors import UsageError
from keelhaul.profile import KIND_LIMITS, ROLES, Role, TargetProfile, load_profile

# Small limits for the embedded server so LIM checks run fast in CI; real-size variants are `slow`.
EMBEDDED_MAX_LAYER_BYTES = 8 * 1024 * 1024
# The expiry check waits about 0.65 s, not the real 10 min. Not shorter: the check must open two
# sessions and send a chunk within 60% of it, and CI machines stall for tenths of a second.
EMBEDDED_UPLOAD_EXPIRY_SECONDS = 0.5
EMBEDDED_HEADER_TIMEOUT_SECONDS = 3.0  # --robustness: the slow-header probe sees the cut-off in seconds
EMBEDDED_IDLE_TIMEOUT_SECONDS = 5.0  # --robustness: the idle probe sees the close in seconds
EMBEDDED_NAMESPACE = "keelhaul-ci"
TEST_HOOK_VARIABLE = "KEELHAUL_EMBEDDED_HOOK"


class EmbeddedServerError(UsageError):
    """The embedded reference server (or its auth layer) failed to start: the run is an ERROR."""


class RunningServer(Protocol):
    """The embedded reference server, as far as the harness needs it."""

    def stop(self) -> None: ...


@dataclass(frozen=True, eq=False)  # a plugin must be hashable: identity, not the profile's fields
class GivenProfile:
    """A pytest plugin object carrying a profile its caller already parsed (`keelhaul check` checks
    the file before pytest starts), so the harness does not read the file a second time."""

    profile: TargetProfile


@dataclass
class Target:
    """A resolved target: its profile, plus the embedded server to stop when we started one."""

    profile: TargetProfile
    server: RunningServer | None = None
    data_dir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None


def load_target(profile_path: str | None, given: TargetProfile | None = None) -> Target:
    """Resolve --target (the profile `given` already parsed from it, else the file) or start the
    embedded reference server."""
    if given is not None:
        return Target(profile=given)
    if profile_path:
        return Target(profile=load_profile(Path(profile_path)))
    return start_embedded()


def _auth_available() -> str | None:
    """None when the ghcr layer (policy + admin) can be used, else why not."""
    for module in ("reference_server.ghcr.policy", "reference_server.ghcr.admin"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            return f"{module} unavailable ({error})"
    return None


def _embedded_test_hooks() -> list[Callable[..., None]]:
    """Test-only: $KEELHAUL_EMBEDDED_HOOK names a `module:function` hook for the embedded server's
    create_app (tests/mutation injects seeded defects this way); nothing when unset."""
    spec = os.environ.get(TEST_HOOK_VARIABLE)
    if not spec:
        return []
    module_name, _, attribute = spec.partition(":")
    try:
        return [getattr(importlib.import_module(module_name), attribute)]
    except (ImportError, AttributeError, ValueError) as error:
        raise UsageError(f"{TEST_HOOK_VARIABLE}={spec}: {error}") from None


MEMORY_FILESYSTEM = Path("/dev/shm")


def scratch_root() -> Path | None:
    """Where the embedded server's throw-away data directory goes: a memory filesystem when the
    machine has one, else the system's temporary folder (None). The directory is removed after the run,
    so the server's fsyncs (SQLite commits, directory entries) buy nothing here, and on a disk they
    were a third of the run's wall time; on tmpfs they return at once."""
    if os.name == "posix" and MEMORY_FILESYSTEM.is_dir() and os.access(MEMORY_FILESYSTEM, os.W_OK | os.X_OK):
        return MEMORY_FILESYSTEM
    return None


def start_embedded() -> Target:
    """Start the reference server on a free port with a throw-away data directory."""
    try:
        from reference_server.config import ServerConfig
        from reference_server.embedded import EmbeddedServer, ForkedServer
    except ModuleNotFoundError as missing:
        raise UsageError(
            f"no --target given and the embedded reference server is unavailable ({missing.name}); "
            "pass --target PROFILE"
        ) from None
    data_dir = Path(tempfile.mkdtemp(prefix="keelhaul-check-", dir=scratch_root()))
    no_auth_reason = os.environ.get("KEELHAUL_EMBEDDED_NO_AUTH") and "KEELHAUL_EMBEDDED_NO_AUTH is set"
    if not no_auth_reason:
        broken = _auth_available()
        if broken:  # the known-good target must be good: never a quiet fall-back to a smaller run
            shutil.rmtree(data_dir, ignore_errors=True)
            raise EmbeddedServerError(
                f"ERROR: the embedded reference server's auth layer cannot start: {broken}; "
                "set KEELHAUL_EMBEDDED_NO_AUTH=1 to check it without auth on purpose"
            )
    auth = not no_auth_reason
    # test-only (tests/mutation): /v2 deletes with auth, so seeded delete defects stay observable
    registry_deletes = auth and bool(os.environ.get("KEELHAUL_EMBEDDED_REGISTRY_DELETES"))
    config = ServerConfig(
        listen_host="127.0.0.1",
        listen_port=0,
        data_dir=data_dir,
        auth=auth,
        max_layer_bytes=EMBEDDED_MAX_LAYER_BYTES,
        upload_timeout_seconds=EMBEDDED_UPLOAD_EXPIRY_SECONDS,
        registry_deletes=registry_deletes,
        # short connection deadlines, so --robustness's slow-header and idle probes end in seconds
        # (the idle deadline stays above the header one: aiohttp's idle timer also runs from the start)
        header_timeout_seconds=EMBEDDED_HEADER_TIMEOUT_SECONDS,
        idle_timeout_seconds=EMBEDDED_IDLE_TIMEOUT_SECONDS,
    )
    notes = []
    hooks = _embedded_test_hooks()
    if hooks:
        notes.append(f"embedded server runs with the test hook {os.environ[TEST_HOOK_VARIABLE]} (test-only)")
    # its own process where that is safe, so checks in this process never wait for its turn to run
    server = (ForkedServer if ForkedServer.can_fork() else EmbeddedServer)(config, hooks=hooks)
    try:
        try:
            url = server.start()
        except Exception as error:
            raise EmbeddedServerError(
                f"ERROR: the embedded reference server failed to start: {type(error).__name__}: {error}"
            ) from None
        roles: dict[str, Role] = {}
        if auth:
            from conformance.harness.embedded_roles import provision_roles

            roles = provision_roles(data_dir, EMBEDDED_NAMESPACE)
        else:
            notes.append(f"embedded server runs without auth ({no_auth_reason}): auth checks skip")
        limits = replace(
            KIND_LIMITS["reference"],
            max_layer_bytes=EMBEDDED_MAX_LAYER_BYTES,
            upload_expiry_seconds=EMBEDDED_UPLOAD_EXPIRY_SECONDS,
            upload_expiry_from="start",
            max_manifest_bytes=config.max_manifest_bytes,
        )
        if not auth:  # label limits live in the ghcr layer, which runs only with auth: none to declare
            limits = replace(limits, label_overflow=None, description_max_chars=None, licenses_max_chars=None)
        profile = TargetProfile.embedded(
            url,
            roles,
            limits,
            namespace=EMBEDDED_NAMESPACE,
            auth=auth,
            registry_deletes=registry_deletes,
        )
    except BaseException:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return Target(profile=profile, server=server, data_dir=data_dir, notes=notes)


def describe_target(target: Target) -> dict[str, object]:
    """What a report says about the target: names and declarations, never credentials."""
    profile = target.profile
    return {
        "name": profile.name,
        "kind": profile.kind,
        "url": profile.url,
        "namespace": profile.namespace,
        "embedded": target.embedded,
        "roles": [role for role in ROLES if role != "anonymous" and profile.has_role(role)],
        "features": asdict(profile.features),
        "limits": asdict(profile.limits),
        "notes": list(target.notes),
    }
