"""OCI §Listing Referrers (end-12a, end-12b) and §Pushing Manifests with Subject.

OCI v1.1 puts the referrers API in the Content Discovery category, so these checks run whatever the
profile's `referrers_api` says (as in the official suite): a registry without it fails them. The
setup mirrors the official one: five referrers of one subject (artifactType from the manifest, from
its config, an index without one) pushed partly before the subject exists, plus one referrer of a
subject that is never pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance import content
from conformance.oci.expect import expect_error, expect_referrers, expect_status, fail
from conformance.oci.fixtures import push_blobs, push_image
from keelhaul.client import media_types as mt
from keelhaul.client.images import Built, descriptor

TYPE_A = "application/vnd.keelhaul.peanut.butter.bagel"
TYPE_B = "application/vnd.keelhaul.cream.cheese"
ANNOTATION = "org.keelhaul.referrer"


@dataclass(frozen=True)
class Referrers:
    repo: str
    subject: Built
    referrers: dict[
        str, tuple[Built, str | None, dict[str, str]]
    ]  # digest -> (manifest, artifactType, annotations)
    orphan_subject: str
    orphan: Built


@pytest.fixture(scope="session")
def referrers_setup(session_repo) -> Referrers:
    repo, client = session_repo()
    subject = content.image("referrers-subject")
    referrers: dict[str, tuple[Built, str | None, dict[str, str]]] = {}

    def put(manifest: Built, artifact_type: str | None, annotations: dict[str, str]) -> None:
        answer = client.put_manifest(repo, manifest.digest, manifest.body, manifest.media_type)
        if answer.status_code != 201:
            fail("OCI-PUSH-16: a manifest with `subject` MUST be accepted (setup)", answer, "201")
        referrers[manifest.digest] = (manifest, artifact_type, annotations)

    def artifact(seed, subject_manifest, **kwargs):
        annotations = {ANNOTATION: seed}
        built = content.artifact(seed, subject_manifest, annotations=annotations, **kwargs)
        push_blobs(client, repo, built)
        return built.manifest, annotations

    # before the subject exists: artifactType from the manifest, from the config, and an index
    a_type, a_ann = artifact("a-artifact-type", subject.manifest, artifact_type=TYPE_A)
    put(a_type, TYPE_A, a_ann)
    a_cfg, a_cfg_ann = artifact("a-config-type", subject.manifest, config_media_type=TYPE_A)
    put(a_cfg, TYPE_A, a_cfg_ann)
    index_ann = {ANNOTATION: "index"}
    index = content.index_body(
        [descriptor(a_type)], subject=descriptor(subject.manifest), annotations=index_ann
    )
    put(index, None, index_ann)
    push_image(client, repo, subject, "subject")
    b_type, b_ann = artifact("b-artifact-type", subject.manifest, artifact_type=TYPE_B)
    put(b_type, TYPE_B, b_ann)
    b_cfg, b_cfg_ann = artifact("b-config-type", subject.manifest, config_media_type=TYPE_B)
    put(b_cfg, TYPE_B, b_cfg_ann)
    orphan_subject = content.image("never-pushed").manifest
    orphan, _ = artifact("orphan", orphan_subject, artifact_type=TYPE_B)
    answer = client.put_manifest(repo, orphan.digest, orphan.body, orphan.media_type)
    if answer.status_code != 201:
        fail("OCI-PUSH-16: a referrer of a missing subject MUST be accepted (setup)", answer, "201")
    return Referrers(repo, subject.manifest, referrers, orphan_subject.digest, orphan)


def _check_descriptors(response, setup: Referrers, descriptors, expected_digests, requirement):
    found = [d.get("digest") for d in descriptors]
    if sorted(found) != sorted(expected_digests) or len(set(found)) != len(found):
        fail(requirement, response, f"exactly the referrers {sorted(expected_digests)}", repr(found))
    for answered in descriptors:
        manifest, artifact_type, annotations = setup.referrers[answered["digest"]]
        if answered.get("mediaType") != manifest.media_type or answered.get("size") != manifest.size:
            fail(
                f"{requirement} (descriptor mediaType and size are the referrer's)",
                response,
                f"{manifest.media_type}, {manifest.size} bytes",
                f"{answered.get('mediaType')}, {answered.get('size')} bytes",
            )
        if answered.get("artifactType") != artifact_type:
            fail(
                "OCI-DISC-8: artifactType is the manifest's, else its config mediaType; omitted for an index "
                "without one",
                response,
                repr(artifact_type),
                repr(answered.get("artifactType")),
            )
        if answered.get("annotations") != annotations:
            fail(
                "OCI-DISC-8: descriptors MUST include the referrer's annotations",
                response,
                repr(annotations),
                repr(answered.get("annotations")),
            )


@pytest.mark.req("OCI-PUSH-21")
@pytest.mark.needs("referrers_api")
def test_put_with_subject_answers_oci_subject(client, new_repo):
    """The PUT of a manifest with `subject` answers `OCI-Subject: <subject digest>`, whether the subject
    was pushed before (an image) or not yet."""
    repo = new_repo()
    subject = content.image("oci-subject")
    absent = content.image("oci-subject-absent").manifest
    push_image(client, repo, subject, "subject")
    for target_subject in (subject.manifest, absent):
        referrer = content.artifact(
            f"oci-subject-{target_subject.digest[7:15]}", target_subject, artifact_type=TYPE_B
        )
        push_blobs(client, repo, referrer)
        put = client.put_manifest(
            repo, referrer.manifest.digest, referrer.manifest.body, referrer.manifest.media_type
        )
        expect_status(put, 201, "OCI-PUSH-12: a manifest with `subject` MUST be accepted (201)")
        if put.headers.get("oci-subject") != target_subject.digest:
            fail(
                "OCI-PUSH-21: a PUT with `subject` MUST answer OCI-Subject: <subject digest>",
                put,
                f"OCI-Subject: {target_subject.digest}",
                f"OCI-Subject: {put.headers.get('oci-subject')}",
            )


@pytest.mark.req("OCI-DISC-7")
@pytest.mark.needs("referrers_api")
def test_referrers_of_unreferenced_digest_is_empty(client, referrers_setup):
    """GET referrers/<digest nothing refers to> answers 200, an image index with no manifests."""
    response = client.referrers(referrers_setup.repo, content.missing_digest("no-referrers"))
    descriptors = expect_referrers(response, "OCI-DISC-7: the referrers API MUST answer 200 (never 404)")
    if descriptors:
        fail("OCI-DISC-7: no referrers means an empty `manifests`", response, "[]", repr(descriptors))


@pytest.mark.req("OCI-DISC-8")
@pytest.mark.needs("referrers_api")
def test_referrers_lists_every_referrer(client, referrers_setup):
    """GET referrers/<subject> lists the five referrers with artifactType, size and annotations."""
    response = client.referrers(referrers_setup.repo, referrers_setup.subject.digest)
    descriptors = expect_referrers(response, "OCI-DISC-8: GET referrers MUST answer 200 with an image index")
    _check_descriptors(
        response,
        referrers_setup,
        descriptors,
        list(referrers_setup.referrers),
        "OCI-DISC-8: every manifest whose subject is the digest is listed",
    )


@pytest.mark.req("OCI-DISC-9")
@pytest.mark.needs("referrers_api")
def test_referrers_artifact_type_filter(client, referrers_setup):
    """?artifactType= keeps only that type and the answer says `OCI-Filters-Applied: artifactType`."""
    response = client.referrers(referrers_setup.repo, referrers_setup.subject.digest, artifact_type=TYPE_A)
    descriptors = expect_referrers(response, "OCI-DISC-9: a filtered GET referrers MUST answer 200")
    applied = response.headers.get("oci-filters-applied")
    matching = [d for d, (_, kind, _) in referrers_setup.referrers.items() if kind == TYPE_A]
    if applied is None:
        fail(
            "OCI-DISC-9: the registry SHOULD filter by artifactType and then MUST send OCI-Filters-Applied",
            response,
            "OCI-Filters-Applied: artifactType",
            "no OCI-Filters-Applied header",
        )
    if [p.strip() for p in applied.split(",")] != ["artifactType"]:
        fail("OCI-DISC-9: OCI-Filters-Applied names the filter", response, "artifactType", applied)
    _check_descriptors(
        response,
        referrers_setup,
        descriptors,
        matching,
        f"OCI-DISC-9: only referrers of artifactType {TYPE_A}",
    )


@pytest.mark.req("OCI-DISC-10")
@pytest.mark.needs("referrers_api")
def test_referrers_of_missing_subject(client, referrers_setup):
    """The referrer of a subject that was never pushed is listed for that subject."""
    response = client.referrers(referrers_setup.repo, referrers_setup.orphan_subject)
    descriptors = expect_referrers(
        response, "OCI-DISC-10: GET referrers of a missing manifest MUST answer 200"
    )
    found = [d.get("digest") for d in descriptors]
    if found != [referrers_setup.orphan.digest]:
        fail(
            "OCI-DISC-10: the referrer of a missing subject is listed",
            response,
            repr([referrers_setup.orphan.digest]),
            repr(found),
        )


@pytest.mark.req("OCI-DISC-11")
@pytest.mark.needs("referrers_api")
def test_referrers_bad_digest_is_400(client, referrers_setup):
    """GET referrers/<digest with invalid syntax> answers 400."""
    response = client.request("GET", f"/v2/{referrers_setup.repo}/referrers/sha256:not-a-digest")
    expect_error(response, [400], None, "OCI-DISC-11: an invalid digest MUST answer 400")


@pytest.mark.req("OCI-DISC-8", "FMT-2")
@pytest.mark.needs("referrers_api")
def test_referrer_manifests_pull_back(client, referrers_setup):
    """Each listed referrer is itself pullable by digest, byte for byte (index and manifests)."""
    from conformance.oci.expect import expect_manifest

    for manifest, _, _ in referrers_setup.referrers.values():
        expect_manifest(
            client.get_manifest(referrers_setup.repo, manifest.digest),
            manifest,
            "OCI-PULL-2: a referrer pulls by digest",
            validate=manifest.media_type != mt.OCI_INDEX,
        )


@pytest.mark.req("OCI-DISC-14")
@pytest.mark.needs("referrers_api")
def test_referrers_content_type_is_exact(client, referrers_setup):
    """The referrers answer's Content-Type is exactly application/vnd.oci.image.index.v1+json: the spec
    says "MUST be set to", so no parameter (a `; charset=utf-8` fails, as in the official suite)."""
    response = client.referrers(referrers_setup.repo, referrers_setup.subject.digest)
    expect_referrers(response, "OCI-DISC-8: GET referrers MUST answer 200 with an image index")


@pytest.mark.req("OCI-DISC-13")
@pytest.mark.lacks("referrers_api")
def test_registry_without_referrers_answers_404(client, new_repo):
    """A registry without the referrers API answers GET referrers with 404: the answer on which clients
    fall back to the referrers tag schema (any other answer strands them)."""
    repo, image = new_repo(), content.image("no-referrers-api")
    push_image(client, repo, image, "subject")
    response = client.referrers(repo, image.manifest.digest)
    expect_status(response, 404, "OCI-DISC-13: without the referrers API, GET referrers MUST answer 404")
