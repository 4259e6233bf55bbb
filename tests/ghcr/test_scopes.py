"""Docker scope grammar: parsing never fails, merges duplicates, keeps host:port names whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reference_server.ghcr.auth.scopes import MAX_SCOPE_LENGTH, Scope, parse_scope, parse_scopes


def test_examples() -> None:
    assert parse_scope("repository:alice/app:pull,push") == Scope(
        "repository", "alice/app", frozenset({"pull", "push"})
    )
    assert parse_scope("registry:catalog:*") == Scope("registry", "catalog", frozenset({"*"}))
    assert parse_scope("repository(plugin):a/b:pull") == Scope("repository", "a/b", frozenset({"pull"}))
    # a host:port inside the name: type split at the first colon, actions at the last
    assert parse_scope("repository:localhost:5000/a/b:pull").name == "localhost:5000/a/b"
    assert parse_scope("repository:a/b:") == Scope("repository", "a/b", frozenset())
    for bad in ("", "repository", "repository:a", "Repository:a/b:pull", "repository::pull", "x:a:PULL"):
        assert parse_scope(bad) is None
    assert parse_scope("repository:" + "a" * MAX_SCOPE_LENGTH + ":pull") is None


def test_repeated_and_space_joined_values_merge() -> None:
    merged = parse_scopes(["repository:a/b:pull", "repository:a/b:push repository:c/d:pull", "junk"])
    assert sorted((s.name, sorted(s.actions)) for s in merged) == [
        ("a/b", ["pull", "push"]),
        ("c/d", ["pull"]),
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=5))
def test_parsing_never_raises(values: list[str]) -> None:
    for scope in parse_scopes(values):
        assert scope.type and scope.name and all(isinstance(a, str) for a in scope.actions)
