"""LBL-1…7 (GHCR §"Etiquetado de imágenes de contenedor"): source, description and licenses from the
image config's labels or, for multi-arch images, the index's annotations, shown by the packages API
and the package page; values past the 512/256-character limits get the outcome the profile declares
(`label_overflow`: truncate with a Warning header, or reject), never silently stored past the limit.

Values mix in two-byte characters so a limit counted in bytes instead of characters shows."""

from __future__ import annotations

import json

import pytest

from conformance.ghcr.support import (
    DESCRIPTION,
    LICENSES,
    SOURCE,
    expect_refused,
    expect_rest_status,
    page_text,
    page_url,
    push,
    repository_url,
)
from conformance.oci.expect import check_answer, expect_blob, expect_status, fail
from conformance.outcomes import not_applicable
from keelhaul.client.images import (
    Built,
    Image,
    build_image,
    build_index,
    image_config,
    oci_manifest,
    sample_image,
)

TEXT = "Keelhaul ñandú café — déjà vu. "
SPDX = "MIT OR Apache-2.0 OR BSD-3-Clause OR ISC OR MPL-2.0 OR LGPL-2.1-or-later OR GPL-3.0-only "


def text_of(length: int, seed: str = TEXT, last: str = "Z") -> str:
    """`length` characters (not bytes) of `seed`, ending in `last` so a cut is visible."""
    return ((seed * (length // len(seed) + 1))[: length - 1] + last) if length else ""


def labelled(seed: str, labels: dict[str, object]) -> Image:
    """An image whose config carries `labels` (values may be non-text on purpose)."""
    base = sample_image(seed, layers=1)
    config = image_config(base.layers)
    document = json.loads(config.body)
    document["config"]["Labels"] = labels
    config = Built.of(
        json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), config.media_type
    )
    return Image(oci_manifest(config, base.layers), (config, *base.layers))


def _page(client, target, repo, rest=None):
    """The package page's visible text, read as the writer (Basic user:PAT, as a browser would)."""
    package = rest.package("writer", repo, "LBL: locate the package page") if rest is not None else None
    url = page_url(target, repo, package)
    answer = client.request(
        "GET",
        url,
        headers={"Authorization": client.credentials.basic_header()} if client.credentials else {},
        authenticate=False,
    )
    expect_status(answer, 200, f"LBL: the package page {url} is readable by the publisher")
    return page_text(answer.text)


def _rest_value(rest, repo, field: str, requirement: str):
    package = rest.package("writer", repo, requirement)
    if field not in package:
        not_applicable(
            f"the target's REST package payload has no {field!r} field to read the value back from"
        )
    return package[field]


# ---- within the limits: stored whole and shown ------------------------------------------------------
@pytest.mark.req("LBL-2", "LBL-3", "LBL-4")
@pytest.mark.needs(packages_api="github", limits=("description_max_chars", "licenses_max_chars"))
def test_values_at_the_limits_stored_whole_api(client, new_repo, rest, target):
    """LBL-2/3/4: a description of exactly 512 and licenses of exactly 256 characters, set as config labels
    (`docker build --label`), are stored whole (read back through the packages API)."""
    limits = target.limits
    description, licenses = text_of(limits.description_max_chars), text_of(limits.licenses_max_chars, SPDX)
    repo = new_repo()
    answer = push(
        client, repo, "v1", labelled(f"lbl-at-{repo}", {DESCRIPTION: description, LICENSES: licenses})
    )
    expect_status(answer, 201, "LBL-2/3: values at the limits are accepted")
    if answer.headers.get("warning"):
        fail(
            "LBL-2/3: values within the limits need no warning",
            answer,
            "no Warning header",
            answer.headers.get("warning"),
        )
    got_description = _rest_value(rest, repo, "description", "LBL-2")
    if got_description != description:
        fail(
            "LBL-2: a 512-character description is stored whole",
            None,
            repr(description),
            repr(got_description),
        )
    got_license = _rest_value(rest, repo, "license", "LBL-3")
    if got_license != licenses:
        fail("LBL-3: a 256-character licenses value is stored whole", None, repr(licenses), repr(got_license))


@pytest.mark.req("LBL-1", "LBL-2", "LBL-3", "LBL-4")
@pytest.mark.needs("package_pages", limits=("description_max_chars", "licenses_max_chars"))
def test_values_shown_on_package_page(client, new_repo, target, request):
    """LBL-1/2/3/4: source, description and licenses set as config labels appear on the package page."""
    rest = request.getfixturevalue("rest") if target.features.packages_api == "github" else None
    description = text_of(target.limits.description_max_chars)
    licenses = "MIT"
    source = "https://github.com/keelhaul/never-a-real-repository"
    repo = new_repo()
    image = labelled(f"lbl-page-{repo}", {DESCRIPTION: description, LICENSES: licenses, SOURCE: source})
    expect_status(push(client, repo, "v1", image), 201, "LBL: setup push")
    text = _page(client, target, repo, rest)
    for requirement, value in (("LBL-2", description), ("LBL-3", licenses), ("LBL-1", source)):
        if value not in text:
            fail(
                f"{requirement}: the value is shown on the package page",
                None,
                repr(value[:80]),
                "not on the page",
            )


@pytest.mark.req("LBL-4")
def test_build_labels_land_in_the_config(client, new_repo):
    """LBL-4: labels set with `docker build --label` live in the image config, which is stored and served
    byte-exact with them."""
    repo = new_repo()
    labels = {DESCRIPTION: "built with --label", LICENSES: "MIT", SOURCE: "https://github.com/keelhaul/x"}
    image = build_image([{"keelhaul/lbl4.txt": b"lbl4"}], labels=labels)
    expect_status(push(client, repo, "v1", image), 201, "LBL-4: setup push")
    answer = client.get_blob(repo, image.config.digest)
    expect_blob(answer, image.config.body, "LBL-4: the config with its labels is served byte-exact")
    got = json.loads(answer.content)["config"].get("Labels")
    if got != labels:
        fail("LBL-4: the labels are in config.Labels", answer, repr(labels), repr(got))


@pytest.mark.req("LBL-5")
@pytest.mark.needs(packages_api="github", limit="description_max_chars")
def test_multi_arch_description_from_index_annotations_api(client, new_repo, rest):
    """LBL-5: a multi-arch image's description comes from the index's `annotations` (packages API)."""
    repo = new_repo()
    description = "My multi-arch image — ñandú"
    children = [sample_image(f"lbl5-{repo}-{arch}") for arch in ("amd64", "arm64")]
    from keelhaul.client.images import Platform

    index = build_index(
        children,
        [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")],
        annotations={DESCRIPTION: description},
    )
    expect_status(push(client, repo, "v1", index), 201, "LBL-5: setup push of the index")
    got = _rest_value(rest, repo, "description", "LBL-5")
    if got != description:
        fail("LBL-5: the index annotation is the package's description", None, repr(description), repr(got))


@pytest.mark.req("LBL-5")
@pytest.mark.needs("package_pages")
def test_multi_arch_description_on_package_page(client, new_repo, target, request):
    """LBL-5: the index annotation's description is shown on the multi-arch package's page."""
    from keelhaul.client.images import Platform

    rest = request.getfixturevalue("rest") if target.features.packages_api == "github" else None
    repo = new_repo()
    description = "Multi-arch page description — déjà vu"
    children = [sample_image(f"lbl5p-{repo}-{arch}") for arch in ("amd64", "arm64")]
    index = build_index(
        children,
        [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")],
        annotations={DESCRIPTION: description},
    )
    expect_status(push(client, repo, "v1", index), 201, "LBL-5: setup push of the index")
    if description not in _page(client, target, repo, rest):
        fail(
            "LBL-5: the index description is on the package page", None, repr(description), "not on the page"
        )


@pytest.mark.req("LBL-1", "LBL-6")
@pytest.mark.needs(packages_api="github", role="workflow")
def test_source_label_names_the_linked_repository(client, new_repo, rest, target):
    """LBL-1: `org.opencontainers.image.source` is the URL of the repository associated with the package."""
    source_repository = target.role("workflow").source_repository
    repo = new_repo()
    image = labelled(f"lbl1-{repo}", {SOURCE: repository_url(source_repository) + "/"})
    expect_status(push(client, repo, "v1", image), 201, "LBL-1: setup push")
    linked = (rest.package("writer", repo, "LBL-1").get("repository") or {}).get("full_name")
    if str(linked).lower() != source_repository.lower():
        fail(
            "LBL-1: the source URL (trailing / ignored) names the linked repository",
            None,
            repr(source_repository),
            repr(linked),
        )


# ---- past the limits: the declared outcome, never silent ---------------------------------------------
OVERFLOWS = {
    "description-513": lambda limits: {DESCRIPTION: text_of(limits.description_max_chars + 1)},
    "licenses-257": lambda limits: {LICENSES: text_of(limits.licenses_max_chars + 1, SPDX)},
    "description-not-text": lambda limits: {DESCRIPTION: 12345},
}


def _expect_declared_outcome(answer, target, client, repo, case):
    """truncate: 201 with a `Warning: 299 - "…"` header; reject: a 4xx OCI error and nothing stored."""
    if target.limits.label_overflow == "reject":
        expect_refused(
            answer,
            f"LBL-7: {case} is rejected with a clear error (label_overflow = reject)",
            (400, 413, 422),
            ("MANIFEST_INVALID", "DENIED", "UNSUPPORTED", "SIZE_INVALID"),
        )
        expect_status(client.get_manifest(repo, "v1"), 404, "LBL-7: a rejected push stores nothing")
        return False
    expect_status(answer, 201, f"LBL-7: {case} never breaks the push (label_overflow = truncate)")
    check_answer(answer)
    if not answer.headers.get_list("warning"):
        fail(
            f"LBL-7: {case} is not stored silently: the PUT says so in a Warning header",
            answer,
            'Warning: 299 - "…"',
            "no Warning header",
        )
    return True


# OCI-ERR-3 too: an overflow that is truncated is the one answer that must carry a Warning, and
# check_answer() holds that Warning to the spec's `299 - "text"` format.
@pytest.mark.req("LBL-7", "LBL-2", "LBL-3", "OCI-ERR-3")
@pytest.mark.needs(limits=("label_overflow", "description_max_chars", "licenses_max_chars"))
@pytest.mark.parametrize("case", list(OVERFLOWS))
def test_overflow_gets_the_declared_outcome(client, new_repo, target, case):
    """LBL-7: past the limits (513 / 257 characters, non-text) the push is rejected with a clear error or
    accepted with a Warning header, as the profile declares; never silently."""
    repo = new_repo()
    image = labelled(f"lbl7-{case}-{repo}", OVERFLOWS[case](target.limits))
    _expect_declared_outcome(push(client, repo, "v1", image), target, client, repo, case)


@pytest.mark.req("LBL-7", "LBL-5", "LBL-3", "OCI-ERR-3")
@pytest.mark.needs(limits=("label_overflow", "description_max_chars", "licenses_max_chars"))
@pytest.mark.parametrize("kind", ["image-manifest", "image-index"])
def test_annotation_overflow_gets_the_declared_outcome(client, new_repo, target, kind):
    """LBL-7/LBL-5: over-long values in a manifest's or a multi-arch index's `annotations` get the same
    declared outcome as config labels (rejected, or accepted with a Warning header)."""
    from keelhaul.client.images import Platform

    limits = target.limits
    annotations = {
        DESCRIPTION: text_of(limits.description_max_chars + 1),
        LICENSES: text_of(limits.licenses_max_chars + 1, SPDX),
    }
    repo = new_repo()
    if kind == "image-index":
        children = [sample_image(f"lbl7-idx-{repo}-{arch}") for arch in ("amd64", "arm64")]
        image = build_index(
            children, [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")], annotations=annotations
        )
    else:
        image = build_image([{"keelhaul/lbl7.txt": repo.encode()}], annotations=annotations)
    answer = push(client, repo, "v1", image)
    _expect_declared_outcome(answer, target, client, repo, f"{kind} annotations past the limits")


@pytest.mark.req("LBL-7", "LBL-2", "LBL-3")
@pytest.mark.needs(
    packages_api="github", limits=("label_overflow", "description_max_chars", "licenses_max_chars")
)
@pytest.mark.parametrize("field", ["description", "license"])
def test_overflow_never_stored_past_the_limit_api(client, new_repo, rest, target, field):
    """LBL-7: a value past its limit is never stored past it: read back through the packages API it is
    the value cut to the limit (truncate) or absent (reject)."""
    limit = (
        target.limits.description_max_chars if field == "description" else target.limits.licenses_max_chars
    )
    value = text_of(limit + 1, TEXT if field == "description" else SPDX)
    label = DESCRIPTION if field == "description" else LICENSES
    repo = new_repo()
    answer = push(client, repo, "v1", labelled(f"lbl7-api-{field}-{repo}", {label: value}))
    if not _expect_declared_outcome(answer, target, client, repo, f"{field} of {limit + 1} characters"):
        expect_rest_status(
            rest.call("writer", "GET", rest.package_path(repo)),
            [404],
            "LBL-7: a rejected first push creates no package",
        )
        return
    stored = _rest_value(rest, repo, field, "LBL-7")
    if stored != value[:limit]:
        fail(
            f"LBL-7: a {field} past {limit} characters is stored cut to the limit",
            None,
            f"{limit} characters ending {value[limit - 8 : limit]!r}",
            f"{len(stored or '')} characters ending {(stored or '')[-8:]!r}",
        )


@pytest.mark.req("LBL-7", "LBL-2")
@pytest.mark.needs("package_pages", limits=("label_overflow", "description_max_chars"))
def test_overflow_never_shown_past_the_limit_page(client, new_repo, target, request):
    """LBL-7: the package page never shows a description past its limit."""
    rest = request.getfixturevalue("rest") if target.features.packages_api == "github" else None
    limit = target.limits.description_max_chars
    value = text_of(limit + 1)
    repo = new_repo()
    answer = push(client, repo, "v1", labelled(f"lbl7-page-{repo}", {DESCRIPTION: value}))
    if not _expect_declared_outcome(answer, target, client, repo, f"description of {limit + 1} characters"):
        return
    text = _page(client, target, repo, rest)
    if value in text:
        fail(
            "LBL-7: the page shows no description past the limit",
            None,
            f"at most {limit} characters",
            f"all {limit + 1}",
        )
    if value[:limit] not in text:
        fail(
            "LBL-7: the page shows the description cut to the limit",
            None,
            repr(value[limit - 12 : limit]),
            "not on the page",
        )
