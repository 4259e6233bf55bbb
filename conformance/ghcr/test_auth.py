"""AUTH-1…11 (GHCR §"Autenticarse"): PATs at the token endpoint, what each scope allows, anonymous
pulls of public images, workflow tokens, REST deletes needing admin, per-package permissions, and
refusals that never reveal whether a private package exists."""

from __future__ import annotations

import json

import pytest

from conformance.ghcr.support import (
    OAUTH2_TOKEN_SCHEMA,
    SOURCE,
    TOKEN_SCHEMA,
    bearer,
    comparable,
    expect_allowed,
    expect_github_error,
    expect_refused,
    expect_rest_status,
    expect_schema,
    json_body,
    pull_scope,
    push,
    repository_url,
    set_visibility,
    token_answer,
    token_from,
)
from conformance.oci.content import missing_digest
from conformance.oci.expect import expect_blob, expect_manifest, expect_status, fail
from conformance.outcomes import not_applicable
from keelhaul.client import Credentials, parse_challenge
from keelhaul.client.images import sample_image

pytestmark = pytest.mark.needs("token_auth")


# ---- AUTH-1: a PAT is the password of `docker login` -------------------------------------------------
@pytest.mark.req("AUTH-1")
@pytest.mark.needs(role="writer")
def test_pat_logs_in_through_the_token_endpoint(client_for):
    """AUTH-1: `docker login` with a PAT works: /v2/ challenges with Bearer realm+service, the realm
    answers Basic user:PAT with a token (Docker token shape), and /v2/ accepts that token."""
    client = client_for("writer")
    ping = client.request("GET", "/v2/", authenticate=False)
    expect_status(ping, 401, "AUTH-1: /v2/ without credentials answers 401 with the challenge")
    challenge = parse_challenge(ping.headers.get("www-authenticate"))
    if challenge is None or challenge.scheme != "bearer" or not challenge.realm or not challenge.service:
        fail(
            "AUTH-1: Bearer challenge (RFC 6750) with realm and service",
            ping,
            'Bearer realm="…",service="…"',
            repr(ping.headers.get("www-authenticate")),
        )
    client.fetch_token(challenge, "")
    answer = client.last_token_response
    expect_status(answer, 200, "AUTH-1: the realm accepts Basic user:PAT")
    document = json_body(answer, "AUTH-1")
    expect_schema(document, TOKEN_SCHEMA, "AUTH-1: a Docker token answer", answer)
    if (
        document.get("token")
        and document.get("access_token")
        and document["token"] != document["access_token"]
    ):
        fail(
            "AUTH-1: token and access_token are the same token",
            answer,
            "equal values",
            "two different tokens",
        )
    logged_in = client.request("GET", "/v2/", headers=bearer(token_from(answer)))
    expect_status(logged_in, 200, "AUTH-1: /v2/ accepts the token the PAT got (Login Succeeded)")


@pytest.mark.req("AUTH-1")
@pytest.mark.needs(role="writer")
@pytest.mark.parametrize(
    "authorization",
    ["wrong-pat", "not-base64", "no-colon", "bearer-pat"],
)
def test_bad_credentials_refused_at_token_endpoint(client_for, target, authorization):
    """AUTH-1: the token endpoint answers 401 to a wrong PAT and to malformed credentials (never an
    anonymous token in their place)."""
    import base64

    client = client_for("writer")
    challenge = client.challenge()
    password = target.credentials("writer").password
    header = {
        "wrong-pat": Credentials("keelhaul", password[:-4] + "xxxx").basic_header(),
        "not-base64": "Basic !!!notbase64",
        "no-colon": "Basic " + base64.b64encode(password.encode()).decode(),
        "bearer-pat": f"Bearer {password}",
    }[authorization]
    realm = challenge.realm if challenge else "/token"
    answer = client.request(
        "GET", f"{realm}?service={challenge.service if challenge else ''}", headers={"Authorization": header}
    )
    allowed = [401] if authorization == "wrong-pat" else [400, 401]
    expect_allowed(answer, allowed, f"AUTH-1: the realm refuses {authorization} credentials")


@pytest.mark.req("AUTH-1")
@pytest.mark.needs(role="writer")
def test_oauth2_password_grant(client_for, target, shared_private):
    """AUTH-1: the OAuth2 variant (POST realm, grant_type=password, the PAT as password) answers the
    OAuth2 token shape with the granted scope; a registry answering 404/405 says "use GET" (allowed)."""
    repo, _ = shared_private
    client = client_for("writer")
    challenge = client.challenge()
    credentials = target.credentials("writer")
    form = (
        f"grant_type=password&service={challenge.service}&client_id=keelhaul"
        f"&username={credentials.username}&password={credentials.password}&scope={pull_scope(repo)}"
    )
    answer = client.request(
        "POST",
        challenge.realm,
        content=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        authenticate=False,
    )
    if answer.status_code in (404, 405):
        not_applicable(
            f"the realm has no OAuth2 POST variant ({answer.status_code}: clients fall back to GET)"
        )
    expect_status(answer, 200, "AUTH-1: POST realm with grant_type=password and a PAT")
    document = json_body(answer, "AUTH-1")
    expect_schema(document, OAUTH2_TOKEN_SCHEMA, "AUTH-1: an OAuth2 token answer", answer)
    if pull_scope(repo) not in document["scope"].split(" "):
        fail(
            "AUTH-1: the granted scope is returned",
            answer,
            f"scope containing {pull_scope(repo)}",
            repr(document["scope"]),
        )
    pulled = client.request("GET", f"/v2/{repo}/manifests/v1", headers=bearer(document["access_token"]))
    expect_status(pulled, 200, "AUTH-1: the OAuth2 access token pulls")


# ---- AUTH-2/3/4: what each PAT scope allows ----------------------------------------------------------
@pytest.mark.req("AUTH-2")
@pytest.mark.needs(role="reader")
def test_read_packages_downloads_and_nothing_more(client_for, shared_private):
    """AUTH-2: read:packages downloads images (manifest and blobs) and cannot upload a blob or a manifest."""
    repo, image = shared_private
    reader = client_for("reader")
    expect_manifest(
        reader.get_manifest(repo, "v1"), image.manifest, "AUTH-2: read:packages pulls the manifest"
    )
    for blob in image.blobs:
        expect_blob(reader.get_blob(repo, blob.digest), blob.body, "AUTH-2: read:packages pulls the blobs")
    expect_refused(
        reader.request("POST", f"/v2/{repo}/blobs/uploads/"),
        "AUTH-2: read:packages MUST NOT start a blob upload",
    )
    other = sample_image(f"auth2-{repo}")
    answer = reader.put_manifest(repo, "reader-push", other.manifest.body, other.manifest.media_type)
    expect_refused(answer, "AUTH-2: read:packages MUST NOT push a manifest")
    expect_refused(reader.get_manifest(repo, "reader-push"), "AUTH-2: nothing was stored", (404, 401, 403))


@pytest.mark.req("AUTH-2", "AUTH-3")
@pytest.mark.needs(packages_api="github", roles=("reader", "writer"))
def test_read_and_write_packages_read_metadata(client_for, shared_private, rest):
    """AUTH-2/3: read:packages and write:packages both read package metadata through the REST API."""
    repo, _ = shared_private
    for role in ("reader", "writer"):
        rest.package(role, repo, f"AUTH-2/3: {role} reads package metadata")
        rest.versions(role, repo, f"AUTH-2/3: {role} reads version metadata")


@pytest.mark.req("AUTH-3")
@pytest.mark.needs(role="writer")
def test_write_packages_uploads_and_downloads(client_for, new_repo):
    """AUTH-3: write:packages uploads an image into a new package and downloads it back."""
    writer = client_for("writer")
    repo = new_repo()
    image = sample_image(f"auth3-{repo}")
    expect_status(push(writer, repo, "v1", image), 201, "AUTH-3: write:packages pushes")
    expect_manifest(writer.get_manifest(repo, "v1"), image.manifest, "AUTH-3: write:packages pulls")
    for blob in image.blobs:
        expect_blob(writer.get_blob(repo, blob.digest), blob.body, "AUTH-3: write:packages pulls the blobs")


@pytest.mark.req("AUTH-4")
@pytest.mark.needs("manifest_delete", roles=("reader", "writer"))
@pytest.mark.parametrize("role", ["reader", "writer"])
def test_delete_needs_delete_packages(client_for, pushed, role):
    """AUTH-4: without delete:packages a DELETE of a manifest is refused (DENIED/403 or UNAUTHORIZED/401)
    and the manifest stays."""
    repo, image = pushed(f"auth4-{role}", tag="v1")
    answer = client_for(role).delete_manifest(repo, image.manifest.digest)
    expect_refused(
        answer, f"AUTH-4: {role} (no delete:packages) MUST NOT delete", codes=("DENIED", "UNAUTHORIZED")
    )
    expect_status(
        client_for("writer").get_manifest(repo, image.manifest.digest),
        200,
        "AUTH-4: the refused delete removed nothing",
    )


@pytest.mark.req("AUTH-4")
@pytest.mark.needs("manifest_delete", role="deleter")
def test_delete_packages_deletes(client_for, pushed):
    """AUTH-4: a token with delete:packages deletes an image the writer pushed."""
    repo, image = pushed("auth4-deleter", tag="v1")
    answer = client_for("deleter").delete_manifest(repo, image.manifest.digest)
    expect_status(answer, 202, "AUTH-4: delete:packages deletes a manifest")
    expect_refused(
        client_for("writer").get_manifest(repo, image.manifest.digest),
        "AUTH-4: the deleted manifest is gone",
        (404,),
        ("MANIFEST_UNKNOWN", "NAME_UNKNOWN"),
    )


# ---- AUTH-5/6: anonymous callers ---------------------------------------------------------------------
@pytest.mark.req("AUTH-5")
def test_anonymous_cannot_publish_or_install_private(client_for, shared_private, new_repo):
    """AUTH-5: without a token nothing is published, and private packages are not installed."""
    repo, image = shared_private
    anonymous = client_for("anonymous")
    expect_refused(anonymous.get_manifest(repo, "v1"), "AUTH-5: anonymous MUST NOT pull a private package")
    expect_refused(
        anonymous.get_blob(repo, image.layers[0].digest),
        "AUTH-5: anonymous MUST NOT pull a private package's blob",
    )
    fresh = new_repo()
    expect_refused(
        anonymous.request("POST", f"/v2/{fresh}/blobs/uploads/"), "AUTH-5: anonymous MUST NOT start an upload"
    )
    other = sample_image(f"auth5-{fresh}")
    expect_refused(
        anonymous.put_manifest(repo, "anonymous", other.manifest.body, other.manifest.media_type),
        "AUTH-5: anonymous MUST NOT push a manifest",
    )


@pytest.mark.req("AUTH-6", "AUTH-5", "API-4")
@pytest.mark.needs(packages_api="github", role="admin")
def test_public_package_pulls_anonymously(client, client_for, new_repo, rest):
    """AUTH-6/AUTH-5: once public, a package pulls anonymously (anonymous bearer token for `pull`), and
    publishing or deleting it still needs a token."""
    repo = new_repo()
    image = sample_image(f"auth6-{repo}")
    expect_status(push(client, repo, "v1", image), 201, "AUTH-6: setup push")
    set_visibility(rest, repo, "public", "AUTH-6")
    anonymous = client_for("anonymous")
    answer = token_answer(anonymous, pull_scope(repo))
    if answer is not None:
        expect_status(answer, 200, "AUTH-6: the realm gives anonymous callers a token for `pull`")
        expect_schema(json_body(answer, "AUTH-6"), TOKEN_SCHEMA, "AUTH-6: a Docker token answer", answer)
    expect_manifest(
        anonymous.get_manifest(repo, "v1"), image.manifest, "AUTH-6: a public image pulls anonymously"
    )
    for blob in image.blobs:
        expect_blob(anonymous.get_blob(repo, blob.digest), blob.body, "AUTH-6: its blobs pull anonymously")
    other = sample_image(f"auth6-other-{repo}")
    expect_refused(
        anonymous.put_manifest(repo, "anon", other.manifest.body, other.manifest.media_type),
        "AUTH-5: publishing to a public package needs a token",
    )
    expect_refused(
        anonymous.delete_manifest(repo, image.digest), "AUTH-5: deleting a public package needs a token"
    )
    expect_status(
        client.get_manifest(repo, image.digest), 200, "AUTH-5: the anonymous delete removed nothing"
    )


# ---- AUTH-7/8/9/10: workflow tokens, admin, per-package permissions -----------------------------------
@pytest.mark.req("AUTH-7")
@pytest.mark.needs(role="workflow")
def test_workflow_publishes_in_its_namespace(client_for, new_repo):
    """AUTH-7: a workflow token publishes a new package of its repository's owner and pulls it back."""
    workflow = client_for("workflow")
    repo = new_repo()
    image = sample_image(f"auth7-{repo}")
    expect_status(push(workflow, repo, "v1", image), 201, "AUTH-7: GITHUB_TOKEN publishes a package")
    expect_manifest(workflow.get_manifest(repo, "v1"), image.manifest, "AUTH-7: and installs it")


@pytest.mark.req("AUTH-7", "PUSH-4")
@pytest.mark.needs(packages_api="github", role="workflow")
def test_workflow_package_is_linked_to_its_repository(client_for, new_repo, rest, target):
    """AUTH-7: a package published by a workflow is linked to the workflow's repository."""
    repo = new_repo()
    expect_status(
        push(client_for("workflow"), repo, "v1", sample_image(f"auth7-link-{repo}")),
        201,
        "AUTH-7: setup push by the workflow",
    )
    package = rest.package("writer", repo, "AUTH-7")
    linked = (package.get("repository") or {}).get("full_name")
    wanted = target.role("workflow").source_repository
    if str(linked).lower() != wanted.lower():
        fail(
            "AUTH-7: the workflow's package is linked to its repository",
            None,
            f"repository {wanted}",
            repr(linked),
        )


@pytest.mark.req("AUTH-7")
@pytest.mark.needs(roles=("workflow", "reader"))
def test_workflow_cannot_install_other_private_packages(client_for, shared_private):
    """AUTH-7: a workflow token cannot install a private package not linked to its repository, which a
    PAT with read:packages can."""
    repo, image = shared_private
    expect_refused(
        client_for("workflow").get_manifest(repo, "v1"),
        "AUTH-7: GITHUB_TOKEN MUST NOT install another private package",
    )
    expect_manifest(
        client_for("reader").get_manifest(repo, "v1"),
        image.manifest,
        "AUTH-7: a PAT with read:packages installs it",
    )


@pytest.mark.req("AUTH-8", "PUSH-3")
@pytest.mark.needs(role="workflow")
def test_workflow_cannot_push_to_unlinked_package(client, client_for, new_repo):
    """AUTH-8: a workflow token cannot push to a package of its namespace that was pushed before without
    being connected to its repository."""
    repo = new_repo()
    expect_status(push(client, repo, "v1", sample_image(f"auth8-{repo}")), 201, "AUTH-8: CLI push, no label")
    image = sample_image(f"auth8-workflow-{repo}")
    answer = push(client_for("workflow"), repo, "from-workflow", image)
    expect_refused(
        answer,
        "AUTH-8: GITHUB_TOKEN MUST NOT push to an unconnected package",
        codes=("DENIED", "UNAUTHORIZED"),
    )
    expect_refused(
        client.get_manifest(repo, "from-workflow"),
        "AUTH-8: nothing was tagged",
        (404,),
        ("MANIFEST_UNKNOWN",),
    )


@pytest.mark.req("AUTH-10", "LBL-6", "PUSH-4")
@pytest.mark.needs(role="workflow")
def test_linked_package_inherits_repository_access(client, client_for, new_repo, target):
    """AUTH-10/LBL-6: a package linked to a repository by its source label gives that repository's
    workflows access (pull and push), while an unlinked sibling package stays closed to them."""
    source = repository_url(target.role("workflow").source_repository)
    linked, sibling = new_repo(), new_repo()
    expect_status(
        push(client, linked, "v1", sample_image(f"auth10-{linked}", labels={SOURCE: source})),
        201,
        "AUTH-10: labelled push",
    )
    expect_status(
        push(client, sibling, "v1", sample_image(f"auth10-{sibling}")), 201, "AUTH-10: unlabelled push"
    )
    workflow = client_for("workflow")
    expect_status(workflow.get_manifest(linked, "v1"), 200, "LBL-6: the linked repository's workflow pulls")
    image = sample_image(f"auth10-wf-{linked}")
    expect_status(
        push(workflow, linked, "from-workflow", image),
        201,
        "LBL-6: the linked repository's workflow pushes (write inherited)",
    )
    expect_refused(workflow.get_manifest(sibling, "v1"), "AUTH-10: permissions are per package")


@pytest.mark.req("AUTH-9", "API-1", "API-2")
@pytest.mark.needs(packages_api="github", role="workflow")
def test_workflow_administers_its_package_through_the_api(client_for, new_repo, rest):
    """AUTH-9: the repository that published a package through a workflow gets admin on it: its token
    deletes and restores the package through the REST API."""
    repo = new_repo()
    image = sample_image(f"auth9-{repo}")
    expect_status(push(client_for("workflow"), repo, "v1", image), 201, "AUTH-9: setup push by the workflow")
    path = rest.package_path(repo)
    expect_rest_status(
        rest.call("workflow", "DELETE", path), [204], "AUTH-9: the workflow deletes its package"
    )
    expect_github_error(rest.call("workflow", "GET", path), [404], "AUTH-9: the deleted package is gone")
    expect_rest_status(
        rest.call("workflow", "POST", f"{path}/restore"), [204], "AUTH-9: the workflow restores its package"
    )
    expect_manifest(
        client_for("workflow").get_manifest(repo, "v1"),
        image.manifest,
        "API-2: the restored package pulls again",
    )


@pytest.mark.req("AUTH-9")
@pytest.mark.needs(packages_api="github", roles=("writer", "other_tenant"))
@pytest.mark.parametrize("role", ["writer", "other_tenant"])
def test_api_delete_needs_admin_and_delete_scope(client, new_repo, rest, role):
    """AUTH-9: deleting a package through the REST API is refused to a token without delete:packages or
    without admin on the package, and the package stays."""
    repo = new_repo()
    expect_status(push(client, repo, "v1", sample_image(f"auth9-refuse-{repo}")), 201, "AUTH-9: setup push")
    path = rest.package_path(repo)
    expect_github_error(
        rest.call(role, "DELETE", path), [403, 404], f"AUTH-9: {role} MUST NOT delete via the API"
    )
    expect_rest_status(rest.call("writer", "GET", path), [200], "AUTH-9: the refused delete removed nothing")


# ---- AUTH-11: no existence leak ----------------------------------------------------------------------
OUTSIDERS = ["anonymous", "other_tenant"]


def _same(requirement, private, missing, private_name, missing_name):
    if comparable(private, private_name) != comparable(missing, missing_name):
        fail(
            requirement,
            private,
            f"the answer for a missing package: {comparable(missing, missing_name)}",
            f"{comparable(private, private_name)}",
        )


@pytest.mark.req("AUTH-11")
@pytest.mark.needs(roles=("other_tenant",))
@pytest.mark.parametrize("role", OUTSIDERS)
def test_private_and_missing_look_the_same(client_for, shared_private, new_repo, role):
    """AUTH-11: an outsider gets the same answer (status, body, challenge) for a private package as for
    a missing one: manifests by tag and digest, HEAD, blobs, tag lists, upload starts."""
    repo, image = shared_private
    missing = new_repo()
    caller = client_for(role)
    layer = image.layers[0].digest
    requests = [
        ("GET", "manifests/v1"),
        ("HEAD", "manifests/v1"),
        ("GET", f"manifests/{image.digest}"),
        ("GET", f"blobs/{layer}"),
        ("HEAD", f"blobs/{layer}"),
        ("GET", "tags/list"),
        ("POST", "blobs/uploads/"),
    ]
    for method, rest_of_path in requests:
        private_answer = caller.request(method, f"/v2/{repo}/{rest_of_path}")
        expect_refused(
            private_answer, f"AUTH-11: {role} {method} {rest_of_path} of a private package", (401, 403, 404)
        )
        missing_answer = caller.request(method, f"/v2/{missing}/{rest_of_path}")
        _same(
            f"AUTH-11: {role} {method} {rest_of_path}: private and missing look alike",
            private_answer,
            missing_answer,
            repo,
            missing,
        )


@pytest.mark.req("AUTH-11")
@pytest.mark.needs(roles=("other_tenant",))
@pytest.mark.parametrize("role", OUTSIDERS)
def test_token_grant_does_not_leak_existence(client_for, shared_private, new_repo, role):
    """AUTH-11: asking the token endpoint for a private package grants exactly what asking for a
    missing one grants (nothing), with the same status."""
    import jwt

    repo, _ = shared_private
    missing = new_repo()
    caller = client_for(role)
    grants = []
    for name in (repo, missing):
        answer = token_answer(caller, f"repository:{name}:pull,push,delete")
        if answer is None:
            pytest.skip("the target challenges no one: there is no token endpoint to ask")
        grants.append((answer.status_code, answer))
    if grants[0][0] != grants[1][0]:
        fail(
            "AUTH-11: the realm answers alike for private and missing",
            grants[0][1],
            f"status {grants[1][0]}",
            f"status {grants[0][0]}",
        )
    if grants[0][0] != 200:
        return
    actions = []
    for (_, answer), name in zip(grants, (repo, missing), strict=True):
        try:
            claims = jwt.decode(token_from(answer), options={"verify_signature": False})
        except jwt.PyJWTError:
            return  # opaque tokens: what they grant shows in the pull checks above
        actions.append([a.get("actions") for a in claims.get("access") or [] if a.get("name") == name])
    if actions[0] != actions[1]:
        fail(
            "AUTH-11: a token grants the same for private and missing",
            grants[0][1],
            f"grant {actions[1]}",
            f"grant {actions[0]}",
        )
    if actions[0] and any(actions[0]):
        fail(
            "AUTH-11: an outsider is granted nothing on a private package",
            grants[0][1],
            "no actions",
            json.dumps(actions[0]),
        )


@pytest.mark.req("AUTH-11")
@pytest.mark.needs(packages_api="github", role="other_tenant")
def test_api_private_and_missing_look_the_same(shared_private, new_repo, rest):
    """AUTH-11: the REST API answers another tenant the same 404 for a private package and a missing one."""
    repo, _ = shared_private
    private_answer = rest.call("other_tenant", "GET", rest.package_path(repo))
    missing_answer = rest.call("other_tenant", "GET", rest.package_path(new_repo()))
    expect_github_error(private_answer, [404], "AUTH-11: a private package is 'Not Found' to others")
    expect_github_error(missing_answer, [404], "AUTH-11: a missing package is 'Not Found'")
    if private_answer.json() != missing_answer.json():
        fail(
            "AUTH-11: same body for private and missing",
            private_answer,
            missing_answer.text,
            private_answer.text,
        )


@pytest.mark.req("AUTH-11")
@pytest.mark.needs("package_pages", role="other_tenant")
@pytest.mark.parametrize("role", OUTSIDERS)
def test_page_private_and_missing_look_the_same(client_for, target, shared_private, new_repo, role):
    """AUTH-11: the package page of a private package answers an outsider like a missing package's page."""
    from conformance.ghcr.support import page_url

    repo, _ = shared_private
    missing = new_repo()
    caller = client_for(role)
    headers = {}
    if caller.credentials is not None:
        headers["Authorization"] = caller.credentials.basic_header()
    answers = [
        caller.request("GET", page_url(target, name, None), headers=headers, authenticate=False)
        for name in (repo, missing)
    ]
    expect_refused(
        answers[0], f"AUTH-11: {role} MUST NOT see a private package's page", (401, 403, 404), None
    )
    _same(
        f"AUTH-11: {role}: the pages of a private and a missing package look alike",
        answers[0],
        answers[1],
        repo,
        missing,
    )


@pytest.mark.req("AUTH-11")
@pytest.mark.needs(role="other_tenant")
def test_missing_blob_digest_in_private_package_looks_missing(client_for, shared_private):
    """AUTH-11: to an outsider, a private package's existing blob and a digest it never held look alike."""
    repo, image = shared_private
    caller = client_for("other_tenant")
    present = caller.get_blob(repo, image.layers[0].digest)
    absent = caller.get_blob(repo, missing_digest("auth11"))
    expect_refused(present, "AUTH-11: another tenant MUST NOT read a private blob", (401, 403, 404))
    if present.status_code != absent.status_code:
        fail(
            "AUTH-11: a held and an unheld digest look alike",
            present,
            f"status {absent.status_code}",
            f"status {present.status_code}",
        )
