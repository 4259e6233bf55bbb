"""Tag lists, the catalog and the referrers API (spec end-8a/8b, end-12a/12b; failure-modes §4.6)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from reference_server.embedded import EmbeddedServer

from .helpers import OCI_INDEX, OCI_MANIFEST, assert_oci_error, descriptor, push_blob, push_image, sha256


def _tag_all(http: httpx.Client, repo: str, tags: list[str]) -> None:
    _, body = push_image(http, repo, tags[0])
    for tag in tags[1:]:
        assert (
            http.put(
                f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
            ).status_code
            == 201
        )


def test_tags_are_sorted_and_paged_with_exclusive_last(http: httpx.Client, repo: str) -> None:
    tags = ["b", "a", "TEST0", "c", "test1", "_x", "a-1"]
    _tag_all(http, repo, tags)
    whole = http.get(f"/v2/{repo}/tags/list")
    assert whole.status_code == 200
    assert whole.json() == {"name": repo, "tags": sorted(tags)}
    assert "Link" not in whole.headers
    collected: list[str] = []
    url = f"/v2/{repo}/tags/list?n=2"
    while url:
        page = http.get(url)
        assert page.status_code == 200
        chunk = page.json()["tags"]
        assert len(chunk) <= 2
        collected += chunk
        link = page.headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
    assert collected == sorted(tags)
    after = http.get(f"/v2/{repo}/tags/list?last=a").json()["tags"]
    assert after == [t for t in sorted(tags) if t > "a"]


def test_n_zero_gives_empty_list_and_no_link(http: httpx.Client, repo: str) -> None:
    _tag_all(http, repo, ["x"])
    response = http.get(f"/v2/{repo}/tags/list?n=0")
    assert response.status_code == 200
    assert response.json()["tags"] == []
    assert "Link" not in response.headers


def test_last_page_has_no_link(http: httpx.Client, repo: str) -> None:
    _tag_all(http, repo, ["x", "y"])
    response = http.get(f"/v2/{repo}/tags/list?n=2")
    assert response.json()["tags"] == ["x", "y"]
    assert "Link" not in response.headers


def test_bad_n_is_400_and_huge_n_is_clamped(http: httpx.Client, repo: str) -> None:
    _tag_all(http, repo, ["x"])
    for bad in ["-1", "abc", "1.5", "", "1e9", "9223372036854775808", "+1", "０"]:
        assert_oci_error(http.get(f"/v2/{repo}/tags/list?n={bad}"), 400, "UNSUPPORTED")
        assert_oci_error(http.get(f"/v2/_catalog?n={bad}"), 400, "UNSUPPORTED")
    response = http.get(f"/v2/{repo}/tags/list?n=999999999")
    assert response.status_code == 200 and response.json()["tags"] == ["x"]


def test_strange_last_values_are_harmless(http: httpx.Client, repo: str) -> None:
    _tag_all(http, repo, ["x"])
    for last in ["zzz", "../..", "ü", "a" * 3000, "%00"]:
        response = http.get(f"/v2/{repo}/tags/list", params={"last": last})
        assert response.status_code == 200


def test_tags_of_unknown_repository_is_name_unknown(http: httpx.Client, repo: str) -> None:
    assert_oci_error(http.get(f"/v2/{repo}-never/tags/list"), 404, "NAME_UNKNOWN")


def test_catalog_lists_and_pages(make_registry: Callable[..., EmbeddedServer]) -> None:
    server = make_registry()
    with httpx.Client(base_url=server.url) as http:
        names = ["zeta/a", "alpha/b", "alpha/a", "mid"]
        for name in names:
            push_blob(http, name, b"x")
        assert http.get("/v2/_catalog").json() == {"repositories": sorted(names)}
        first = http.get("/v2/_catalog?n=3")
        assert first.json()["repositories"] == sorted(names)[:3]
        link = first.headers["Link"]
        assert link.startswith("</v2/_catalog?n=3&last=") and link.endswith('>; rel="next"')
        second = http.get(link[1 : link.index(">")])
        assert second.json()["repositories"] == sorted(names)[3:]
        assert "Link" not in second.headers
        zero = http.get("/v2/_catalog?n=0")
        assert zero.json() == {"repositories": []} and "Link" not in zero.headers


def _artifact(
    http: httpx.Client,
    repo: str,
    subject: tuple[str, int],
    artifact_type: str | None,
    note: str,
    *,
    config_type: str = "application/vnd.oci.empty.v1+json",
) -> str:
    config = b"{}"
    push_blob(http, repo, config)
    document: dict = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]},
        "annotations": {"note": note},
    }
    if artifact_type:
        document["artifactType"] = artifact_type
    body = json.dumps(document).encode()
    response = http.put(
        f"/v2/{repo}/manifests/{sha256(body)}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == subject[0]
    return sha256(body)


def test_referrers_list_filter_and_annotations(http: httpx.Client, repo: str) -> None:
    subject_digest, subject_body = push_image(http, repo, "subject")
    subject = (subject_digest, len(subject_body))
    a = _artifact(http, repo, subject, "application/vnd.example.sig", "a")
    b = _artifact(http, repo, subject, "application/vnd.example.sbom", "b")
    c = _artifact(http, repo, subject, None, "c", config_type="application/vnd.example.sig")
    index_body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
            "artifactType": "application/vnd.example.bundle",
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": len(subject_body)},
            "annotations": {"note": "d"},
        }
    ).encode()
    assert (
        http.put(
            f"/v2/{repo}/manifests/{sha256(index_body)}",
            content=index_body,
            headers={"Content-Type": OCI_INDEX},
        ).status_code
        == 201
    )

    response = http.get(f"/v2/{repo}/referrers/{subject_digest}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(OCI_INDEX)
    assert "OCI-Filters-Applied" not in response.headers
    document = response.json()
    assert document["schemaVersion"] == 2 and document["mediaType"] == OCI_INDEX
    found = {d["digest"]: d for d in document["manifests"]}
    assert set(found) == {a, b, c, sha256(index_body)}
    assert found[a]["artifactType"] == "application/vnd.example.sig"
    assert found[c]["artifactType"] == "application/vnd.example.sig"  # from config.mediaType
    assert found[sha256(index_body)]["mediaType"] == OCI_INDEX
    assert all(len(d["annotations"]) == 1 for d in found.values())
    assert all(d["size"] > 0 for d in found.values())

    filtered = http.get(f"/v2/{repo}/referrers/{subject_digest}?artifactType=application/vnd.example.sig")
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert {d["digest"] for d in filtered.json()["manifests"]} == {a, c}


def test_referrers_of_unknown_or_missing_subject(http: httpx.Client, repo: str) -> None:
    empty = http.get(f"/v2/{repo}/referrers/{sha256(b'nothing refers to me')}")
    assert empty.status_code == 200 and empty.json()["manifests"] == []
    missing = (sha256(b"subject never pushed"), 20)
    only = _artifact(http, repo, missing, "application/vnd.example.x", "x")
    assert [d["digest"] for d in http.get(f"/v2/{repo}/referrers/{missing[0]}").json()["manifests"]] == [only]
    assert_oci_error(http.get(f"/v2/{repo}/referrers/sha256:nothex"), 400, "DIGEST_INVALID")


def test_referrers_disappear_with_the_manifest(http: httpx.Client, repo: str) -> None:
    subject = (sha256(b"s"), 1)
    digest = _artifact(http, repo, subject, "application/vnd.example.x", "x")
    assert http.delete(f"/v2/{repo}/manifests/{digest}").status_code == 202
    assert http.get(f"/v2/{repo}/referrers/{subject[0]}").json()["manifests"] == []
