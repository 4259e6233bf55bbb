"""Manifests: PUT/GET/HEAD/DELETE by tag and digest, the four formats, byte-exact storage,
reference checks in *this* repository, subject, limits (spec end-3/7/9; failure-modes §4.5)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from keelhaul.client import RegistryClient
from keelhaul.client.images import multi_arch_sample, push_image, sample_image
from reference_server.embedded import EmbeddedServer

from .helpers import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    oci_manifest,
    push_blob,
    sha256,
)
from .helpers import (
    push_image as push_small_image,
)


def _put(
    http: httpx.Client, repo: str, reference: str, body: bytes, media_type: str | None = OCI_MANIFEST
) -> httpx.Response:
    headers = {"Content-Type": media_type} if media_type else {}
    return http.put(f"/v2/{repo}/manifests/{reference}", content=body, headers=headers)


def test_put_by_tag_then_get_by_tag_and_digest_byte_exact(http: httpx.Client, repo: str) -> None:
    digest, body = push_small_image(http, repo, "v1")
    for reference in ("v1", digest):
        got = http.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert got.status_code == 200
        assert got.content == body
        assert got.headers["Content-Type"] == OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == digest
        head = http.head(f"/v2/{repo}/manifests/{reference}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(body))
        assert head.headers["Docker-Content-Digest"] == digest
        assert head.content == b""


def test_put_response_headers(http: httpx.Client, repo: str) -> None:
    config, layer = b'{"os":"linux"}', b"layer"
    push_blob(http, repo, config)
    push_blob(http, repo, layer)
    body = oci_manifest(config, [layer])
    response = _put(http, repo, "latest", body)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/{repo}/manifests/{sha256(body)}"
    assert response.headers["Docker-Content-Digest"] == sha256(body)
    assert "OCI-Subject" not in response.headers


def test_get_without_accept_header_still_serves(http: httpx.Client, repo: str) -> None:
    push_small_image(http, repo, "v1")
    response = http.get(f"/v2/{repo}/manifests/v1", headers={"Accept": ""})
    assert response.status_code == 200


def test_put_by_digest_and_mismatching_digest(http: httpx.Client, repo: str) -> None:
    config, layer = b'{"a":1}', b"L"
    push_blob(http, repo, config)
    push_blob(http, repo, layer)
    body = oci_manifest(config, [layer])
    assert _put(http, repo, sha256(body), body).status_code == 201
    other = oci_manifest(config, [layer], annotations={"x": "y"})
    assert_oci_error(_put(http, repo, sha256(body), other), 400, "DIGEST_INVALID")


def test_put_by_digest_with_tag_parameters(http: httpx.Client, repo: str) -> None:
    config, layer = b'{"b":1}', b"L2"
    push_blob(http, repo, config)
    push_blob(http, repo, layer)
    body = oci_manifest(config, [layer])
    response = http.put(
        f"/v2/{repo}/manifests/{sha256(body)}?tag=one&tag=two",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201
    assert sorted(response.headers.get_list("OCI-Tag")) == ["one", "two"]
    assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == ["one", "two"]
    bad = http.put(
        f"/v2/{repo}/manifests/{sha256(body)}?tag=.bad", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(bad, 400, "MANIFEST_INVALID")


def test_references_must_be_linked_in_this_repository(http: httpx.Client, repo: str) -> None:
    config, layer = b'{"c":1}', b"elsewhere"
    other = repo + "-owner"
    push_blob(http, other, config)
    push_blob(http, other, layer)
    response = _put(http, repo, "v1", oci_manifest(config, [layer]))
    body = assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert {entry["detail"]["digest"] for entry in body["errors"]} == {sha256(config), sha256(layer)}
    assert_oci_error(http.get(f"/v2/{repo}/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_descriptor_size_must_match_the_blob(http: httpx.Client, repo: str) -> None:
    config = b'{"d":1}'
    push_blob(http, repo, config)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {**descriptor(OCI_CONFIG, config), "size": 99},
            "layers": [],
        }
    ).encode()
    assert_oci_error(_put(http, repo, "v1", body), 400, "MANIFEST_INVALID")


def test_foreign_layer_with_urls_need_not_exist_but_urls_are_checked(http: httpx.Client, repo: str) -> None:
    config = b'{"windows":true}'
    push_blob(http, repo, config)
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": sha256(b"remote layer"),
        "size": 12,
        "urls": ["https://example.invalid/layer.tar.gz"],
    }
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor("application/vnd.docker.container.image.v1+json", config),
        "layers": [foreign],
    }
    assert _put(http, repo, "win", json.dumps(document).encode(), DOCKER_MANIFEST).status_code == 201
    for url in ["file:///etc/passwd", "http://example.invalid/x#frag", "gopher://x/"]:
        document["layers"] = [{**foreign, "urls": [url]}]
        response = _put(http, repo, "win2", json.dumps(document).encode(), DOCKER_MANIFEST)
        assert_oci_error(response, 400, "MANIFEST_INVALID")
    # A normal layer media type with urls is still checked for existence.
    document["layers"] = [{**foreign, "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}]
    assert_oci_error(
        _put(http, repo, "win3", json.dumps(document).encode(), DOCKER_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN"
    )


def test_index_children_must_exist_here(http: httpx.Client, repo: str) -> None:
    child_digest, child = push_small_image(http, repo, "child")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child_digest, "size": len(child)}],
    }
    assert _put(http, repo, "index", json.dumps(index).encode(), OCI_INDEX).status_code == 201
    assert_oci_error(
        _put(http, repo + "-x", "index", json.dumps(index).encode(), OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN"
    )


def test_subject_may_be_missing_and_is_echoed(http: httpx.Client, repo: str) -> None:
    missing_subject = {"mediaType": OCI_MANIFEST, "digest": sha256(b"not pushed yet"), "size": 14}
    config = b"{}"
    push_blob(http, repo, config)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom",
        "config": descriptor("application/vnd.oci.empty.v1+json", config),
        "layers": [],
        "subject": missing_subject,
    }
    response = _put(http, repo, sha256(json.dumps(document).encode()), json.dumps(document).encode())
    assert response.status_code == 201
    assert response.headers["OCI-Subject"] == missing_subject["digest"]


def test_docker_formats_and_multi_arch_round_trip(
    client: RegistryClient, http: httpx.Client, repo: str
) -> None:
    docker_image = sample_image("docker-format", docker=True)
    digest = push_image(client, repo, "docker", docker_image)
    got = http.get(f"/v2/{repo}/manifests/docker")
    assert got.headers["Content-Type"] == DOCKER_MANIFEST
    assert got.content == docker_image.manifest.body and sha256(got.content) == digest
    for docker in (False, True):
        index = multi_arch_sample(f"multi-{docker}", docker=docker) if docker else multi_arch_sample("multi")
        tag = f"multi-{int(docker)}"
        digest = push_image(client, repo, tag, index)
        got = http.get(f"/v2/{repo}/manifests/{tag}")
        assert got.headers["Content-Type"] == (DOCKER_LIST if docker else OCI_INDEX)
        assert sha256(got.content) == digest
        for child in index.children:
            assert http.head(f"/v2/{repo}/manifests/{child.digest}").status_code == 200


def test_tag_moves_on_re_put(http: httpx.Client, repo: str) -> None:
    first, _ = push_small_image(http, repo, "moving", seed="one")
    second, _ = push_small_image(http, repo, "moving", seed="two")
    assert first != second
    assert http.get(f"/v2/{repo}/manifests/moving").headers["Docker-Content-Digest"] == second
    assert http.get(f"/v2/{repo}/manifests/{first}").status_code == 200


def test_delete_by_digest_removes_manifest_and_its_tags(http: httpx.Client, repo: str) -> None:
    digest, _ = push_small_image(http, repo, "a")
    http.put(
        f"/v2/{repo}/manifests/b",
        content=http.get(f"/v2/{repo}/manifests/a").content,
        headers={"Content-Type": OCI_MANIFEST},
    )
    keep, _ = push_small_image(http, repo, "keep", seed="keep")
    assert http.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert http.get(f"/v2/{repo}/manifests/keep").headers["Docker-Content-Digest"] == keep
    assert_oci_error(http.get(f"/v2/{repo}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(http.get(f"/v2/{repo}/manifests/a"), 404, "MANIFEST_UNKNOWN")
    assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == ["keep"]
    assert_oci_error(http.delete(f"/v2/{repo}/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")


def test_delete_by_tag_removes_only_the_tag(http: httpx.Client, repo: str) -> None:
    digest, _ = push_small_image(http, repo, "only-tag")
    assert http.delete(f"/v2/{repo}/manifests/only-tag").status_code == 202
    assert_oci_error(http.get(f"/v2/{repo}/manifests/only-tag"), 404, "MANIFEST_UNKNOWN")
    assert http.get(f"/v2/{repo}/manifests/{digest}").status_code == 200
    assert_oci_error(http.delete(f"/v2/{repo}/manifests/only-tag"), 404, "MANIFEST_UNKNOWN")


def test_get_manifest_by_layer_digest_is_manifest_unknown(http: httpx.Client, repo: str) -> None:
    layer = push_blob(http, repo, b"a layer, not a manifest")
    assert_oci_error(http.get(f"/v2/{repo}/manifests/{layer}"), 404, "MANIFEST_UNKNOWN")


def test_manifest_of_another_repository_is_invisible(http: httpx.Client, repo: str) -> None:
    digest, _ = push_small_image(http, repo, "v1")
    assert_oci_error(http.get(f"/v2/{repo}-other/manifests/{digest}"), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(http.get(f"/v2/{repo}-other/manifests/v1"), 404, "MANIFEST_UNKNOWN")


def test_manifest_size_limit_is_413(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry(max_manifest_bytes=2048)
    with httpx.Client(base_url=server.url) as http:
        config = b"{}"
        push_blob(http, "limit/m", config)
        small = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor(OCI_CONFIG, config),
                "layers": [],
                "annotations": {"a": "x" * 1000},
            }
        ).encode()
        assert _put(http, "limit/m", "ok", small).status_code == 201
        big = small.replace(b"x" * 1000, b"x" * 3000)
        assert_oci_error(_put(http, "limit/m", "big", big), 413, "MANIFEST_INVALID")
        streamed = http.put(
            "/v2/limit/m/manifests/big2",
            content=iter([big[:1500], big[1500:]]),
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert_oci_error(streamed, 413, "MANIFEST_INVALID")


def test_default_limit_accepts_a_manifest_just_under_4_mib(http: httpx.Client, repo: str) -> None:
    config = b"{}"
    push_blob(http, repo, config)
    annotations = {f"k{i}": "v" * 10_000 for i in range(400)}
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [],
            "annotations": annotations,
        }
    ).encode()
    assert 3_900_000 < len(body) < 4 * 1024 * 1024
    assert _put(http, repo, "big", body).status_code == 201
    assert http.get(f"/v2/{repo}/manifests/big").content == body


BAD_BODIES: dict[str, tuple[bytes, str | None]] = {
    "not json": (b"{not json", OCI_MANIFEST),
    "truncated": (
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"',
        OCI_MANIFEST,
    ),
    "array": (b"[]", OCI_MANIFEST),
    "bom": (b"\xef\xbb\xbf{}", OCI_MANIFEST),
    "not utf-8": (b'{"schemaVersion": 2, "x": "\xff"}', OCI_MANIFEST),
    "duplicate keys": (b'{"schemaVersion": 2, "schemaVersion": 2}', OCI_MANIFEST),
    "deep nesting": (b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}", OCI_MANIFEST),
    "schema 1": (
        b'{"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}',
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    ),
    "schemaVersion 3": (
        json.dumps({"schemaVersion": 3, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode(),
        OCI_MANIFEST,
    ),
    "unknown type": (b'{"schemaVersion": 2}', "application/json"),
    "no type at all": (b'{"schemaVersion": 2}', None),
    "content type mismatch": (
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode(),
        OCI_MANIFEST,
    ),
    "manifest with manifests": (
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
                "layers": [],
                "manifests": [],
            }
        ).encode(),
        OCI_MANIFEST,
    ),
    "index with layers": (
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}).encode(),
        OCI_INDEX,
    ),
    "negative size": (
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": -1},
                "layers": [],
            }
        ).encode(),
        OCI_MANIFEST,
    ),
    "config missing": (
        json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode(),
        OCI_MANIFEST,
    ),
    "layers not a list": (
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
                "layers": {},
            }
        ).encode(),
        OCI_MANIFEST,
    ),
    "annotation not string": (
        json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "annotations": {"a": 1}}
        ).encode(),
        OCI_INDEX,
    ),
    "NaN": (
        b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",'
        b' "manifests": [], "x": NaN}',
        OCI_INDEX,
    ),
}


def test_bad_manifest_bodies_are_manifest_invalid(http: httpx.Client, repo: str) -> None:
    push_blob(http, repo, b"{}")
    for name, (body, media_type) in BAD_BODIES.items():
        response = _put(http, repo, "bad", body, media_type)
        assert response.status_code == 400, (name, response.text[:300])
        assert response.json()["errors"][0]["code"] == "MANIFEST_INVALID", name
    assert_oci_error(http.get(f"/v2/{repo}/manifests/bad"), 404, "MANIFEST_UNKNOWN")


def test_bad_digest_inside_a_descriptor(http: httpx.Client, repo: str) -> None:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "sha256:../../x", "size": 2},
            "layers": [],
        }
    ).encode()
    assert_oci_error(_put(http, repo, "v1", body), 400, "DIGEST_INVALID")


def test_content_type_parameters_are_ignored_and_oci_manifest_without_media_type(
    http: httpx.Client, repo: str
) -> None:
    config, layer = b'{"e":1}', b"layer e"
    push_blob(http, repo, config)
    push_blob(http, repo, layer)
    document = {
        "schemaVersion": 2,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(OCI_LAYER, layer)],
    }
    body = json.dumps(document).encode()
    assert _put(http, repo, "no-media-type", body, OCI_MANIFEST + "; charset=utf-8").status_code == 201
    assert http.get(f"/v2/{repo}/manifests/no-media-type").headers["Content-Type"] == OCI_MANIFEST


def test_invalid_references(http: httpx.Client, repo: str) -> None:
    push_small_image(http, repo, "v1")
    # Invalid tags on reads are simply unknown (the official suite wants 404 for .INVALID_MANIFEST_NAME).
    for tag in [".INVALID_MANIFEST_NAME", "-lead", "a" * 129]:
        assert_oci_error(http.get(f"/v2/{repo}/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
        assert http.head(f"/v2/{repo}/manifests/{tag}").status_code == 404
        assert_oci_error(http.delete(f"/v2/{repo}/manifests/{tag}"), 404, "MANIFEST_UNKNOWN")
        assert_oci_error(_put(http, repo, tag, b"{}"), 400, "MANIFEST_INVALID")
    for bad in [
        "sha256:totallywrong",
        "sha256:baddigeststring",
        "SHA256:" + "a" * 64,
        "sha256:" + "a" * 63,
        "md5:" + "a" * 32,
    ]:
        assert_oci_error(http.get(f"/v2/{repo}/manifests/{bad}"), 400, "DIGEST_INVALID")
        assert_oci_error(_put(http, repo, bad, b"{}"), 400, "DIGEST_INVALID")
        assert_oci_error(http.delete(f"/v2/{repo}/manifests/{bad}"), 400, "DIGEST_INVALID")


def test_too_many_tag_parameters_is_414(http: httpx.Client, repo: str) -> None:
    digest, body = push_small_image(http, repo, "base")
    query = "&".join(f"tag=t{i}" for i in range(65))
    response = http.put(
        f"/v2/{repo}/manifests/{digest}?{query}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 414, "MANIFEST_INVALID")
    assert http.get(f"/v2/{repo}/tags/list").json()["tags"] == ["base"]


def test_put_by_sha512_digest(http: httpx.Client, repo: str) -> None:
    import hashlib

    _, body = push_small_image(http, repo, "base")
    digest = "sha512:" + hashlib.sha512(body).hexdigest()
    response = http.put(
        f"/v2/{repo}/manifests/{digest}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201
    assert response.headers["Docker-Content-Digest"] == digest
    got = http.get(f"/v2/{repo}/manifests/{digest}")
    assert got.content == body and got.headers["Docker-Content-Digest"] == digest


def test_too_many_descriptors_is_refused_without_touching_storage(http: httpx.Client, repo: str) -> None:
    layer = {"mediaType": OCI_LAYER, "digest": sha256(b"l"), "size": 1}
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(b"{}"), "size": 2},
        "layers": [layer] * 10_001,
    }
    body = assert_oci_error(_put(http, repo, "many", json.dumps(document).encode()), 400, "MANIFEST_INVALID")
    assert "10000" in body["errors"][0]["message"]
