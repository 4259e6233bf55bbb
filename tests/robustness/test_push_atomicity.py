"""A push is one outcome across registry.db and accounts.db (issue 15, finding 1).

The server is killed at every step boundary of a first push into an organisation (manifest, then
package, then the publisher's grant), by a deterministic hook and by random kill -9s, then restarted
on the same data folder. An acknowledged push must be whole (manifest pulls, the package exists, the
publisher administers it); an unacknowledged one is either whole too or leaves no trace. Before the
fix a kill between the stores left a manifest that pulls with no package (REST 404), or a package
without its grant (the publisher got 403)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from keelhaul.client.auth import Credentials
from keelhaul.client.images import push_image, push_referenced, sample_image
from keelhaul.client.registry import RegistryClient
from reference_server.config import ServerConfig
from reference_server.embedded import READY_PREFIX, ServerProcess
from reference_server.ghcr.admin import Admin
from reference_server.ghcr.data.labels import DESCRIPTION
from reference_server.ghcr.data.store import AccountsStore, accounts_path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "tests" / "support" / "crash_server.py"
FULL = ["read:packages", "write:packages", "delete:packages"]


def make_accounts(data: Path) -> str:
    """alice, a writer (not owner) of organisation acme, so her first push must grant her admin."""
    admin = Admin(data)
    try:
        admin.create_user("boss")
        admin.create_user("alice")
        admin.create_org("acme", owner="boss")
        admin.add_member("acme", "alice", "writer")
        return admin.create_token("alice", FULL).token
    finally:
        admin.close()


def push(url: str, token: str, repository: str, seed: str, labels: dict[str, str] | None = None) -> str:
    with RegistryClient(url, credentials=Credentials("alice", token)) as client:
        return push_image(client, repository, "v1", sample_image(seed, layers=1, labels=labels))


def _description(data: Path, repository: str) -> str | None:
    store = AccountsStore(accounts_path(data))
    try:
        owner = store.find_account(repository.split("/")[0])
        assert owner is not None
        package = store.live_package(owner, repository.split("/", 1)[1])
        assert package is not None
        return package.description
    finally:
        store.close()


def check_whole_or_absent(url: str, data: Path, token: str, repository: str, acknowledged: bool) -> str:
    """'whole' or 'absent'; fails on anything in between."""
    store = AccountsStore(accounts_path(data))
    try:
        owner = store.find_account(repository.split("/")[0])
        assert owner is not None
        package = store.live_package(owner, repository.split("/", 1)[1])
        grants = store.grants(package) if package is not None else []
        pending = store.pending_pushes()
    finally:
        store.close()
    assert pending == [], "the restart left a push half-done"
    with RegistryClient(url, credentials=Credentials("alice", token)) as client:
        pulled = client.get_manifest(repository, "v1")
    if package is None:
        assert not acknowledged, "an acknowledged push has no package"
        assert pulled.status_code in (401, 403, 404), "a manifest is visible without its package"
        return "absent"
    alice = ("user", _alice_id(data), "admin")
    assert alice in grants, f"the package exists without its publisher's grant: {grants}"
    assert pulled.status_code == 200, pulled.status_code
    return "whole"


def _alice_id(data: Path) -> int:
    store = AccountsStore(accounts_path(data))
    try:
        account = store.find_account("alice")
        assert account is not None
        return account.id
    finally:
        store.close()


@contextmanager
def crashing_at(data: Path, point: str) -> Iterator[str]:
    """A crash server on `data` (its URL) that must have died by SIGKILL at `point` when the block
    ends; it is reaped whatever happens."""
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), point, "--listen", "127.0.0.1:0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        yield line[len(READY_PREFIX) :].split()[0]
        assert process.wait(30) == -9
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("point", ["pending-noted", "registry-committed", "package-committed"])
def test_a_kill_at_each_step_boundary_leaves_the_push_whole_or_absent(tmp_path: Path, point: str) -> None:
    data = tmp_path / "data"
    token = make_accounts(data)
    with crashing_at(data, point) as url, pytest.raises(Exception):  # noqa: B017 - the server dies mid-request, however the client says so
        push(url, token, "acme/app", "crash", labels={DESCRIPTION: "from the cut push"})
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None
        outcome = check_whole_or_absent(server.url, data, token, "acme/app", acknowledged=False)
        assert outcome == ("absent" if point == "pending-noted" else "whole")
        if outcome == "whole":  # a push the restart completed has its labels too
            assert _description(data, "acme/app") == "from the cut push"
        push(server.url, token, "acme/app", "retry")  # the publisher's retried push works
        assert check_whole_or_absent(server.url, data, token, "acme/app", acknowledged=True) == "whole"


def _rest(url: str, token: str, method: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        return http.request(method, f"/orgs/acme/packages/container/{path}")


def _kill_during(data: Path, point: str, token: str, method: str, path: str) -> None:
    with crashing_at(data, point) as url, pytest.raises(httpx.HTTPError):
        _rest(url, token, method, path)


@pytest.mark.parametrize(
    "point", ["package-trashed", "registry-deleted", "package-revived", "repository-restored"]
)
def test_a_kill_inside_a_package_delete_or_restore_leaves_it_whole_either_way(
    tmp_path: Path, point: str
) -> None:
    """After the restart the package is either deleted everywhere (nothing pulls, the REST API says
    404, a restore brings it back whole) or live everywhere (it pulls, the REST API shows it).
    Before the fix a kill could leave it live in the REST API with nothing to pull, or deleted from
    the registry with no copy to restore."""
    data = tmp_path / "data"
    token = make_accounts(data)
    deleting = point in ("package-trashed", "registry-deleted")
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None
        digest = push(server.url, token, "acme/app", "keep")
        if not deleting:
            assert _rest(server.url, token, "DELETE", "app").status_code == 204
    if deleting:
        _kill_during(data, point, token, "DELETE", "app")
    else:
        _kill_during(data, point, token, "POST", "app/restore")
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None

        def pulls() -> int:
            with RegistryClient(server.url or "", credentials=Credentials("alice", token)) as client:
                return client.get_manifest("acme/app", digest).status_code

        listed = _rest(server.url, token, "GET", "app").status_code
        if listed == 404:  # deleted everywhere, and restorable
            assert pulls() in (401, 403, 404), "a deleted package's manifest still pulls"
            assert _rest(server.url, token, "POST", "app/restore").status_code == 204
        else:
            assert listed == 200
        assert pulls() == 200, "the package is live without its manifests"


def test_random_kills_during_pushes_leave_every_push_whole_or_absent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = make_accounts(data)
    rng = random.Random(15)
    acknowledged: set[str] = set()
    attempted: list[str] = []
    for round_number in range(6):
        with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
            assert server.url is not None

            def pusher(url: str, prefix: str) -> None:
                for index in range(50):
                    repository = f"acme/{prefix}-{index}"
                    attempted.append(repository)
                    try:
                        push(url, token, repository, f"{prefix}-{index}")
                    except Exception:
                        return
                    acknowledged.add(repository)

            worker = threading.Thread(target=pusher, args=(server.url, f"r{round_number}"), daemon=True)
            worker.start()
            time.sleep(rng.uniform(0.3, 1.5))
            server.kill()
            worker.join(60)
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None
        outcomes = [
            check_whole_or_absent(server.url, data, token, repository, repository in acknowledged)
            for repository in attempted
        ]
    assert outcomes.count("whole") >= len(acknowledged) > 0


def test_a_push_waiting_on_a_locked_accounts_database_does_not_freeze_the_server(tmp_path: Path) -> None:
    """`keelhaul admin` holds accounts.db's write lock while it writes; a manifest PUT that needs
    accounts.db then waits, and meanwhile the server answers everyone else."""
    data = tmp_path / "data"
    token = make_accounts(data)
    image = sample_image("new", layers=1)
    with ServerProcess(ServerConfig(listen_port=0, data_dir=data, auth=True)) as server:
        assert server.url is not None
        url = server.url
        with RegistryClient(url, credentials=Credentials("alice", token)) as client:
            push_referenced(client, "acme/new", image)  # blobs first: only the manifest PUT is left
        locker = AccountsStore(accounts_path(data))
        db = locker._connection()
        db.execute("BEGIN IMMEDIATE")  # as an admin command does while it writes
        statuses: list[int] = []

        def put_manifest() -> None:
            with RegistryClient(url, credentials=Credentials("alice", token)) as client:
                manifest = image.manifest
                statuses.append(
                    client.put_manifest("acme/new", "v1", manifest.body, manifest.media_type).status_code
                )

        pushed = threading.Thread(target=put_manifest, daemon=True)
        try:
            pushed.start()
            time.sleep(1.0)  # the manifest PUT now waits for the lock
            assert not statuses, "the PUT did not wait for the lock: the test proves nothing"
            started = time.monotonic()
            with httpx.Client(base_url=url, timeout=10) as http:
                assert http.get("/v2/").status_code == 401  # the server still answers
            assert time.monotonic() - started < 1.0
        finally:
            db.execute("ROLLBACK")
            locker.close()
        pushed.join(30)
        assert statuses == [201]
