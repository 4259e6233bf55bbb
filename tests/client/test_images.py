"""Image builders: real deterministic tars, schema-valid manifests, pushes that round-trip byte-exact."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from keelhaul.client import GeneratedBlob
from keelhaul.client import media_types as mt
from keelhaul.client.images import (
    EMPTY_CONFIG,
    Built,
    Image,
    Platform,
    SourceBlob,
    artifact_image,
    build_image,
    docker_manifest,
    image_config,
    multi_arch_sample,
    oci_index,
    oci_manifest,
    push_image,
    sample_image,
    tar_layer,
)
from keelhaul.client.layout import (
    layout_manifest,
    read_blob,
    read_dir_image,
    write_dir_image,
    write_oci_layout,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "conformance" / "schemas" / "image_spec"


def _schema_validator(name: str) -> jsonschema.Draft4Validator:
    """Draft-4 image-spec schemas; any `…/<basename>.json` reference resolves to the local file
    (nested draft-4 ids otherwise point at URIs that do not exist)."""

    def retrieve(uri: str) -> Resource:
        contents = json.loads((SCHEMAS / uri.rsplit("/", 1)[-1]).read_text())
        return Resource.from_contents(contents, default_specification=DRAFT4)

    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft4Validator(schema, registry=Registry(retrieve=retrieve))


def validate(built: Built, schema: str) -> None:
    if not SCHEMAS.is_dir():
        pytest.skip("image-spec schemas not vendored yet")
    _schema_validator(schema).validate(built.json())


def test_tar_layer_is_a_real_deterministic_tar():
    files = {"etc/app/config.txt": b"hello\n", "bin/tool": b"\x7fELF...", "top.txt": b"x"}
    layer = tar_layer(files)
    assert layer == tar_layer(dict(reversed(list(files.items()))))  # order of the mapping does not matter
    assert layer.media_type == mt.OCI_LAYER_GZIP
    raw = gzip.decompress(layer.body)
    assert layer.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert members["etc"].isdir() and members["etc/app"].isdir() and members["bin"].isdir()
        assert archive.extractfile("etc/app/config.txt").read() == b"hello\n"
        assert all(m.mtime == members["top.txt"].mtime for m in members.values())
    plain = tar_layer(files, gzip=False)
    assert plain.media_type == mt.OCI_LAYER and plain.digest == plain.diff_id == layer.diff_id


def test_config_lists_diff_ids_labels_and_platform():
    layers = [tar_layer({"a": b"1"}), tar_layer({"b": b"2"})]
    labels = {"org.opencontainers.image.description": "d", "org.opencontainers.image.licenses": "MIT"}
    config = image_config(layers, labels=labels, platform=Platform("linux", "arm64", "v8"))
    document = config.json()
    assert document["rootfs"]["diff_ids"] == [layer.diff_id for layer in layers]
    assert document["config"]["Labels"] == labels
    assert (document["os"], document["architecture"], document["variant"]) == ("linux", "arm64", "v8")
    validate(config, "config-schema.json")


def test_oci_manifest_index_and_artifact_are_schema_valid():
    image = sample_image("schema", layers=3, labels={"k": "v"})
    validate(image.manifest, "image-manifest-schema.json")
    assert [d["digest"] for d in image.manifest.json()["layers"]] == [b.digest for b in image.layers]
    index = multi_arch_sample("schema")
    validate(index.manifest, "image-index-schema.json")
    platforms = [m["platform"] for m in index.manifest.json()["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    artifact = artifact_image(
        subject=image.manifest, artifact_type="application/vnd.example.sbom.v1"
    ).manifest
    validate(artifact, "image-manifest-schema.json")
    document = artifact.json()
    assert document["artifactType"] == "application/vnd.example.sbom.v1"
    assert document["config"] == {"mediaType": mt.OCI_EMPTY, "digest": mt.EMPTY_JSON_DIGEST, "size": 2}
    assert document["layers"] == [document["config"]]
    assert document["subject"] == {"mediaType": mt.OCI_MANIFEST, "digest": image.digest, "size": image.size}
    assert EMPTY_CONFIG.digest == mt.EMPTY_JSON_DIGEST


def test_docker_manifest_uses_docker_media_types():
    image = sample_image("docker", docker=True)
    document = image.manifest.json()
    assert image.manifest.media_type == document["mediaType"] == mt.DOCKER_MANIFEST
    assert document["config"]["mediaType"] == mt.DOCKER_CONFIG
    assert {layer["mediaType"] for layer in document["layers"]} == {mt.DOCKER_LAYER_GZIP}
    manual = docker_manifest(image.config, image.layers)
    assert manual == image.manifest


def test_same_inputs_same_digests_other_seed_other_digests():
    assert sample_image("s").digest == sample_image("s").digest != sample_image("t").digest
    first = oci_index([(sample_image("a"), Platform()), (sample_image("b"), None)], annotations={"x": "y"})
    assert "platform" not in first.json()["manifests"][1]
    assert first.json()["annotations"] == {"x": "y"}
    assert oci_manifest(EMPTY_CONFIG, [], annotations={"a": "b"}).json()["layers"] == []


def test_push_image_round_trips_byte_exact(client, repo):
    image = build_image([{"one.txt": b"1"}, {"two.txt": b"2"}], labels={"purpose": "test"})
    assert push_image(client, repo, "v1", image) == image.digest
    for reference in ("v1", image.digest):
        response = client.get_manifest(repo, reference)
        assert response.status_code == 200
        assert response.content == image.manifest.body
        assert response.headers["content-type"] == mt.OCI_MANIFEST
    for blob in image.blobs:
        assert client.get_blob(repo, blob.digest).content == blob.body


@pytest.mark.parametrize("docker", [False, True])
def test_push_index_pushes_children_first(client, repo, docker):
    index = multi_arch_sample(f"{repo}-idx", docker=docker)
    assert push_image(client, repo, "multi", index) == index.digest
    response = client.get_manifest(repo, "multi")
    assert response.content == index.manifest.body
    assert response.headers["content-type"] == (mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX)
    for child in index.children:
        assert client.head_manifest(repo, child.digest).status_code == 200


def test_artifact_with_subject_shows_in_referrers(reference_url, repo):
    from keelhaul.client import RegistryClient

    with RegistryClient(reference_url) as client:
        image = sample_image(f"{repo}-subject")
        push_image(client, repo, "v1", image)
        sbom = Built.of(b'{"packages":[]}', "application/spdx+json")
        artifact = artifact_image(subject=image.manifest, artifact_type="application/spdx+json", blobs=[sbom])
        put_digest = push_image(client, repo, None, artifact)
        referrers = client.referrers(repo, image.digest, artifact_type="application/spdx+json")
        assert referrers.status_code == 200
        assert [m["digest"] for m in referrers.json()["manifests"]] == [put_digest]


def test_layouts_on_disk(tmp_path):
    image, index = sample_image("layout"), multi_arch_sample("layout")
    layout = write_oci_layout(tmp_path / "oci", {"v1": image, "multi": index})
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert layout_manifest(layout, "v1") == image.manifest
    assert layout_manifest(layout, "multi").body == index.manifest.body
    for child in index.children:
        assert read_blob(layout, child.digest) == child.manifest.body
        for blob in child.blobs:
            assert read_blob(layout, blob.digest) == blob.body
    with pytest.raises(KeyError):
        layout_manifest(layout, "absent")
    docker = sample_image("dir", docker=True)
    manifest, blobs = read_dir_image(write_dir_image(tmp_path / "dir", docker))
    assert manifest == docker.manifest
    assert blobs == {blob.digest: blob.body for blob in docker.blobs}


def test_image_with_a_streamed_generated_layer(client, repo):
    layer = SourceBlob(GeneratedBlob(3 << 20, f"{repo}-big"), media_type="application/vnd.example.data")
    config = image_config()
    manifest = oci_manifest(config, [layer])
    assert push_image(client, repo, "big", Image(manifest, (config, layer))) == manifest.digest
    head = client.head_blob(repo, layer.digest)
    assert head.status_code == 200 and int(head.headers["content-length"]) == 3 << 20
