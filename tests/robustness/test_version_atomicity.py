"""Deleting or restoring one package version is one outcome across registry.db and accounts.db
(issue 15, item 1).

The server is killed at every step boundary of a version delete (noted, manifest dropped from the
registry, trash copy written) and of a version restore (noted, manifest back, trash copy dropped),
by the deterministic hook of tests/support/crash_server.py, then restarted on the same data folder.
The version must then be wholly live (it pulls by digest and tag, the REST API lists it as active
only) or wholly deleted (nothing pulls, the REST API lists it as deleted only, and a restore brings
it back with its tag). Before the fix a kill after the registry dropped the manifest lost the
version: gone from the registry with no trash copy to restore, and listed nowhere."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from keelhaul.client.auth import Credentials
from keelhaul.client.images import push_image, sample_image
from keelhaul.client.registry import RegistryClient
from reference_server.config import ServerConfig
from reference_server.embedded import ServerProcess
from reference_server.ghcr.data.packages import version_id
from reference_server.ghcr.data.store import AccountsStore, accounts_path
from tests.robustness.test_push_atomicity import _kill_during, _rest, make_accounts

DELETE_POINTS = {  # where the server dies -> what the restart must show
    "version-delete-noted": "live",
    "version-manifest-deleted": "deleted",
    "version-trashed": "deleted",
}
RESTORE_POINTS = {
    "version-restore-noted": "deleted",
    "version-manifest-restored": "live",
    "version-untrashed": "live",
}


def _push_two_versions(url: str, token: str) -> str:
    """acme/app with v1 (returned: the version the test moves) and v2, so v1 may be deleted."""
    with RegistryClient(url, credentials=Credentials("alice", token)) as client:
        digest = push_image(client, "acme/app", "v1", sample_image("moved", layers=1))
        push_image(client, "acme/app", "v2", sample_image("stays", layers=1))
    return digest


def _listed(url: str, token: str, state: str) -> set[str]:
    response = _rest(url, token, "GET", f"app/versions?state={state}")
    assert response.status_code == 200, response.text
    return {version["name"] for version in response.json()}


def _state_of(url: str, token: str, digest: str) -> str:
    """'live' or 'deleted'; fails on anything in between."""
    with RegistryClient(url, credentials=Credentials("alice", token)) as client:
        by_digest = client.get_manifest("acme/app", digest).status_code
        by_tag = client.get_manifest("acme/app", "v1").status_code
    active, deleted = _listed(url, token, "active"), _listed(url, token, "deleted")
    if digest in active:
        assert digest not in deleted, "the version is listed both active and deleted"
        assert (by_digest, by_tag) == (200, 200), "a live version does not pull whole"
        return "live"
    assert digest in deleted, "the version is neither live nor restorable: it was lost"
    assert (by_digest, by_tag) == (404, 404), "a deleted version still pulls"
    return "deleted"


def _nothing_pending(data: Path) -> None:
    store = AccountsStore(accounts_path(data))
    try:
        assert store.version_moves() == [], "the restart left a version move half-done"
    finally:
        store.close()


def _server(data: Path) -> ServerProcess:
    return ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True))


@pytest.mark.parametrize("point", [*DELETE_POINTS, *RESTORE_POINTS])
def test_a_kill_inside_a_version_delete_or_restore_leaves_it_whole_either_way(
    tmp_path: Path, point: str
) -> None:
    data = tmp_path / "data"
    token = make_accounts(data)
    restoring = point in RESTORE_POINTS
    with _server(data) as server:
        assert server.url is not None
        digest = _push_two_versions(server.url, token)
        path = f"app/versions/{version_id(digest)}"
        if restoring:
            assert _rest(server.url, token, "DELETE", path).status_code == 204
            assert _state_of(server.url, token, digest) == "deleted"
    _kill_during(
        data, point, token, "POST" if restoring else "DELETE", path + ("/restore" if restoring else "")
    )
    with _server(data) as server:
        assert server.url is not None
        _nothing_pending(data)
        state = _state_of(server.url, token, digest)
        assert state == (RESTORE_POINTS if restoring else DELETE_POINTS)[point]
        if state == "deleted":  # restorable, with its tag
            assert _rest(server.url, token, "POST", path + "/restore").status_code == 204
        else:  # and deletable again
            assert _rest(server.url, token, "DELETE", path).status_code == 204
            assert _state_of(server.url, token, digest) == "deleted"
            assert _rest(server.url, token, "POST", path + "/restore").status_code == 204
        assert _state_of(server.url, token, digest) == "live"
        _nothing_pending(data)


def _move_until_cut(url: str, token: str, path: str, state: list[str], cut: list[str]) -> None:
    """Delete and restore the version at `path` in turn; `state[0]` is the last acknowledged state,
    `cut` gets the state a request wanted when the server died under it (or an unexpected answer)."""
    while True:
        wanted = "deleted" if state[0] == "live" else "live"
        method, suffix = ("DELETE", "") if wanted == "deleted" else ("POST", "/restore")
        try:
            answer = _rest(url, token, method, path + suffix)
        except httpx.HTTPError:
            cut.append(wanted)
            return
        if answer.status_code != 204:
            cut.append(f"answered {answer.status_code}: {answer.text}")
            return
        state[0] = wanted


def test_random_kills_during_version_deletes_and_restores_leave_it_whole(tmp_path: Path) -> None:
    """One version deleted and restored in a loop, the server killed at a random moment, then
    restarted: the version is whole either way, and in the state last acknowledged unless a request
    was cut."""
    data = tmp_path / "data"
    token = make_accounts(data)
    rng = random.Random(15)
    with _server(data) as server:
        assert server.url is not None
        digest = _push_two_versions(server.url, token)
    path = f"app/versions/{version_id(digest)}"
    acknowledged = "live"
    for _ in range(4):
        state: list[str] = [acknowledged]
        cut: list[str] = []
        with _server(data) as server:
            assert server.url is not None
            worker = threading.Thread(
                target=_move_until_cut, args=(server.url, token, path, state, cut), daemon=True
            )
            worker.start()
            time.sleep(rng.uniform(0.3, 1.2))
            server.kill()
            worker.join(60)
        assert state[0] != acknowledged or cut, "no move happened: the round proves nothing"
        assert all(c in ("live", "deleted") for c in cut), cut
        with _server(data) as server:
            assert server.url is not None
            _nothing_pending(data)
            found = _state_of(server.url, token, digest)
        assert found == state[0] or found in cut, (found, state[0], cut)
        acknowledged = found
