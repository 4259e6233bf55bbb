"""Which checks a target can run: the metadata-driven skip decision (test262 style).

A check declares what it needs with markers; this module alone decides, from the target profile
and the run options, whether it runs. A check whose prerequisite is missing is skipped with the
reason (never passed), so the report says exactly why it did not run.

Markers (registered by the harness):
- ``req("ID", ...)``: requirement IDs the check verifies (must exist in requirements.toml).
- ``needs("feature", ..., role=..., roles=(...), limit=..., limits=(...), **feature_values)``:
  profile features that must be enabled (``[features]``; a string value of "none" or "" counts as
  absent; ``packages_api="github"`` demands that exact value), credential roles that must be
  usable (configured, or any role on a target without auth), and ``[limits]`` entries that must be declared.
- ``lacks("feature", ...)``: the check is "how a registry without X must answer"; it is N/A when the
  profile declares X present.
- ``read_only``: the check only reads content the profile names, so it may run with --read-only.
  Every other check writes and is skipped in a read-only run.
- ``slow``: runs only with --run-slow.
- ``robustness``: an opt-in robustness probe (conformance/robustness); runs only with --robustness.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytest

from keelhaul.profile import Features, Limits, TargetProfile

MARKERS = {
    "req": "req(*ids): requirement IDs (requirements.toml) this check verifies",
    "needs": "needs(*features, role=, roles=, limit=, limits=, **values): target prerequisites",
    "lacks": "lacks(*features): the check is for registries without these features (N/A otherwise)",
    "read_only": "read_only: check only reads the profile's [read_only] content; allowed with --read-only",
    "slow": "slow: long-running (real 10 GB / 600 s variants); run with --run-slow",
    "robustness": "robustness: opt-in probe (slow clients, Range edges, cost, races); run with --robustness",
    "alone": "alone: runs while no other check runs (checks otherwise run concurrently in workers)",
}


@dataclass(frozen=True)
class Needs:
    """Everything one check requires of the target, merged over all its `needs` markers."""

    features: tuple[str, ...] = ()
    feature_values: Mapping[str, object] = field(default_factory=dict)
    roles: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()

    @classmethod
    def from_marks(cls, marks: Iterable[pytest.Mark], lacks: Iterable[pytest.Mark] = ()) -> Needs:
        features: list[str] = []
        values: dict[str, object] = {}
        roles: list[str] = []
        limits: list[str] = []
        for mark in marks:
            features.extend(mark.args)
            kwargs = dict(mark.kwargs)
            for key, target in (("role", roles), ("limit", limits)):
                if kwargs.get(key) is not None:
                    target.append(kwargs.pop(key))
                else:
                    kwargs.pop(key, None)
            roles.extend(kwargs.pop("roles", ()))
            limits.extend(kwargs.pop("limits", ()))
            values.update(kwargs)
        absent = tuple(name for mark in lacks for name in mark.args)
        return cls(tuple(features), values, tuple(roles), tuple(limits), absent)


@dataclass(frozen=True)
class RunOptions:
    """The command-line switches that change what runs."""

    read_only: bool = False
    run_slow: bool = False
    robustness: bool = False
    robustness_connections: int = 32  # sockets a robustness probe may hold open at once
    robustness_budget: float = 120.0  # seconds a slow-header or idle connection may stay open


def feature_enabled(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "none", "false", "no", "off")
    return bool(value)


def role_usable(profile: TargetProfile, role: str) -> bool:
    """A role can act when its credentials are available, or when the target has no auth at all
    (then everyone is everyone: checks that need identities to differ also need "token_auth")."""
    return profile.has_role(role) or not profile.features.token_auth


def unknown_names(needs: Needs) -> list[str]:
    """Feature/limit names that the profile model does not have at all: typos in a check."""
    problems = []
    for name in (*needs.features, *needs.feature_values, *needs.absent):
        if name not in Features.names():
            problems.append(f"feature {name!r}")
    for name in needs.limits:
        if name not in Limits.names():
            problems.append(f"limit {name!r}")
    return problems


# Which target kinds claim a product's documented promises (the reference server models ghcr.io).
PRODUCT_KINDS = {"ghcr.io": ("ghcr", "reference")}
NOT_APPLICABLE, SKIPPED = "N/A", "SKIP"


def product_applies(product: str, profile: TargetProfile) -> bool:
    return profile.kind in PRODUCT_KINDS.get(product, ())


def decide(
    needs: Needs,
    profile: TargetProfile,
    options: RunOptions,
    *,
    is_read_only_check: bool,
    is_slow: bool,
    products: tuple[str, ...] = (),
    is_robustness: bool = False,
) -> tuple[str, str] | None:
    """(class, reason) when this check does not run against `profile`, None when it runs.
    N/A: the requirement does not apply (feature declared absent or present for a `lacks` check, a
    limit the target does not have, another product's promise). SKIP: this run cannot decide it
    (no credentials for a role, --read-only, a slow check without --run-slow, a robustness probe
    without --robustness)."""
    if products and not any(product_applies(product, profile) for product in products):
        return NOT_APPLICABLE, (
            f"a documented promise of {', '.join(sorted(set(products)))}; "
            f"target kind {profile.kind!r} does not claim that product"
        )
    for name in needs.features:
        if not feature_enabled(profile.features.value(name)):
            return NOT_APPLICABLE, f"target profile declares feature {name!r} absent ([features])"
    for name in needs.absent:
        if feature_enabled(profile.features.value(name)):
            return NOT_APPLICABLE, (
                f"target profile declares feature {name!r} present; this check is for registries without it"
            )
    for name, wanted in needs.feature_values.items():
        actual = profile.features.value(name)
        if actual != wanted:
            return NOT_APPLICABLE, f"needs feature {name} = {wanted!r}; target profile has {actual!r}"
    for name in needs.limits:
        if profile.limits.value(name) is None:
            return NOT_APPLICABLE, f"target profile declares no limit {name!r} ([limits])"
    if is_slow and not options.run_slow:
        return SKIPPED, "slow check (real-size limits); run with --run-slow"
    if is_robustness and not options.robustness:
        return SKIPPED, "opt-in: --robustness"
    if options.read_only:
        if not is_read_only_check:
            return SKIPPED, "writes to the registry; skipped in a --read-only run"
        if profile.read_only is None:
            return SKIPPED, "--read-only run but the profile names no [read_only] content"
    for role in needs.roles:
        if not role_usable(profile, role):
            return (
                SKIPPED,
                f"target profile has no usable credentials for role {role!r} ([credentials.{role}])",
            )
    return None


def skip_reason(
    needs: Needs,
    profile: TargetProfile,
    options: RunOptions,
    *,
    is_read_only_check: bool,
    is_slow: bool,
) -> str | None:
    """The reason this check does not run against `profile` (see decide), or None when it runs."""
    decision = decide(needs, profile, options, is_read_only_check=is_read_only_check, is_slow=is_slow)
    return decision[1] if decision else None
