"""`keelhaul serve` with one seeded defect, in its own process (test support, never installed).

    python tests/support/defective_server.py NAME [keelhaul serve options]

The shipped `keelhaul serve` has no way to load a defect; this launcher parses the same options and
hands the server the defect through create_app's test hook. Unknown names and a ghcr.io-only
defect with --no-auth are refused in one line, like any other bad option.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `tests.support`

from keelhaul.errors import UsageError
from reference_server import serve_cli
from tests.support.defects import UnknownDefect, check_name, defect_hook


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="defective_server", description=__doc__.splitlines()[0])
    parser.add_argument("defect", metavar="NAME", help="a name from tests/support/defects/catalogue.py")
    commands = parser.add_subparsers(dest="command")
    serve_cli.register(commands)  # the real `serve` options, reused as they are
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args([*arguments[:1], "serve", *arguments[1:]])
    try:
        try:
            defect = check_name(args.defect)
        except UnknownDefect as error:
            raise UsageError(str(error)) from None
        if defect.needs_auth and args.no_auth:
            raise UsageError(f"defect {defect.name} needs the ghcr.io model: drop --no-auth")
        return serve_cli.run(args, hooks=[defect_hook(defect.name)])
    except UsageError as error:
        print(f"defective_server: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
