"""The skip rules of the conformance harness (conformance.harness.selection)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.harness.selection import (
    Needs,
    RunOptions,
    decide,
    feature_enabled,
    role_usable,
    skip_reason,
    unknown_names,
)
from keelhaul.client import Credentials
from keelhaul.profile import Features, Limits, ReadOnlyContent, Role, TargetProfile


def profile(**changes) -> TargetProfile:
    base = TargetProfile(
        name="t",
        kind="generic",
        url="http://127.0.0.1:9",
        namespace="ns",
        limits=Limits(max_layer_bytes=10),
        features=Features(token_auth=True, referrers_api=True),
        roles={"writer": Role("writer", Credentials("w", "p"))},
    )
    return replace(base, **changes)


class Mark:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def reason(needs=None, prof=None, options=None, read_only=False, slow=False):
    return skip_reason(
        needs or Needs(),
        prof or profile(),
        options or RunOptions(),
        is_read_only_check=read_only,
        is_slow=slow,
    )


def test_a_check_with_everything_it_needs_runs():
    needs = Needs(features=("referrers_api",), roles=("writer",), limits=("max_layer_bytes",))
    assert reason(needs) is None


def test_missing_feature_skips_with_its_name():
    assert "feature 'tag_delete'" in reason(Needs(features=("tag_delete",)))


def test_feature_value_must_match():
    needs = Needs(feature_values={"packages_api": "github"})
    assert "packages_api = 'github'" in reason(needs)
    assert reason(needs, profile(features=Features(packages_api="github"))) is None


def test_missing_role_skips_on_a_target_with_auth():
    assert "role 'reader'" in reason(Needs(roles=("reader",)))


def test_any_role_acts_on_a_target_without_auth():
    open_target = profile(features=Features(token_auth=False), roles={})
    assert reason(Needs(roles=("reader", "writer")), open_target) is None
    assert role_usable(open_target, "admin")
    assert not role_usable(profile(), "admin")


def test_undeclared_limit_skips():
    assert "limit 'upload_expiry_seconds'" in reason(Needs(limits=("upload_expiry_seconds",)))


def test_slow_checks_need_run_slow():
    assert "--run-slow" in reason(slow=True)
    assert reason(slow=True, options=RunOptions(run_slow=True)) is None


def test_robustness_probes_are_opt_in():
    def decision(options):
        return decide(
            Needs(), profile(), options, is_read_only_check=False, is_slow=False, is_robustness=True
        )

    assert decision(RunOptions()) == ("SKIP", "opt-in: --robustness")
    assert decision(RunOptions(robustness=True)) is None


def test_read_only_run_skips_writing_checks_and_needs_content():
    read_only = RunOptions(read_only=True)
    assert "--read-only" in reason(options=read_only)
    assert "[read_only]" in reason(options=read_only, read_only=True)
    with_content = profile(read_only=ReadOnlyContent("library/alpine", "latest"))
    assert reason(options=read_only, read_only=True, prof=with_content) is None


def test_needs_merges_every_marker():
    needs = Needs.from_marks(
        [
            Mark("referrers_api", role="reader"),
            Mark("tag_delete", limit="max_layer_bytes", roles=("admin",), packages_api="github"),
        ]
    )
    assert needs.features == ("referrers_api", "tag_delete")
    assert needs.roles == ("reader", "admin")
    assert needs.limits == ("max_layer_bytes",)
    assert needs.feature_values == {"packages_api": "github"}


def test_misspelt_names_are_reported():
    needs = Needs(features=("referers_api",), limits=("max_layer",), feature_values={"pkg_api": "x"})
    assert unknown_names(needs) == [
        "feature 'referers_api'",
        "feature 'pkg_api'",
        "limit 'max_layer'",
    ]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(True, True), (False, False), ("github", True), ("none", False), ("", False), ("off", False)],
)
def test_feature_values(value, enabled):
    assert feature_enabled(value) is enabled
