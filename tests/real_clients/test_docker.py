"""The Docker engine (Debian's dockerd + the docker CLI) as a client of the reference server with
auth on, the way people use ghcr.io: `docker login` with a PAT, build, push, inspect, a two-platform
index with `docker manifest`, pull by tag and by digest, logout, and anonymous pulls that work only
once the package is public. Skipped, with dockerd's reason, only where dockerd cannot start.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .commands import COMMAND_TIMEOUT
from .docker_engine import DockerEngine, EngineUnavailable

pytestmark = pytest.mark.clients

SOURCE = "https://github.com/alice/app"
DESCRIPTION = ("Built by the Docker engine for keelhaul's ghcr model; " * 12)[:600]
DESCRIPTION_LIMIT = 512


@pytest.fixture(scope="module")
def engine(auth_server: tuple[str, dict[str, str]]) -> Iterator[DockerEngine]:
    host = auth_server[0].split("://", 1)[1]
    docker_engine = DockerEngine(insecure_registry=host)
    try:
        docker_engine.start()
    except EngineUnavailable as why:
        docker_engine.stop()
        pytest.skip(f"dockerd cannot start here: {why}")
    yield docker_engine
    docker_engine.stop()


@dataclass
class Docker:
    """The docker CLI with one credential store (DOCKER_CONFIG) against the test engine."""

    engine: DockerEngine
    config_dir: Path
    host: str

    def _run(self, args: tuple[str, ...], stdin: str | None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args],
            input=stdin,
            env=self.engine.environment(self.config_dir),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        result = self._run(args, stdin)
        assert result.returncode == 0, f"docker {' '.join(args)} -> exit {result.returncode}: {result.stderr}"
        return result.stdout

    def refused(self, *args: str) -> str:
        result = self._run(args, None)
        assert result.returncode != 0, f"docker {' '.join(args)} should have been refused"
        return result.stderr

    def login(self, token: str) -> None:
        self("login", self.host, "--username", "alice", "--password-stdin", stdin=token)

    def build(self, context: Path, tag: str, *options: str) -> str:
        """Build a FROM-scratch image; returns its image id (the config digest)."""
        return self("build", "--quiet", *options, "--tag", tag, str(context)).strip().splitlines()[-1]

    def push(self, reference: str) -> str:
        """Push; returns the manifest digest the engine reports."""
        found = re.search(r"digest: (sha256:[0-9a-f]{64})", self("push", reference))
        assert found, f"docker push {reference} reported no digest"
        return found.group(1)

    def manifest(self, *args: str) -> str:
        return self("manifest", *args)

    def forget_images(self) -> None:
        """Empty the engine's image store, so the next pull must fetch from the registry."""
        self("image", "prune", "--all", "--force")
        assert self("images", "--quiet", "--all").split() == []


@pytest.fixture
def docker(engine: DockerEngine, auth_server: tuple[str, dict[str, str]], tmp_path: Path) -> Docker:
    return Docker(engine, tmp_path / "docker-config", auth_server[0].split("://", 1)[1])


def scratch_context(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "hello.txt").write_text(content)
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    return folder


def rest(url: str, token: str, method: str = "GET", path: str = "", **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=30, **kwargs)


def test_login_build_push_shows_the_linked_package(docker, auth_server, tmp_path: Path):
    url, tokens = auth_server
    reference = f"{docker.host}/alice/docker-app:v1"
    docker.login(tokens["writer"])
    stored = json.loads((docker.config_dir / "config.json").read_text())
    assert docker.host in stored["auths"]

    context = scratch_context(tmp_path / "ctx", "pushed by docker\n")
    image_id = docker.build(
        context,
        reference,
        "--label", f"org.opencontainers.image.source={SOURCE}",
        "--label", f"org.opencontainers.image.description={DESCRIPTION}",
        "--label", "org.opencontainers.image.licenses=Apache-2.0",
    )  # fmt: skip
    digest = docker.push(reference)

    inspected = json.loads(docker.manifest("inspect", "--insecure", reference))
    assert inspected["config"]["digest"] == image_id
    assert len(inspected["layers"]) == 1

    package = rest(url, tokens["writer"], path="/user/packages/container/docker-app")
    assert package.status_code == 200, package.text
    document = package.json()
    assert document["description"] == DESCRIPTION[:DESCRIPTION_LIMIT]
    assert document["license"] == "Apache-2.0"
    assert document["visibility"] == "private"
    assert document["repository"]["full_name"] == "alice/app"
    assert document["repository"]["html_url"] == SOURCE
    versions = rest(url, tokens["writer"], path="/user/packages/container/docker-app/versions").json()
    assert [(v["name"], v["metadata"]["container"]["tags"]) for v in versions] == [(digest, ["v1"])]

    page = httpx.get(
        f"{url}/packages/container/alice/docker-app", auth=("alice", tokens["writer"]), timeout=30
    )
    assert page.status_code == 200
    assert f'<p class="description">{html.escape(DESCRIPTION[:DESCRIPTION_LIMIT])}</p>' in page.text
    assert re.search(r'id="repository"><a href="https://github.com/alice/app"[^>]*>alice/app</a>', page.text)
    assert html.escape(digest) in page.text

    docker("logout", docker.host)
    assert docker.host not in json.loads((docker.config_dir / "config.json").read_text())["auths"]
    stderr = docker.refused("manifest", "inspect", "--insecure", reference)
    assert re.search("denied|unauthorized", stderr, re.IGNORECASE), stderr


def test_two_platform_index_pulls_by_tag_and_digest(docker, auth_server, tmp_path: Path):
    _, tokens = auth_server
    repository = f"{docker.host}/alice/docker-multi"
    docker.login(tokens["writer"])
    ids = {}
    for arch in ("amd64", "arm64"):
        context = scratch_context(tmp_path / arch, f"built for {arch}\n")
        ids[arch] = docker.build(context, f"{repository}:{arch}", "--platform", f"linux/{arch}")
        docker.push(f"{repository}:{arch}")

    index = f"{repository}:multi"
    docker.manifest("create", "--insecure", index, f"{repository}:amd64", f"{repository}:arm64")
    docker.manifest("annotate", index, f"{repository}:arm64", "--os", "linux", "--arch", "arm64")
    index_digest = docker.manifest("push", "--insecure", "--purge", index).strip().splitlines()[-1]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", index_digest), index_digest

    listed = json.loads(docker.manifest("inspect", "--insecure", index))
    platforms = sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in listed["manifests"])
    assert platforms == [("linux", "amd64"), ("linux", "arm64")]

    docker.forget_images()
    docker("pull", "--quiet", f"{repository}:amd64")
    assert docker("image", "inspect", "--format", "{{.Id}}", f"{repository}:amd64").strip() == ids["amd64"]
    by_digest = f"{repository}@{index_digest}"
    docker("pull", "--quiet", "--platform", "linux/arm64", by_digest)
    pulled = json.loads(docker("image", "inspect", by_digest))[0]
    assert pulled["Id"] == ids["arm64"]
    assert pulled["Architecture"] == "arm64"
    assert by_digest in pulled["RepoDigests"]
    docker("logout", docker.host)


def test_anonymous_pull_only_once_public(docker, auth_server, tmp_path: Path):
    url, tokens = auth_server
    reference = f"{docker.host}/alice/docker-public:v1"
    docker.login(tokens["writer"])
    image_id = docker.build(scratch_context(tmp_path / "ctx", "soon public\n"), reference)
    docker.push(reference)
    docker("logout", docker.host)
    docker.forget_images()

    stderr = docker.refused("pull", reference)
    assert re.search("denied|unauthorized", stderr, re.IGNORECASE), stderr

    made_public = rest(
        url,
        tokens["writer"],
        "PATCH",
        "/user/packages/container/docker-public",
        json={"visibility": "public"},
    )
    assert made_public.status_code == 200, made_public.text
    docker("pull", "--quiet", reference)
    assert docker("image", "inspect", "--format", "{{.Id}}", reference).strip() == image_id
