"""The load suite's own Locust command-line options, and the settings a run reads from them.

They are registered through Locust's `init_command_line_parser` event, so they work the same under
`locust -f load/locustfile.py`, under `keelhaul load`, in the web UI's start form, and on workers
(the master sends custom options to its workers with every spawn message).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from keelhaul.errors import UsageError
from load.sizes import parse_size

DEFAULT_LAYER_SIZE = "1GiB"
DEFAULT_CHUNK_SIZE = "16MiB"
DEFAULT_MONOLITHIC_SIZE = "64MiB"
DEFAULT_PULL_BLOB_SIZE = "16MiB"
DEFAULT_IDLE_PROBES = "30,60,120,300,600,900"
DEFAULT_WEB_HOST = "127.0.0.1"
CONTENT_KINDS = ("unique", "shared-prefix")


def new_run_id() -> str:
    """Short, sortable, valid inside a repository name (lower-case letters and digits)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + format(os.getpid() % 1296, "02x")


def add_options(parser) -> None:  # type: ignore[no-untyped-def]
    """Listener for `events.init_command_line_parser`."""
    # Locust's web UI listens on every interface by default; a load generator's UI (which can start
    # a run against the configured registry) stays on loopback unless --web-host says otherwise.
    parser.set_defaults(web_host=DEFAULT_WEB_HOST)
    group = _WebFormGroup(parser.add_argument_group("keelhaul", "registry load scenarios (load)"))
    group.add_argument(
        "--keelhaul-profile",
        env_var="KEELHAUL_PROFILE",
        default="",
        help="target profile (TOML/YAML) with the URL, credentials by role and limits; "
        "without it, --host is used with no credentials",
    )
    group.add_argument(
        "--layer-size",
        env_var="KEELHAUL_LAYER_SIZE",
        default=DEFAULT_LAYER_SIZE,
        help="chunked upload layer size (1GiB, 10GB, ...)",
    )
    group.add_argument(
        "--chunk-size",
        env_var="KEELHAUL_CHUNK_SIZE",
        default=DEFAULT_CHUNK_SIZE,
        help="PATCH chunk size for chunked uploads",
    )
    group.add_argument(
        "--monolithic-size",
        env_var="KEELHAUL_MONOLITHIC_SIZE",
        default=DEFAULT_MONOLITHIC_SIZE,
        help="blob size of the monolithic-upload scenario",
    )
    group.add_argument(
        "--pull-blob-size",
        env_var="KEELHAUL_PULL_BLOB_SIZE",
        default=DEFAULT_PULL_BLOB_SIZE,
        help="layer size of the image the pull scenarios seed and pull",
    )
    group.add_argument(
        "--idle-probes",
        env_var="KEELHAUL_IDLE_PROBES",
        default=DEFAULT_IDLE_PROBES,
        help="comma-separated idle times in seconds after which the idle-upload probe "
        "checks whether an upload session still exists",
    )
    group.add_argument(
        "--seed",
        dest="keelhaul_seed",
        env_var="KEELHAUL_SEED",
        default="keelhaul",
        help="seed of the generated content (each layer adds its own suffix)",
    )
    group.add_argument(
        "--content",
        dest="keelhaul_content",
        env_var="KEELHAUL_CONTENT",
        choices=CONTENT_KINDS,
        default="unique",
        help="unique: every byte of every layer differs (each layer costs a SHA-256 pass, ~0.7 CPU s "
        "per GB, in a native thread); shared-prefix: layers of one size share all but their last "
        "MiB, so digests are nearly free and the generator's CPU goes to the wire (storage that "
        "deduplicates blocks would see the repeats)",
    )
    group.add_argument(
        "--run-id",
        dest="keelhaul_run_id",
        env_var="KEELHAUL_RUN_ID",
        default=new_run_id(),
        help="names this run's repositories: <namespace>/keelhaul-<run-id>-<n>",
    )
    group.add_argument(
        "--stop-after-bytes",
        env_var="KEELHAUL_STOP_AFTER_BYTES",
        default="0",
        help="stop the run gracefully once uploads committed this many bytes (0: no limit)",
    )
    group.add_argument(
        "--keelhaul-report-dir",
        env_var="KEELHAUL_REPORT_DIR",
        default="",
        help="write summary.json and uploads.csv here when the run ends",
    )
    group.add_argument(
        "--keelhaul-target-pid",
        env_var="KEELHAUL_TARGET_PID",
        type=int,
        default=None,
        include_in_web_ui=False,
        help="process id of the target when it runs on this machine (the embedded server): its "
        "memory is reported with the generator's",
    )
    group.add_argument(
        "--keep-data",
        action="store_true",
        default=False,
        env_var="KEELHAUL_KEEP_DATA",
        help="do not delete the blobs and manifests the run created",
    )


class _WebFormGroup:
    """An argument group whose options also appear in Locust's web UI start form.

    Locust puts an option in the form only when its parser's own add_argument marked it; an argument
    group's add_argument does not, so each option is marked here (include_in_web_ui=False keeps one
    out of the form)."""

    def __init__(self, group) -> None:  # type: ignore[no-untyped-def]
        self.group = group

    def add_argument(self, *args, include_in_web_ui: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        action = self.group.add_argument(*args, **kwargs)
        action.include_in_web_ui = include_in_web_ui
        action.is_secret = action.is_required = action.is_multiple = False
        return action


@dataclass(frozen=True)
class LoadSettings:
    """Parsed, validated option values; built lazily because workers get them from the master."""

    profile_path: str
    host: str
    layer_size: int
    chunk_size: int
    monolithic_size: int
    pull_blob_size: int
    idle_probes: tuple[float, ...]
    seed: str
    content: str
    run_id: str
    stop_after_bytes: int
    report_dir: str
    keep_data: bool

    @classmethod
    def from_environment(cls, environment) -> LoadSettings:  # type: ignore[no-untyped-def]
        options = environment.parsed_options
        if options is None:
            raise UsageError("the keelhaul locustfile needs Locust's parsed options")
        return cls.from_values(vars(options), host=environment.host or "")

    @classmethod
    def from_values(cls, values: dict[str, Any], host: str = "") -> LoadSettings:
        chunk_size = parse_size(values.get("chunk_size") or DEFAULT_CHUNK_SIZE, what="--chunk-size")
        if chunk_size <= 0:
            raise UsageError("--chunk-size must be positive")
        run_id = str(values.get("keelhaul_run_id") or new_run_id()).lower()
        if not run_id.isalnum():
            raise UsageError(f"--run-id must be lower-case letters and digits only: {run_id!r}")
        return cls(
            profile_path=str(values.get("keelhaul_profile") or ""),
            host=host or str(values.get("host") or ""),
            layer_size=parse_size(values.get("layer_size") or DEFAULT_LAYER_SIZE, what="--layer-size"),
            chunk_size=chunk_size,
            monolithic_size=parse_size(
                values.get("monolithic_size") or DEFAULT_MONOLITHIC_SIZE, what="--monolithic-size"
            ),
            pull_blob_size=parse_size(
                values.get("pull_blob_size") or DEFAULT_PULL_BLOB_SIZE, what="--pull-blob-size"
            ),
            idle_probes=parse_idle_probes(str(values.get("idle_probes") or DEFAULT_IDLE_PROBES)),
            seed=str(values.get("keelhaul_seed") or "keelhaul"),
            content=content_kind(str(values.get("keelhaul_content") or "unique")),
            run_id=run_id,
            stop_after_bytes=parse_size(values.get("stop_after_bytes") or "0", what="--stop-after-bytes"),
            report_dir=str(values.get("keelhaul_report_dir") or ""),
            keep_data=bool(values.get("keep_data")),
        )


def content_kind(text: str) -> str:
    if text not in CONTENT_KINDS:
        raise UsageError(f"--content: expected one of {', '.join(CONTENT_KINDS)}, got {text!r}")
    return text


def parse_idle_probes(text: str) -> tuple[float, ...]:
    try:
        probes = tuple(sorted(float(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise UsageError(f"--idle-probes: expected comma-separated seconds, got {text!r}") from None
    if not probes or any(p <= 0 for p in probes):
        raise UsageError(f"--idle-probes: expected positive seconds, got {text!r}")
    return probes
