"""The load scenarios as Locust user classes; pick them by class name or by tag.

    locust -f load/locustfile.py ChunkedLayerUpload PullStorm ...     # by class name
    locust -f load/locustfile.py --tags pull ...                       # by tag

Each class is a few lines over `flows`; all HTTP goes through the shared `keelhaul.client`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import gevent
from gevent.event import AsyncResult
from locust import User, constant, tag, task
from locust.exception import StopUser

from keelhaul.client import RegistryClient
from load import flows
from load.events import LocustRecorder
from load.prehash import LayerQueue
from load.run import LoadRun, load_run
from load.target import usable_role


class RegistryUser(User):
    """A user with its own client (its own token cache, as each CI runner has) and repository."""

    abstract = True
    scenario = "registry"
    role = "writer"
    wait_time = constant(0)

    def on_start(self) -> None:
        self.load_run: LoadRun = load_run(self.environment)
        self.recorder = LocustRecorder(self.environment, self.load_run.ledger, self.scenario)
        self.clients: dict[str, RegistryClient] = {}
        self.layers = LayerQueue(self.load_run.layer)
        self.client = self.client_for(self.role)
        self.repository = self.load_run.new_repository(self.scenario)

    def client_for(self, role: str) -> RegistryClient:
        """This user's client for `role` (or the closest role the profile has, see usable_role); one
        per role, kept for the user's life so each keeps its own token cache."""
        profile = self.load_run.profile
        actual = usable_role(profile, role)
        if actual not in self.clients:
            self.clients[actual] = profile.client(actual, recorder=self.recorder)
        return self.clients[actual]

    @contextmanager
    def acting_as(self, role: str) -> Iterator[None]:
        """Within the block `self.client` acts as another role (seeding as writer, deleting as deleter)."""
        previous, self.client = self.client, self.client_for(role)
        try:
            yield
        finally:
            self.client = previous

    def on_stop(self) -> None:
        for client in getattr(self, "clients", {}).values():
            client.close()


class ChunkedLayerUpload(RegistryUser):
    """Multi-GB layers in chunks: POST, PATCH + Content-Range per chunk, PUT ?digest=, HEAD to check.

    A layer larger than the profile's `limits.max_layer_bytes` turns the upload into a limit probe
    (the target must refuse it)."""

    scenario = "chunked"

    @tag("chunked", "upload")
    @task
    def push_layer(self) -> None:
        settings = self.load_run.settings
        limit = self.load_run.profile.limits.max_layer_bytes
        if limit and settings.layer_size > limit:
            flows.probe_layer_limit(self, settings.layer_size, settings.chunk_size, limit)
        else:
            flows.push_blob(self, settings.layer_size, chunk_size=settings.chunk_size, label="chunked layer")


class MonolithicUpload(RegistryUser):
    """Whole blobs in one PUT after POST (the digest computed before sending)."""

    scenario = "monolithic"

    @tag("monolithic", "upload")
    @task
    def push_blob(self) -> None:
        flows.push_blob(
            self, self.load_run.settings.monolithic_size, chunk_size=None, label="monolithic blob"
        )


# One seeded image per process (and test) serves every pulling user of that process.
_seeded: dict[int, AsyncResult] = {}


def forget_seeded_images(environment) -> None:  # type: ignore[no-untyped-def]
    """A new test seeds its own image (the last one may have been cleaned up)."""
    _seeded.pop(id(environment), None)


def seeded_image(user: RegistryUser) -> flows.SeededImage:
    """The image pull users read; the first user of the process pushes it, the others wait for it."""
    key = id(user.environment)
    if key not in _seeded:
        _seeded[key] = AsyncResult()
        repository = user.load_run.new_repository("pullsrc")
        with user.acting_as("writer"):
            pushed = flows.push_image(user, repository, "pull", user.load_run.settings.pull_blob_size)
        _seeded[key].set(pushed)
    image: flows.SeededImage | None = _seeded[key].get()
    if image is None:
        raise StopUser()  # the push failed and was reported; nothing to pull
    return image


class PullStorm(RegistryUser):
    """Many readers of one image: manifests by tag, whole blobs and ranged blob reads."""

    scenario = "pull"
    role = "reader"

    def on_start(self) -> None:
        super().on_start()
        self.image = seeded_image(self)

    @tag("pull")
    @task(3)
    def manifest_by_tag(self) -> None:
        flows.pull_manifest(self, self.image)

    @tag("pull")
    @task(2)
    def whole_blob(self) -> None:
        flows.pull_blob(self, self.image, ranged=False)

    @tag("pull")
    @task(3)
    def blob_range(self) -> None:
        flows.pull_blob(self, self.image, ranged=True)


class TagChurn(RegistryUser):
    """Tags and manifests created, listed and deleted as fast as the target allows."""

    scenario = "churn"

    def on_start(self) -> None:
        super().on_start()
        base = flows.push_image(self, self.repository, "base", 4096)
        if base is None:
            raise StopUser()
        self.base = base

    @tag("churn")
    @task
    def churn(self) -> None:
        flows.churn_once(self, self.base)


class CIFleet(RegistryUser):
    """A CI runner: mostly pulls of a shared image, sometimes a fresh layer or a newly tagged image."""

    scenario = "fleet"
    wait_time = constant(0.5)

    def on_start(self) -> None:
        super().on_start()
        self.image = seeded_image(self)

    @tag("fleet")
    @task(6)
    def pull_image(self) -> None:
        flows.pull_manifest(self, self.image)
        flows.pull_blob(self, self.image, ranged=False)

    @tag("fleet")
    @task(2)
    def pull_range(self) -> None:
        flows.pull_blob(self, self.image, ranged=True)

    @tag("fleet")
    @task(1)
    def push_layer(self) -> None:
        settings = self.load_run.settings
        flows.push_blob(self, settings.pull_blob_size, chunk_size=settings.chunk_size, label="fleet layer")

    @tag("fleet")
    @task(1)
    def push_image(self) -> None:
        flows.push_image(
            self,
            self.repository,
            f"build-{self.load_run.next_number()}",
            self.load_run.settings.pull_blob_size,
        )


class IdleUploadProbe(RegistryUser):
    """When does the target expire an idle upload session? Opens one session per probe time, leaves
    each idle, and checks each exactly once (a check is activity, so it must be the only one)."""

    scenario = "idle"
    weight = 1

    @tag("idle")
    @task
    def probe(self) -> None:
        probes = self.load_run.settings.idle_probes
        sessions = []
        for idle in probes:
            opened = flows.open_idle_session(self)
            if opened is not None:
                sessions.append((idle, *opened))
        for idle, location, last_activity in sessions:
            gevent.sleep(max(0.0, idle - (time.monotonic() - last_activity)))
            if not flows.check_idle_session(self, location, idle):
                break  # longer idle times will have expired too
        raise StopUser()
