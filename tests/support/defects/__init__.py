"""Seeded defects for mutation testing: test code that makes the reference server break ONE promise
on purpose, so tests/mutation can prove the conformance suite notices. Never part of the product
(tests/test_packaging.py checks the wheel).

A defect reaches a server only through the server's test hook on app creation
(`reference_server.http.app.create_app(config, policy, hooks=[defect_hook(NAME)])`), so the same
process can run a clean and a defective server side by side. Three ways to start one:
- in this process: `EmbeddedServer(config, hooks=[defect_hook(NAME)])`;
- in a child process: `python tests/support/defective_server.py NAME [keelhaul serve options]`;
- inside a conformance run: `KEELHAUL_EMBEDDED_HOOK=tests.support.defects:hook_from_environment` and
  `KEELHAUL_EMBEDDED_DEFECT=NAME`, with the repository root on PYTHONPATH (as tests/mutation does).
An unknown name is refused; a defective server logs loudly that it is defective. The catalogue
(each defect, the real bug it models and the requirement IDs it breaks) is in catalogue.py; how a
defect changes one application is in hooks.py.
"""

from __future__ import annotations

import logging
import os

from reference_server.http.app import AppHook, AppParts

from .catalogue import DEFECTS, Defect
from .hooks import DefectWiringError, Injection

__all__ = [
    "DEFECTS",
    "ENVIRONMENT_VARIABLE",
    "Defect",
    "DefectWiringError",
    "UnknownDefect",
    "apply_defect",
    "check_name",
    "defect_hook",
    "hook_from_environment",
]

ENVIRONMENT_VARIABLE = "KEELHAUL_EMBEDDED_DEFECT"

log = logging.getLogger("tests.support.defects")


class UnknownDefect(ValueError):
    """The name is not in the catalogue."""


def check_name(name: str) -> Defect:
    """The defect called `name`, or UnknownDefect with a one-line message listing the known names."""
    found = DEFECTS.get(name)
    if found is None:
        raise UnknownDefect(f"unknown defect {name!r}; known: {', '.join(sorted(DEFECTS))}")
    return found


def apply_defect(name: str, parts: AppParts) -> list[str]:
    """Inject defect `name` into this one application (before it starts); returns what changed."""
    chosen = check_name(name)
    injection = Injection.of(parts)
    chosen.inject(injection)
    banner = "!" * 20
    log.warning(
        "%s DEFECTIVE SERVER: injected defect %r (%s; breaks %s) %s",
        banner,
        name,
        chosen.summary,
        ", ".join(chosen.requirements),
        banner,
    )
    return injection.changes


def defect_hook(name: str) -> AppHook:
    """The create_app hook that injects defect `name`; the name is checked now, not at app creation."""
    check_name(name)

    def inject(parts: AppParts) -> None:
        apply_defect(name, parts)

    return inject


def hook_from_environment(parts: AppParts) -> None:
    """A create_app hook for runs that cannot pass hooks in code (the conformance harness's embedded
    server): injects the defect named by $KEELHAUL_EMBEDDED_DEFECT."""
    name = os.environ.get(ENVIRONMENT_VARIABLE)
    if not name:
        raise DefectWiringError(f"{ENVIRONMENT_VARIABLE} is not set")
    apply_defect(name, parts)
