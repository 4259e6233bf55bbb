"""The `keelhaul` command: one entry point whose subcommands each live beside the part they drive.

Each part (reference_server, conformance, load) exposes `register(subparsers)` in its own `cli`
module; this file only wires them together and turns expected failures into one-line messages.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from keelhaul import __version__
from keelhaul.errors import UsageError

# Modules that add subcommands; each has `register(subparsers) -> None`, and every parser it adds
# sets `run=<callable(args) -> int>` with `set_defaults`.
COMMAND_MODULES = (
    "reference_server.serve_cli",  # serve
    "reference_server.admin_cli",  # admin
    "conformance.cli",  # check, report
    "load.cli",  # load
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keelhaul",
        description="Conformance and load testing for container registries.",
    )
    parser.add_argument("--version", action="version", version=f"keelhaul {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            if missing.name != module_name:
                raise
            continue  # that part has no commands yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsageError as error:
        print(f"keelhaul: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
