"""Push, pull, labels, repository links and workflows on the running server (PUSH, PULL, LBL, AUTH-7…10)."""

from __future__ import annotations

import hashlib

import pytest

from keelhaul.client import images
from keelhaul.client.images import Image, Platform, build_image, build_index, sample_image

from .world import World

SOURCE = "org.opencontainers.image.source"
DESCRIPTION = "org.opencontainers.image.description"
LICENSES = "org.opencontainers.image.licenses"


def package(world: World, name: str, role: str = "owner") -> dict:
    namespace, _, rest = name.partition("/")
    section = "orgs" if namespace == "acme" else "users"
    response = world.api("GET", f"/{section}/{namespace}/packages/container/{rest.replace('/', '%2F')}", role)
    assert response.status_code == 200, response.text
    return response.json()


def labelled(seed: str, **labels: str) -> Image:
    return sample_image(seed, labels=labels)


def test_push_tags_and_nested_names(world: World) -> None:
    """PUSH-1, PULL-1…4: `latest` and `2.5` tags, nested names, pull by tag and by digest."""
    image = sample_image("push-1")
    for tag in ("latest", "2.5"):
        assert world.push("owner", "alice/img/release", tag, image).status_code == 201
    with world.client("reader") as client:
        for reference in ("latest", "2.5", image.digest):
            response = client.get_manifest("alice/img/release", reference)
            assert response.status_code == 200
            assert response.content == image.manifest.body
            assert response.headers["Docker-Content-Digest"] == image.digest
            assert "sha256:" + hashlib.sha256(response.content).hexdigest() == image.digest
        assert client.list_tags("alice/img/release").json()["tags"] == ["2.5", "latest"]


def test_first_push_is_private(world: World) -> None:
    """PUSH-2."""
    assert world.push("owner", "alice/fresh", "v1", sample_image("fresh")).status_code == 201
    assert package(world, "alice/fresh")["visibility"] == "private"
    with world.client("anonymous") as client:
        assert client.get_manifest("alice/fresh", "v1").status_code == 401


def test_cli_push_is_not_connected_even_when_names_match(world: World) -> None:
    """PUSH-3: `alice/app` matches the repository alice/app, but without the label: no link."""
    assert world.push("owner", "alice/app", "v1", sample_image("no-label")).status_code == 201
    assert "repository" not in package(world, "alice/app")


def test_source_label_connects_to_the_same_owners_repository(world: World) -> None:
    """PUSH-4, LBL-1: the label links; a URL of another owner's repository does not."""
    image = labelled("with-label", **{SOURCE: "https://github.com/alice/app.git"})
    assert world.push("owner", "alice/linked", "v1", image).status_code == 201
    assert package(world, "alice/linked")["repository"]["full_name"] == "alice/app"
    foreign = labelled("foreign-label", **{SOURCE: "https://github.com/bob/tools"})
    assert world.push("owner", "alice/foreign", "v1", foreign).status_code == 201
    assert "repository" not in package(world, "alice/foreign")


def test_description_and_license_from_config_labels(world: World) -> None:
    """LBL-2/3/4: Dockerfile LABEL / `--label` values land on the package."""
    image = labelled("described", **{DESCRIPTION: "My container image", LICENSES: "MIT OR Apache-2.0"})
    assert world.push("owner", "alice/described", "v1", image).status_code == 201
    found = package(world, "alice/described")
    assert (found["description"], found["license"]) == ("My container image", "MIT OR Apache-2.0")


def test_manifest_annotations_override_config_labels(world: World) -> None:
    layers = [{"a.txt": b"a"}]
    image = build_image(
        layers, labels={DESCRIPTION: "from label"}, annotations={DESCRIPTION: "from annotation"}
    )
    assert world.push("owner", "alice/annotated", "v1", image).status_code == 201
    assert package(world, "alice/annotated")["description"] == "from annotation"


def test_multi_arch_description_from_index_annotations(world: World) -> None:
    """LBL-5."""
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")]
    children = [sample_image(f"multi-{p.architecture}", platform=p) for p in platforms]
    index = build_index(children, platforms, annotations={DESCRIPTION: "My multi-arch image"})
    assert world.push("owner", "alice/multi", "v1", index).status_code == 201
    assert package(world, "alice/multi")["description"] == "My multi-arch image"


@pytest.mark.parametrize(("key", "limit"), [(DESCRIPTION, 512), (LICENSES, 256)])
def test_over_long_values_are_cut_with_a_warning(world: World, key: str, limit: int) -> None:
    """LBL-7: never break the push; store the value cut to the limit; say so in `Warning`."""
    image = labelled(f"long-{limit}", **{key: "x" * (limit + 1)})
    response = world.push("owner", f"alice/long-{limit}", "v1", image)
    assert response.status_code == 201
    warnings = response.headers.get_list("Warning")
    assert len(warnings) == 1 and warnings[0].startswith('299 - "') and str(limit) in warnings[0]
    stored = package(world, f"alice/long-{limit}")["description" if key == DESCRIPTION else "license"]
    assert stored == "x" * limit


def test_values_at_the_limit_pass_without_warning(world: World) -> None:
    image = labelled("at-limit", **{DESCRIPTION: "d" * 512, LICENSES: "l" * 256})
    response = world.push("owner", "alice/at-limit", "v1", image)
    assert response.status_code == 201 and "Warning" not in response.headers


def test_non_text_label_is_ignored_with_a_warning(world: World) -> None:
    layer = images.tar_layer({"x": b"x"})
    config = images.image_config([layer], extra={"config": {"Labels": {DESCRIPTION: 5}}})
    image = Image(images.oci_manifest(config, [layer]), (config, layer))
    response = world.push("owner", "alice/non-text", "v1", image)
    assert response.status_code == 201 and "not text" in response.headers["Warning"]
    assert "description" not in package(world, "alice/non-text")


def test_workflow_publishes_connected_packages(world: World) -> None:
    """AUTH-7 and AUTH-9: a workflow's new package is connected to its repository; the
    workflow is admin on it (deletes through the REST API)."""
    image = sample_image("workflow-new")
    assert world.push("workflow", "alice/from-workflow", "v1", image).status_code == 201
    found = package(world, "alice/from-workflow")
    assert found["repository"]["full_name"] == "alice/app" and found["visibility"] == "private"
    second = sample_image("workflow-new-2")
    assert world.push("workflow", "alice/from-workflow", "v2", second).status_code == 201
    versions = world.api("GET", "/users/alice/packages/container/from-workflow/versions", "workflow").json()
    target = next(v for v in versions if v["name"] == second.digest)
    deleted = world.api(
        "DELETE", f"/users/alice/packages/container/from-workflow/versions/{target['id']}", "workflow"
    )
    assert deleted.status_code == 204
    assert world.api("DELETE", "/users/alice/packages/container/from-workflow", "workflow").status_code == 204


def test_workflow_cannot_push_to_an_unconnected_package(world: World) -> None:
    """AUTH-8, then LBL-6: once the label connects it, the workflow may."""
    assert world.push("owner", "alice/cli-first", "v1", sample_image("cli-first")).status_code == 201
    assert world.push("workflow", "alice/cli-first", "v2", sample_image("wf-denied")).status_code == 403
    connected = labelled("connect-now", **{SOURCE: "https://github.com/alice/app"})
    assert world.push("owner", "alice/cli-first", "v3", connected).status_code == 201
    assert world.push("workflow", "alice/cli-first", "v4", sample_image("wf-allowed")).status_code == 201


def test_workflow_cannot_read_other_private_packages(world: World) -> None:
    """AUTH-7: another owner's private package needs a PAT."""
    assert world.push("other", "bob/private-tools", "v1", sample_image("bob-tools")).status_code == 201
    with world.client("workflow") as client:
        assert client.get_manifest("bob/private-tools", "v1").status_code == 403
    with world.client("other") as client:
        assert client.get_manifest("bob/private-tools", "v1").status_code == 200


def test_connected_package_inherits_repository_access(world: World) -> None:
    """LBL-6 / AUTH-10: bob reads alice/app, so he reads packages connected to it, no others."""
    world.admin.add_collaborator("alice/app", "bob", "read")
    try:
        image = labelled("inherit", **{SOURCE: "https://github.com/alice/app"})
        assert world.push("owner", "alice/inherited", "v1", image).status_code == 201
        assert world.push("owner", "alice/not-inherited", "v1", sample_image("no-inherit")).status_code == 201
        with world.client("other") as client:
            assert client.get_manifest("alice/inherited", "v1").status_code == 200
            assert client.get_manifest("alice/not-inherited", "v1").status_code == 403
        world.admin.set_inherit("alice/inherited", False)
        with world.client("other") as client:
            assert client.get_manifest("alice/inherited", "v1").status_code == 403
    finally:
        world.admin.remove_collaborator("alice/app", "bob")


def test_granular_grant_and_org_packages(world: World) -> None:
    """AUTH-10: a per-package role, here on an organisation package."""
    assert world.push("owner", "acme/lib", "v1", sample_image("acme-lib")).status_code == 201
    with world.client("other") as client:
        assert client.get_manifest("acme/lib", "v1").status_code == 403
    world.admin.grant("acme/lib", "read", user="bob")
    with world.client("other") as client:
        assert client.get_manifest("acme/lib", "v1").status_code == 200
    refused = world.push("other", "acme/lib", "v2", sample_image("acme-lib-2"))
    assert refused.status_code == 403  # read, not write


def test_internal_packages_need_org_membership(world: World) -> None:
    assert world.push("owner", "acme/inner", "v1", sample_image("acme-inner")).status_code == 201
    world.admin.set_visibility("acme/inner", "internal")
    with world.client("other") as client:
        assert client.get_manifest("acme/inner", "v1").status_code == 403
    world.admin.add_member("acme", "bob", "reader")
    try:
        with world.client("other") as client:
            assert client.get_manifest("acme/inner", "v1").status_code == 200
            assert world.push("other", "acme/by-reader", "v1", sample_image("acme-reader")).status_code == 403
    finally:
        world.admin.remove_member("acme", "bob")
    with world.client("other") as client:
        assert client.get_manifest("acme/inner", "v1").status_code == 403  # removal takes effect at once


def test_foreign_layers_are_accepted_without_their_blobs(world: World) -> None:
    """FMT-3 with auth on: a non-distributable layer with `urls` needs no upload."""
    config = images.image_config([])
    foreign = {
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": "sha256:" + "ab" * 32,
        "size": 12345,
        "urls": ["https://example.invalid/layer.tar.gz"],
    }
    document = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": images.descriptor(config),
        "layers": [foreign],
    }
    manifest = images.Built.of(images.encode_json(document), "application/vnd.oci.image.manifest.v1+json")
    assert world.push("owner", "alice/windows-like", "v1", Image(manifest, (config,))).status_code == 201
