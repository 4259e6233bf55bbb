"""The replay of repeated manifest reads (reference_server/http/replay.py) under the ghcr.io model:
a revoked token, a package made private, or credentials that expire end it at the very next request,
exactly as the full request path would decide."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest

from keelhaul.client.media_types import OCI_MANIFEST
from reference_server.http.app import REPLAY_KEY
from reference_server.http.replay import ReplayCache
from tests.support.raw_http import RawConnection

from .world import World

ACCEPT = f"Accept: {OCI_MANIFEST}"


def replay_of(world: World) -> ReplayCache:
    assert world.server.app is not None
    return world.server.app[REPLAY_KEY]


@pytest.fixture(scope="module")
def pushed(world: World) -> World:
    world.push_sample("alice/replay-private")
    world.push_sample("alice/replay-public", public=True)
    return world


def replayed_then_refused(world: World, path: str, bearer: str, change: Callable[[], object]) -> None:
    """Three identical reads with `bearer` are answered, the last two from the replay; right after
    `change`, the same read is refused (401), and again."""
    replay = replay_of(world)
    authorization = f"Authorization: Bearer {bearer}"
    with RawConnection(world.url) as connection:
        before = replay.replayed
        statuses = [connection.exchange("GET", path, ACCEPT, authorization).status for _ in range(3)]
        assert statuses == [200] * 3
        assert replay.replayed - before == 2
        change()
        statuses = [connection.exchange("GET", path, ACCEPT, authorization).status for _ in range(2)]
        assert statuses == [401] * 2


def test_a_revoked_token_is_refused_at_the_next_request(pushed: World) -> None:
    world = pushed
    token = world.admin.create_token("alice", ["read:packages"]).token
    world.tokens["replay-reader"] = token
    bearer = world.bearer("replay-reader", "repository:alice/replay-private:pull")
    # revoked through the admin's own store, as `keelhaul admin` does
    replayed_then_refused(
        world, "/v2/alice/replay-private/manifests/v1", bearer, lambda: world.admin.revoke_token(token)
    )


def test_a_package_made_private_is_refused_to_anonymous_readers_at_once(pushed: World) -> None:
    world = pushed
    bearer = world.bearer("anonymous", "repository:alice/replay-public:pull")
    try:
        replayed_then_refused(
            world,
            "/v2/alice/replay-public/manifests/v1",
            bearer,
            lambda: world.admin.set_visibility("alice/replay-public", "private"),
        )
    finally:
        world.admin.set_visibility("alice/replay-public", "public")


def test_credentials_that_expire_end_the_replay_when_they_do(pushed: World) -> None:
    lifetime = 2
    token = pushed.admin.create_token("alice", ["read:packages"], expires_in=lifetime).token
    expires_at = time.time() + lifetime
    direct = base64.b64encode(f"alice:{token}".encode()).decode()  # Bearer base64(user:PAT)
    replayed_then_refused(
        pushed,
        "/v2/alice/replay-private/manifests/v1",
        direct,
        lambda: time.sleep(max(0.0, expires_at - time.time()) + 0.1),
    )


def test_a_token_is_replayed_only_until_its_own_expiry(pushed: World) -> None:
    """A registry JWT's answers hold until its `exp` plus the verifier's leeway, never longer."""
    from reference_server.ghcr.auth.signing import LEEWAY_SECONDS
    from reference_server.ghcr.policy import GhcrPolicy

    policy = pushed.policy
    assert isinstance(policy, GhcrPolicy)
    bearer = pushed.bearer("reader", "repository:alice/replay-private:pull")
    claims = policy.signer.verify(bearer, audience=pushed.url.split("//", 1)[1], use="access")
    path, authorization = "/v2/alice/replay-private/manifests/v1", f"Authorization: Bearer {bearer}"
    with RawConnection(pushed.url) as connection:
        # more than one read: an answer is kept only after it was sent, so the first alone may race
        statuses = [connection.exchange("GET", path, ACCEPT, authorization).status for _ in range(3)]
    assert statuses == [200] * 3
    (entry,) = [
        entry
        for request, entry in replay_of(pushed)._entries.items()
        if f"Bearer {bearer}".encode() in request
    ]
    assert entry.valid_until == claims["exp"] + LEEWAY_SECONDS
