"""Checks on what was collected: every check names catalogued requirements and known prerequisites,
skips are decided from its markers (selection.py), and the target is reached once before any check."""

from __future__ import annotations

import httpx
import pytest

from conformance.harness.selection import Needs, decide, unknown_names
from conformance.harness.state import SKIP_CLASS, HarnessState, harness_state

NETWORK_FIXTURES = frozenset({"client_for", "session_repo"})  # every registry client comes from these


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = harness_state(config)
    problems = []
    for item in items:
        ids = requirement_ids(item)
        if not ids:
            problems.append(f'{item.nodeid}: names no requirement (add @pytest.mark.req("ID"))')
        for unknown in state.catalogue.unknown(ids):
            problems.append(f"{item.nodeid}: requirement {unknown} is not in requirements.toml")
        for requirement_id in ids:
            item.user_properties.append(("requirement", requirement_id))
        if state.target is None:
            continue
        needs = Needs.from_marks(item.iter_markers("needs"), item.iter_markers("lacks"))
        unknown_needs = unknown_names(needs)
        problems += [f"{item.nodeid}: needs unknown {name}" for name in unknown_needs]
        if unknown_needs or state.catalogue.unknown(ids):
            continue
        products = tuple(state.catalogue[i].product or "" for i in ids)
        decision = decide(
            needs,
            state.target.profile,
            state.options,
            is_read_only_check=item.get_closest_marker("read_only") is not None,
            is_slow=item.get_closest_marker("slow") is not None,
            is_robustness=item.get_closest_marker("robustness") is not None,
            products=products if all(products) else (),
        )
        if decision:
            item.stash[SKIP_CLASS] = decision[0]
            item.add_marker(pytest.mark.skip(reason=decision[1]))
    if problems:
        raise pytest.UsageError("bad check metadata:\n  " + "\n  ".join(problems))
    if state.target is not None and any(_talks_to_registry(item) for item in items):
        preflight(state)


def requirement_ids(item: pytest.Item) -> list[str]:
    """The IDs of every `req` marker on the check, in order."""
    return [i for mark in item.iter_markers("req") for i in mark.args]


def _talks_to_registry(item: pytest.Item) -> bool:
    uses = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("skip") is None and bool(NETWORK_FIXTURES & uses)


def preflight(state: HarnessState) -> None:
    """One GET /v2/ before any check: an unreachable target is one line, not a traceback per check."""
    assert state.target is not None
    url = state.target.profile.url
    probe = httpx.Client(transport=state.transport, timeout=10)  # not closed: that would close the pool
    try:
        probe.get(f"{url}/v2/")
    except httpx.TransportError as error:
        reason = f"{type(error).__name__}: {error}"
        raise pytest.UsageError(f"cannot reach the target at {url}: {reason}") from None
