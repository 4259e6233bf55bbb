"""The package page: content from the labels, private pages only for allowed callers, rendered by
a real browser (headless Chromium) when one is installed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from keelhaul.client.images import Platform, build_index, sample_image

from .world import World

SOURCE = "org.opencontainers.image.source"
DESCRIPTION = "org.opencontainers.image.description"
LICENSES = "org.opencontainers.image.licenses"
PAGE = "/packages/container/alice/showcase"


@pytest.fixture(scope="module")
def showcase(world: World) -> World:
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")]
    children = [sample_image(f"page-{p.architecture}", platform=p) for p in platforms]
    index = build_index(
        children,
        platforms,
        annotations={
            DESCRIPTION: "Showcase <script>alert(1)</script> image",
            LICENSES: "MIT",
            SOURCE: "https://github.com/alice/app",
        },
    )
    assert world.push("owner", "alice/showcase", "latest", index).status_code == 201
    assert world.push("owner", "alice/showcase", "1.2", sample_image("page-single")).status_code == 201
    return world


def test_page_shows_labels_versions_platforms_and_pull_command(showcase: World) -> None:
    with showcase.http() as http:
        response = http.get(PAGE, auth=("alice", showcase.tokens["reader"]))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "Showcase &lt;script&gt;alert(1)&lt;/script&gt; image" in page and "<script>" not in page
    assert '<dd id="license">MIT</dd>' in page
    assert 'href="https://github.com/alice/app"' in page  # source link and connected repository
    assert f"docker pull {showcase.url.split('//')[1]}/alice/showcase:latest" in page
    assert "linux/amd64, linux/arm64/v8" in page
    assert '<span class="tag">latest</span>' in page and '<span class="tag">1.2</span>' in page


def test_private_page_only_for_allowed_callers(showcase: World) -> None:
    """Anonymous: a sign-in challenge, for a private page and a missing one alike; another tenant:
    404 for both (AUTH-11)."""
    with showcase.http() as http:
        anonymous = http.get(PAGE)
        anonymous_missing = http.get("/packages/container/alice/no-such")
        other = http.get(PAGE, auth=("bob", showcase.tokens["other"]))
        other_missing = http.get("/packages/container/alice/no-such", auth=("bob", showcase.tokens["other"]))
        bad = http.get(PAGE, auth=("alice", "khp_wrong"))
    assert anonymous.status_code == anonymous_missing.status_code == 401
    assert anonymous.text == anonymous_missing.text and anonymous.headers["WWW-Authenticate"].startswith(
        "Basic"
    )
    assert other.status_code == other_missing.status_code == 404 and other.text == other_missing.text
    assert bad.status_code == 401


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_page_renders_in_headless_chromium(
    showcase: World, tmp_path: Path, headless_chromium: Callable[[Path], list[str]]
) -> None:
    showcase.admin.set_visibility("alice/showcase", "public")
    try:
        url = showcase.url + PAGE
        profile = tempfile.mkdtemp(dir=tmp_path)
        flags = [*headless_chromium(Path(profile)), "--window-size=1200,800"]
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
        screenshot = tmp_path / "package-page.png"
        subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    finally:
        showcase.admin.set_visibility("alice/showcase", "private")
    assert "linux/arm64/v8" in dom.stdout and "Showcase" in dom.stdout and 'id="license">MIT' in dom.stdout
    assert screenshot.stat().st_size > 10_000  # a rendered page, not an error screen
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
