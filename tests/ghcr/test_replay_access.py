"""The replay of repeated manifest reads (reference_server/http/replay.py) under the ghcr.io model:
a revoked token, a package made private, or credentials that expire end it at the very next request,
exactly as the full request path would decide."""

from __future__ import annotations

import base64
import time

import pytest

from keelhaul.client.images import sample_image
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
    for name in ("alice/replay-private", "alice/replay-public"):
        assert world.push("owner", name, "v1", sample_image(name)).status_code == 201
    world.admin.set_visibility("alice/replay-public", "public")
    return world


def reads(connection: RawConnection, path: str, *headers: str, count: int = 3) -> list[int]:
    return [connection.exchange("GET", path, ACCEPT, *headers).status for _ in range(count)]


def test_a_revoked_token_is_refused_at_the_next_request(pushed: World) -> None:
    world, replay = pushed, replay_of(pushed)
    token = world.admin.create_token("alice", ["read:packages"]).token
    world.tokens["replay-reader"] = token
    bearer = world.bearer("replay-reader", "repository:alice/replay-private:pull")
    with RawConnection(world.url) as connection:
        before = replay.replayed
        path = "/v2/alice/replay-private/manifests/v1"
        assert reads(connection, path, f"Authorization: Bearer {bearer}") == [200] * 3
        assert replay.replayed - before == 2
        world.admin.revoke_token(token)  # through the admin's own store, as `keelhaul admin` does
        assert reads(connection, path, f"Authorization: Bearer {bearer}", count=2) == [401] * 2


def test_a_package_made_private_is_refused_to_anonymous_readers_at_once(pushed: World) -> None:
    world, replay = pushed, replay_of(pushed)
    bearer = world.bearer("anonymous", "repository:alice/replay-public:pull")
    with RawConnection(world.url) as connection:
        before = replay.replayed
        path = "/v2/alice/replay-public/manifests/v1"
        assert reads(connection, path, f"Authorization: Bearer {bearer}") == [200] * 3
        assert replay.replayed - before == 2
        world.admin.set_visibility("alice/replay-public", "private")
        try:
            assert reads(connection, path, f"Authorization: Bearer {bearer}", count=2) == [401] * 2
        finally:
            world.admin.set_visibility("alice/replay-public", "public")


def test_credentials_that_expire_end_the_replay_when_they_do(pushed: World) -> None:
    world, replay = pushed, replay_of(pushed)
    lifetime = 2
    token = world.admin.create_token("alice", ["read:packages"], expires_in=lifetime).token
    expires_at = time.time() + lifetime
    direct = base64.b64encode(f"alice:{token}".encode()).decode()  # Bearer base64(user:PAT)
    with RawConnection(world.url) as connection:
        before = replay.replayed
        path = "/v2/alice/replay-private/manifests/v1"
        assert reads(connection, path, f"Authorization: Bearer {direct}") == [200] * 3
        assert replay.replayed - before == 2
        time.sleep(max(0.0, expires_at - time.time()) + 0.1)
        assert reads(connection, path, f"Authorization: Bearer {direct}", count=1) == [401]


def test_a_token_is_replayed_only_until_its_own_expiry(pushed: World) -> None:
    """A registry JWT's answers hold until its `exp` plus the verifier's leeway, never longer."""
    from reference_server.ghcr.auth.signing import LEEWAY_SECONDS
    from reference_server.ghcr.policy import GhcrPolicy

    policy = pushed.policy
    assert isinstance(policy, GhcrPolicy)
    bearer = pushed.bearer("reader", "repository:alice/replay-private:pull")
    claims = policy.signer.verify(bearer, audience=pushed.url.split("//", 1)[1], use="access")
    with RawConnection(pushed.url) as connection:
        assert reads(connection, "/v2/alice/replay-private/manifests/v1", f"Authorization: Bearer {bearer}")
    (entry,) = [
        entry
        for request, entry in replay_of(pushed)._entries.items()
        if f"Bearer {bearer}".encode() in request
    ]
    assert entry.valid_until == claims["exp"] + LEEWAY_SECONDS
