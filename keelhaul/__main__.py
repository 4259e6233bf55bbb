"""`python -m keelhaul` runs the same entry point as the `keelhaul` command."""

from keelhaul.cli import run

run()
