"""`keelhaul serve`: run the reference registry in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from keelhaul.errors import UsageError
from reference_server.access import AccessPolicy, OpenAccess
from reference_server.allocator import keep_freed_memory, release_freed_memory
from reference_server.config import (
    DEFAULT_HEADER_TIMEOUT_SECONDS,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    DEFAULT_MANIFEST_BUFFER_BUDGET_BYTES,
    DEFAULT_MAX_LAYER_BYTES,
    DEFAULT_MAX_MANIFEST_BYTES,
    DEFAULT_UPLOAD_TIMEOUT_SECONDS,
    ServerConfig,
    default_data_dir,
)
from reference_server.embedded import READY_PREFIX, _format_url
from reference_server.http.app import AppHook, create_app
from reference_server.http.body_budget import MANIFEST_BUDGET_KEY
from reference_server.http.connections import raise_descriptor_limit
from reference_server.runtime import bound_port, make_runner, new_event_loop


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the reference registry (OCI distribution v1.1 + the ghcr.io model)",
        description="Run the reference registry in the foreground.",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:5000",
        metavar="HOST:PORT",
        help="default 127.0.0.1:5000; port 0 picks a free one",
    )
    parser.add_argument(
        "--data", default=None, metavar="DIR", help=f"data folder (default {default_data_dir()})"
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="plain OCI: everyone may pull, push and delete"
    )
    parser.add_argument(
        "--max-layer-size",
        default=str(DEFAULT_MAX_LAYER_BYTES),
        metavar="BYTES",
        help="per-blob limit (default 10 GB)",
    )
    parser.add_argument(
        "--upload-timeout",
        default=str(DEFAULT_UPLOAD_TIMEOUT_SECONDS),
        metavar="SECONDS",
        help="upload sessions expire this long after they start (default 600)",
    )
    parser.add_argument(
        "--max-manifest-size",
        default=str(DEFAULT_MAX_MANIFEST_BYTES),
        metavar="BYTES",
        help="largest manifest accepted (default 4 MiB)",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="base URL clients use (token realm), e.g. http://registry.example:5000",
    )
    parser.add_argument(
        "--registry-deletes",
        action="store_true",
        help="with auth: accept DELETE of manifests, tags, blobs and upload sessions on /v2 (ghcr.io"
        " answers 405 UNSUPPORTED and deletes only through its REST API; so does the default)",
    )
    parser.add_argument(
        "--no-direct-io",
        action="store_true",
        help="write uploads through the page cache instead of O_DIRECT (slower pushes here; for"
        " filesystems where buffered writes suit better)",
    )
    parser.add_argument(
        "--no-replay",
        action="store_true",
        help="answer every manifest read through the full request path, never from the replay of an"
        " identical earlier request (for comparisons; the replay is exact, see the README)",
    )
    parser.add_argument(
        "--manifest-buffer-budget",
        default=str(DEFAULT_MANIFEST_BUFFER_BUDGET_BYTES),
        metavar="BYTES",
        help="manifest bodies held in memory at once, all requests together; beyond it 503 (default 32 MiB)",
    )
    parser.add_argument(
        "--header-timeout",
        default=str(DEFAULT_HEADER_TIMEOUT_SECONDS),
        metavar="SECONDS",
        help="a request's line and headers must arrive within this, else 408 (default 20)",
    )
    parser.add_argument(
        "--idle-timeout",
        default=str(DEFAULT_IDLE_TIMEOUT_SECONDS),
        metavar="SECONDS",
        help="close a keep-alive connection idle this long (default 60)",
    )
    parser.add_argument(
        "--max-connections",
        default=None,
        metavar="N",
        help="open connections in total before new ones get 503 (default: what the open-file limit"
        " allows, at most 4096)",
    )
    parser.add_argument(
        "--max-connections-per-address",
        default=None,
        metavar="N",
        help="open connections from one client address (default: a quarter of the total)",
    )
    parser.set_defaults(run=run)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise UsageError(f"--listen must be HOST:PORT, got {value!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen port must be 0-65535, got {port_text!r}")
    return host, int(port_text)


def _positive(value: str, flag: str, kind: type[int] | type[float] = int) -> int | float:
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(
            f"{flag} must be a positive {'integer' if kind is int else 'number'}, got {value!r}"
        ) from None
    if not number > 0 or number != number:  # rejects 0, negatives, NaN
        raise UsageError(f"{flag} must be positive, got {value!r}")
    return number


def _optional_count(value: str | None, flag: str) -> int | None:
    return None if value is None else int(_positive(value, flag))


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    host, port = parse_listen(args.listen)
    public_url = args.public_url
    if public_url is not None and not public_url.startswith(("http://", "https://")):
        raise UsageError(f"--public-url must start with http:// or https://, got {public_url!r}")
    return ServerConfig(
        listen_host=host,
        listen_port=port,
        data_dir=Path(args.data) if args.data else default_data_dir(),
        auth=not args.no_auth,
        max_layer_bytes=int(_positive(args.max_layer_size, "--max-layer-size")),
        upload_timeout_seconds=float(_positive(args.upload_timeout, "--upload-timeout", float)),
        max_manifest_bytes=int(_positive(args.max_manifest_size, "--max-manifest-size")),
        public_url=public_url.rstrip("/") if public_url else None,
        registry_deletes=args.registry_deletes,
        direct_io=not args.no_direct_io,
        replay=not args.no_replay,
        manifest_buffer_budget_bytes=int(_positive(args.manifest_buffer_budget, "--manifest-buffer-budget")),
        header_timeout_seconds=float(_positive(args.header_timeout, "--header-timeout", float)),
        idle_timeout_seconds=float(_positive(args.idle_timeout, "--idle-timeout", float)),
        max_connections=_optional_count(args.max_connections, "--max-connections"),
        max_connections_per_address=_optional_count(
            args.max_connections_per_address, "--max-connections-per-address"
        ),
    )


def policy_for(config: ServerConfig) -> AccessPolicy[Any]:
    if not config.auth:
        return OpenAccess()
    try:
        from reference_server.ghcr import build_policy
    except ImportError:
        raise UsageError(
            "the authentication layer is not available in this install; pass --no-auth"
        ) from None
    return build_policy(config)


async def serve(config: ServerConfig, policy: AccessPolicy[Any], hooks: Sequence[AppHook] = ()) -> None:
    """Serve until SIGINT/SIGTERM. `hooks`: create_app's test hooks (tests/support launches a
    defective server this way); `keelhaul serve` passes none."""
    try:
        app = create_app(config, policy, hooks=hooks)
    except OSError as error:
        raise UsageError(f"cannot use data folder {config.data_dir}: {error.strerror or error}") from None
    # After a burst of manifest bodies, hand the freed heap back (allocator.py keeps it otherwise).
    app[MANIFEST_BUDGET_KEY].on_drained = release_freed_memory
    runner = make_runner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.listen_host, config.listen_port)
        try:
            await site.start()
        except OSError as error:
            raise UsageError(
                f"cannot listen on {config.listen_host}:{config.listen_port}: {error.strerror or error}"
            ) from None
        url = _format_url(config.listen_host, bound_port(runner))
        auth = "ghcr.io model" if config.auth else "off (--no-auth)"
        print(f"{READY_PREFIX}{url} (data: {config.data_dir}, auth: {auth})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace, hooks: Sequence[AppHook] = ()) -> int:
    config = config_from_args(args)
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create data folder {config.data_dir}: {error.strerror or error}") from None
    policy = policy_for(config)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    raise_descriptor_limit()  # before the connection caps are fitted under it
    keep_freed_memory()  # fewer page faults per upload request; see allocator.py
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(config, policy, hooks))
    finally:
        loop.close()
    return 0
