"""`python -m keelhaul` runs the same entry point as the `keelhaul` command."""

import sys

from keelhaul.cli import main

sys.exit(main())
