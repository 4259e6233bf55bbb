"""Seeded defects for mutation testing: a test-only switch that makes the reference server break ONE
promise on purpose, so tests/mutation can prove the conformance suite notices.

Never on by default. `keelhaul serve --inject-defect NAME` or `ServerConfig(defect=NAME)`; an
unknown name is refused; the server logs loudly that it is defective. The catalogue (each defect, the
real bug it models and the requirement IDs it breaks) is in catalogue.py; how defects are injected
without editing the core is in hooks.py.
"""

from __future__ import annotations

import logging
from typing import Any

from .catalogue import DEFECTS, Defect
from .hooks import DefectWiringError, Injection

__all__ = ["DEFECTS", "Defect", "DefectWiringError", "UnknownDefect", "apply_defect", "check_name"]

log = logging.getLogger("reference_server.defects")


class UnknownDefect(ValueError):
    """The name is not in the catalogue."""


def check_name(name: str) -> Defect:
    """The defect called `name`, or UnknownDefect with a one-line message listing the known names."""
    found = DEFECTS.get(name)
    if found is None:
        raise UnknownDefect(f"unknown defect {name!r}; known: {', '.join(sorted(DEFECTS))}")
    return found


def apply_defect(name: str, app: Any, registry: Any) -> list[str]:
    """Inject defect `name` into this one application (before it starts); returns what changed."""
    chosen = check_name(name)
    injection = Injection(app=app, registry=registry, policy=registry.policy)
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
