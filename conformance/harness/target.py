"""The registry under test: a profile named with --target, or the embedded reference server.

Without --target the suite starts its own reference server (free port, temporary data directory)
with small limits so the limit checks run in seconds (8 MiB layers, 0.5 s upload expiry). When the
ghcr layer is available it runs with auth and credentials are minted for every role through the same
code path `keelhaul admin` uses. KEELHAUL_EMBEDDED_NO_AUTH=1 runs it without auth on purpose; a server or
auth layer that fails to start is an error, never a quiet fall-back to a smaller run. Where this
process can fork, the server runs in forked processes, one instance per lane (conformance/README.md,
"Run time"), launched by `keelhaul check` before pytest starts (LaunchedServer).
"""

from __future__ import annotations

import functools
import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from keelhaul.errors import UsageError
from keelhaul.profile import KIND_LIMITS, ROLES, Role, TargetProfile, load_profile

if TYPE_CHECKING:
    from reference_server.embedded import EmbeddedServer
    from reference_server.forked import ForkedServer

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
    data_dir: Path | None = None  # the embedded server's data folder (this lane's instance's)
    notes: list[str] = field(default_factory=list)
    # one embedded server instance per lane: (URL, data folder) of each
    instances: list[tuple[str, Path]] = field(default_factory=list)
    scratch: Path | None = None  # the folder holding every instance's data, removed at close

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def serve_lane(self, lane: int) -> None:
        """In lane `lane`'s process: talk to that lane's own instance of the embedded server, if it
        has instances per lane (a lane's checks then never wait behind another lane's requests)."""
        if self.instances:
            url, self.data_dir = self.instances[lane % len(self.instances)]
            self.profile = replace(self.profile, url=url)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = self.data_dir = None


def load_target(
    profile_path: str | None,
    given: TargetProfile | None = None,
    launched: LaunchedServer | None = None,
    lanes: int = 1,
) -> Target:
    """Resolve --target (the profile `given` already parsed from it, else the file), or the embedded
    reference server: the one `launched` before pytest started, else one started now (an instance
    per lane)."""
    if given is not None:
        return Target(profile=given)
    if profile_path:
        return Target(profile=load_profile(Path(profile_path)))
    return (launched or launch_embedded(lanes)).target()


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


def _provision(data_dir: Path) -> dict[str, Role]:
    """The profile roles' accounts and tokens, made where the server runs (see embedded_roles)."""
    from conformance.harness.embedded_roles import provision_roles

    return provision_roles(data_dir, EMBEDDED_NAMESPACE)


@dataclass(eq=False)  # a plugin must be hashable: identity
class LaunchedServer:
    """The embedded reference server on its way up: a pytest plugin object `keelhaul check` hands the
    harness, having launched the server before pytest imported anything, so the server's own start
    (its imports, its database, the roles' accounts) runs in its process while pytest starts in this
    one. `target()` waits for it; `close()` stops it and removes its data if nobody took it."""

    server: ForkedServer | EmbeddedServer
    scratch: Path  # the run's scratch folder: every instance's data folder is in it
    notes: list[str]
    taken: bool = False

    def target(self) -> Target:
        """The started server as the run's target (raises EmbeddedServerError when it did not start)."""
        from reference_server.forked import ForkedServer

        try:
            try:
                instances: list[tuple[str, Path]] = []
                if isinstance(self.server, ForkedServer):
                    url = self.server.wait()
                    roles: dict[str, Role] = self.server.prepared or {}
                    if self.server.copies:
                        folders = [self.server.config.data_dir, *self.server.copies]
                        instances = list(zip(self.server.urls, folders, strict=True))
                else:
                    url = self.server.start()
                    roles = _provision(self.server.config.data_dir) if self.server.config.auth else {}
            except ImportError as error:  # the known-good target must be good: never a quiet fall-back
                raise EmbeddedServerError(
                    f"ERROR: the embedded reference server's auth layer cannot start: {error}; "
                    "set KEELHAUL_EMBEDDED_NO_AUTH=1 to check it without auth on purpose"
                    if self.server.config.auth
                    else f"ERROR: the embedded reference server cannot start: {error}"
                ) from None
            except Exception as error:
                raise EmbeddedServerError(
                    f"ERROR: the embedded reference server failed to start: {type(error).__name__}: {error}"
                ) from None
        except BaseException:
            self.close()
            raise
        self.taken = True
        notes = list(self.notes)
        if instances:
            notes.append(
                f"embedded server: one instance per lane ({len(instances)}), each with its own accounts"
            )
        return Target(
            profile=self._profile(url, roles),
            server=self.server,
            data_dir=self.server.config.data_dir,
            notes=notes,
            instances=instances,
            scratch=self.scratch,
        )

    def _profile(self, url: str, roles: dict[str, Role]) -> TargetProfile:
        config = self.server.config
        limits = replace(
            KIND_LIMITS["reference"],
            max_layer_bytes=EMBEDDED_MAX_LAYER_BYTES,
            upload_expiry_seconds=EMBEDDED_UPLOAD_EXPIRY_SECONDS,
            upload_expiry_from="start",
            max_manifest_bytes=config.max_manifest_bytes,
        )
        if not config.auth:  # label limits live in the ghcr layer, which runs only with auth: none to declare
            limits = replace(limits, label_overflow=None, description_max_chars=None, licenses_max_chars=None)
        return TargetProfile.embedded(
            url,
            roles,
            limits,
            namespace=EMBEDDED_NAMESPACE,
            auth=config.auth,
            registry_deletes=config.registry_deletes,
        )

    def close(self) -> None:
        """Stop the server and remove its data, unless a Target took them (it does that itself)."""
        if not self.taken:
            self.server.stop()
            shutil.rmtree(self.scratch, ignore_errors=True)


def launch_embedded(lanes: int = 1) -> LaunchedServer:
    """Launch the reference server on a free port with a throw-away data directory: forked, where this
    process can fork safely (returning at once; with `lanes` > 1, one instance per lane, each serving
    its own copy of the accounts), else in a thread (started by `target()`)."""
    try:
        from reference_server.config import ServerConfig
        from reference_server.forked import ForkedServer
    except ModuleNotFoundError as missing:
        raise UsageError(
            f"no --target given and the embedded reference server is unavailable ({missing.name}); "
            "pass --target PROFILE"
        ) from None
    no_auth_reason = os.environ.get("KEELHAUL_EMBEDDED_NO_AUTH") and "KEELHAUL_EMBEDDED_NO_AUTH is set"
    auth = not no_auth_reason
    # test-only (tests/mutation): /v2 deletes with auth, so seeded delete defects stay observable
    registry_deletes = auth and bool(os.environ.get("KEELHAUL_EMBEDDED_REGISTRY_DELETES"))
    notes = []
    hooks = _embedded_test_hooks()
    if hooks:
        notes.append(f"embedded server runs with the test hook {os.environ[TEST_HOOK_VARIABLE]} (test-only)")
    if not auth:
        notes.append(f"embedded server runs without auth ({no_auth_reason}): auth checks skip")
    scratch = Path(tempfile.mkdtemp(prefix="keelhaul-check-", dir=scratch_root()))
    data_dir = scratch / "lane-0"
    data_dir.mkdir()
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
    server: ForkedServer | EmbeddedServer
    if ForkedServer.can_fork():  # its own process: checks here never wait for its turn to run
        prepare = functools.partial(_provision, data_dir) if auth else None
        copies = [scratch / f"lane-{lane}" for lane in range(1, lanes)]
        # the server's log (e.g. aiohttp's word on each malformed request the checks send) stays out of
        # the terminal, as pytest's capture kept it when the server ran in this process
        log_path = scratch / "server.log"
        server = ForkedServer(config, hooks=hooks, prepare=prepare, copies=copies, log_path=log_path)
        try:
            server.launch()
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    else:
        from reference_server.embedded import EmbeddedServer

        server = EmbeddedServer(config, hooks=hooks)
    return LaunchedServer(server, scratch, notes)


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
