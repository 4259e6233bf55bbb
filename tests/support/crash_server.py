"""`keelhaul serve` that kills itself (SIGKILL) at one step boundary of a manifest push (test support).

    python tests/support/crash_server.py POINT [keelhaul serve options]

POINT is where the server dies:
- `pending-noted`: a manifest PUT is noted in accounts.db, nothing is in registry.db yet;
- `registry-committed`: the manifest and tags are committed to registry.db, the package is not;
- `package-committed`: the package (and its grant) are committed too, the 201 is not sent;
- `package-trashed`: a package delete marked it deleted (with its trash copy) in accounts.db, the
  registry still has its data;
- `registry-deleted`: the registry's data of a deleted package is gone too, the 204 is not sent;
- `package-revived`: a package restore made it live in accounts.db, the registry has no data yet;
- `repository-restored`: the registry has its data back, the trash entry is not dropped yet;
- `version-delete-noted`: a version delete is noted in accounts.db, the registry still has it;
- `version-manifest-deleted`: the registry dropped the version, its trash copy is not written yet;
- `version-trashed`: the trash copy is written too, the 204 is not sent;
- `version-restore-noted`: a version restore is noted in accounts.db, the registry lacks it still;
- `version-manifest-restored`: the registry has the version back, its trash copy is not dropped;
- `version-untrashed`: the trash copy is dropped too, the 204 is not sent.
Like a kill -9 from outside, only at an exact place: the crash tests restart a normal server on
the same data folder and check that the push is whole or leaves no trace.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from reference_server import serve_cli
from reference_server.http.app import AppParts


def _die_after(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    return wrapped


def _die_instead(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)

    return wrapped


# POINT -> (whose step: the ghcr.io packages or the registry's metadata, the method, when to die)
CRASHES: dict[str, tuple[str, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = {
    "pending-noted": ("packages", "manifest_storing", _die_after),
    "registry-committed": ("metadata", "put_manifest", _die_after),
    "package-committed": ("packages", "manifest_stored", _die_after),
    "package-trashed": ("metadata", "delete_repository", _die_instead),
    "registry-deleted": ("metadata", "delete_repository", _die_after),
    "package-revived": ("metadata", "restore_repository", _die_instead),
    "repository-restored": ("metadata", "restore_repository", _die_after),
    "version-delete-noted": ("metadata", "delete_manifest", _die_instead),
    "version-manifest-deleted": ("metadata", "delete_manifest", _die_after),
    "version-trashed": ("packages", "delete_version", _die_after),
    "version-restore-noted": ("metadata", "restore_manifest", _die_instead),
    "version-manifest-restored": ("metadata", "restore_manifest", _die_after),
    "version-untrashed": ("packages", "restore_version", _die_after),
}
POINTS = tuple(CRASHES)


def crash_hook(point: str) -> Callable[[AppParts], None]:
    def install(parts: AppParts) -> None:
        packages = parts.policy.packages  # type: ignore[attr-defined]  # the ghcr.io model
        owners = {"packages": packages, "metadata": parts.registry.metadata}
        whose, method, when = CRASHES[point]
        setattr(owners[whose], method, when(getattr(owners[whose], method)))

    return install


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_server", description=__doc__.splitlines()[0])
    parser.add_argument("point", choices=POINTS)
    commands = parser.add_subparsers(dest="command")
    serve_cli.register(commands)
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args([*arguments[:1], "serve", *arguments[1:]])
    return serve_cli.run(args, hooks=[crash_hook(args.point)])


if __name__ == "__main__":
    sys.exit(main())
