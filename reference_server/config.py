"""The reference server's settings, shared by `keelhaul serve`, EmbeddedServer and ServerProcess."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_LAYER_BYTES = 10_000_000_000  # ghcr.io: "10 GB size limit for each layer"
DEFAULT_UPLOAD_TIMEOUT_SECONDS = 600  # ghcr.io: "10 minute timeout limit for uploads"
DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # spec: SHOULD accept at least 4 MB; distribution: 4 MiB
DEFAULT_MANIFEST_BUFFER_BUDGET_BYTES = 8 * DEFAULT_MAX_MANIFEST_BYTES  # all manifest bodies in memory at once
DEFAULT_HEADER_TIMEOUT_SECONDS = 20.0  # request line + headers, from the first byte (slow-loris)
DEFAULT_IDLE_TIMEOUT_SECONDS = 60.0  # a keep-alive connection with no request


def default_data_dir() -> Path:
    """Per-user data folder: $XDG_DATA_HOME/keelhaul/registry (~/.local/share/... when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "keelhaul" / "registry"


@dataclass
class ServerConfig:
    """What one registry instance needs to run. Upload expiry counts from the session's start."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 5000
    data_dir: Path = field(default_factory=default_data_dir)
    auth: bool = True
    max_layer_bytes: int = DEFAULT_MAX_LAYER_BYTES
    upload_timeout_seconds: float = DEFAULT_UPLOAD_TIMEOUT_SECONDS
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    manifest_buffer_budget_bytes: int = DEFAULT_MANIFEST_BUFFER_BUDGET_BYTES  # body_budget.py
    public_url: str | None = None
    # With auth, /v2 deletes (manifests, tags, blobs, upload sessions) answer 405 UNSUPPORTED as on
    # ghcr.io, where deletion goes through the REST API. True accepts them as the OCI spec
    # describes (for suites that exercise both). Without auth they always work (plain OCI).
    registry_deletes: bool = False
    # Upload data through O_DIRECT (half the CPU per pushed byte here), each block read back into the
    # page cache as it lands; False: through the page cache (for filesystems where that suits better).
    direct_io: bool = True
    # Connection hygiene (http/connections.py). None: fitted under the open-file limit.
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS
    idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    max_connections: int | None = None
    max_connections_per_address: int | None = None
    # Replay 200 answers to repeated identical manifest reads from memory (http/replay.py).
    replay: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        # One manifest of the largest accepted size must always fit.
        self.manifest_buffer_budget_bytes = max(self.manifest_buffer_budget_bytes, self.max_manifest_bytes)

    def to_cli_args(self) -> list[str]:
        """The `keelhaul serve` arguments that reproduce this configuration (for ServerProcess)."""
        args = [
            "--listen",
            f"{self.listen_host}:{self.listen_port}",
            "--data",
            str(self.data_dir),
            "--max-layer-size",
            str(self.max_layer_bytes),
            "--upload-timeout",
            str(self.upload_timeout_seconds),
            "--max-manifest-size",
            str(self.max_manifest_bytes),
        ]
        if self.manifest_buffer_budget_bytes != DEFAULT_MANIFEST_BUFFER_BUDGET_BYTES:
            args += ["--manifest-buffer-budget", str(self.manifest_buffer_budget_bytes)]
        if self.header_timeout_seconds != DEFAULT_HEADER_TIMEOUT_SECONDS:
            args += ["--header-timeout", str(self.header_timeout_seconds)]
        if self.idle_timeout_seconds != DEFAULT_IDLE_TIMEOUT_SECONDS:
            args += ["--idle-timeout", str(self.idle_timeout_seconds)]
        if self.max_connections is not None:
            args += ["--max-connections", str(self.max_connections)]
        if self.max_connections_per_address is not None:
            args += ["--max-connections-per-address", str(self.max_connections_per_address)]
        if not self.auth:
            args.append("--no-auth")
        if self.public_url:
            args += ["--public-url", self.public_url]
        if self.registry_deletes:
            args.append("--registry-deletes")
        if not self.direct_io:
            args.append("--no-direct-io")
        if not self.replay:
            args.append("--no-replay")
        return args
