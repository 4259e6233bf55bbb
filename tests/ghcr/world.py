"""A running reference server with the ghcr.io model and a small cast of accounts and tokens.

alice owns the namespace `alice` and the source repository alice/app; bob is another tenant;
acme is an organisation (alice owner). Tokens: alice's reader, writer, deleter and full tokens,
an expired and a revoked token of alice's, bob's full token, and a workflow token of alice/app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from keelhaul.client import images
from keelhaul.client.auth import Credentials
from keelhaul.client.registry import RegistryClient
from reference_server.config import ServerConfig
from reference_server.embedded import EmbeddedServer
from reference_server.ghcr.admin import Admin
from reference_server.ghcr.data.store import AccountsStore, accounts_path
from reference_server.ghcr.policy import GhcrPolicy

FULL = ["read:packages", "write:packages", "delete:packages"]


class MovableClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class World:
    server: EmbeddedServer
    admin: Admin
    clock: MovableClock
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def policy(self) -> GhcrPolicy:
        from reference_server.http.app import GATE_KEY

        assert self.server.app is not None
        policy = self.server.app[GATE_KEY].policy
        assert isinstance(policy, GhcrPolicy)
        return policy

    def credentials(self, role: str) -> Credentials | None:
        if role == "anonymous":
            return None
        user = {"other": "bob", "workflow": "github-actions"}.get(role, "alice")
        return Credentials(user, self.tokens[role])

    def client(self, role: str) -> RegistryClient:
        return RegistryClient(self.url, credentials=self.credentials(role))

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def api(self, method: str, path: str, role: str = "owner", **kwargs: object) -> httpx.Response:
        """A packages REST API call with `role`'s token as `Authorization: Bearer`."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role != "anonymous" else {}
        with self.http() as http:
            return http.request(method, path, headers=headers, **kwargs)

    def push(self, role: str, repository: str, tag: str | None, image) -> httpx.Response:
        """Push `image`; returns the manifest PUT's response (whatever its status)."""
        with self.client(role) as client:
            children = image.children if isinstance(image, images.ImageIndex) else ()
            for child in children:
                self._push_blobs(client, repository, child)
                client.put_manifest(repository, child.digest, child.manifest.body, child.media_type)
            if not children:
                self._push_blobs(client, repository, image)
            return client.put_manifest(repository, tag or image.digest, image.manifest.body, image.media_type)

    def push_sample(self, repository: str, *, public: bool = False) -> None:
        """Push `images.sample_image` to `repository`:v1 as the owner; make its package public if asked."""
        assert self.push("owner", repository, "v1", images.sample_image(repository)).status_code == 201
        if public:
            self.admin.set_visibility(repository, "public")

    @staticmethod
    def _push_blobs(client: RegistryClient, repository: str, image: images.Image) -> None:
        for blob in image.blobs:
            if client.head_blob(repository, blob.digest).status_code != 200:
                client.upload_monolithic(repository, images.upload_data(blob))

    def bearer(self, role: str, scope: str) -> str:
        """A registry token for `scope`, fetched as `role`."""
        credentials = self.credentials(role)
        auth = (credentials.username, credentials.password) if credentials else None
        with self.http() as http:
            response = http.get("/token", params={"scope": scope}, auth=auth)
        assert response.status_code == 200, response.text
        return response.json()["token"]


def start_world(data_dir: Path, **config: object) -> World:
    clock = MovableClock()
    admin = Admin(store=AccountsStore(accounts_path(data_dir), clock=clock))
    admin.create_user("alice")
    admin.create_user("bob")
    admin.create_org("acme", owner="alice")
    admin.create_repository("alice/app", url="https://github.com/alice/app")
    admin.create_repository("bob/tools")
    server = EmbeddedServer(ServerConfig(listen_port=0, data_dir=data_dir, **config))
    url = server.start()
    world = World(server, admin, clock, url)
    tokens = world.tokens
    tokens["reader"] = admin.create_token("alice", ["read:packages"]).token
    tokens["writer"] = admin.create_token("alice", ["write:packages"]).token
    tokens["deleter"] = admin.create_token("alice", ["read:packages", "delete:packages"]).token
    tokens["owner"] = admin.create_token("alice", FULL).token
    tokens["other"] = admin.create_token("bob", FULL).token
    tokens["revoked"] = admin.create_token("alice", FULL).token
    admin.revoke_token(tokens["revoked"])
    clock.offset = -7200
    tokens["expired"] = admin.create_token("alice", FULL, expires_in=3600).token
    clock.offset = 0
    tokens["workflow"] = admin.create_workflow_token("alice/app").token
    return world
