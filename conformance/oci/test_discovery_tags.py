"""OCI §Listing Tags (end-8a, end-8b): the list, its order, `n`, `last`, `n=0`, Link pagination, 404s,
and bad pagination input (failure-modes §4.6)."""

from __future__ import annotations

import re

import pytest

from conformance import content
from conformance.oci.expect import expect_error, expect_status, expect_tag_list, fail
from conformance.oci.fixtures import push_image
from conformance.outcomes import not_applicable
from keelhaul.client.urls import query_string

# Lowercase letters, digits and dots only: byte order and the spec's case-insensitive order agree.
TAGS = ("a1", "b10", "b2", "latest", "v1.0", "v1.0.1", "v2")
LINK_NEXT = re.compile(r'^\s*<([^>]+)>\s*;\s*rel="?next"?\s*$')


@pytest.fixture(scope="session")
def tagged_repo(session_repo):
    """A repository holding one manifest under every tag of TAGS (pushed in reverse order)."""
    repo, client = session_repo()
    image = content.image("tag-list")
    push_image(client, repo, image, TAGS[-1])
    for tag in reversed(TAGS[:-1]):
        put = client.put_manifest(repo, tag, image.manifest.body, image.manifest.media_type)
        if put.status_code != 201:
            fail(f"OCI-PUSH-12: PUT of tag {tag} MUST answer 201 (setup)", put, "201")
    return repo


def _list(client, repo, **params):
    return client.request("GET", f"/v2/{repo}/tags/list" + query_string(**params))


def _next_link(response) -> str | None:
    header = response.headers.get("link")
    if header is None:
        return None
    match = LINK_NEXT.match(header)
    if not match:
        fail(
            'OCI-DISC-6: a Link header follows RFC 5988 with rel="next"',
            response,
            '<url>; rel="next"',
            f"Link: {header}",
        )
    return match.group(1)


def _in_order(tags: list[str]) -> bool:
    """Lexical order: case-insensitive, or plain byte order (both accepted by the official suite)."""
    return tags in (sorted(tags, key=str.lower), sorted(tags))


@pytest.mark.req("OCI-DISC-1")
@pytest.mark.read_only
def test_list_tags_shape(client, pull_content):
    """GET tags/list answers 200 with {"name", "tags"}, including the tag pulled."""
    tags = expect_tag_list(
        _list(client, pull_content.repo),
        pull_content.repo,
        "OCI-DISC-1: GET tags/list MUST answer 200 with {name, tags}",
    )
    if pull_content.tag and pull_content.tag not in tags:
        fail(
            "OCI-DISC-1: the list holds every tag",
            None,
            f"a list containing {pull_content.tag!r}",
            repr(tags),
        )


@pytest.mark.req("OCI-DISC-2")
@pytest.mark.read_only
def test_read_only_tags_are_sorted(client, pull_content):
    """The tags of the pulled repository are listed in lexical order."""
    tags = expect_tag_list(
        _list(client, pull_content.repo), pull_content.repo, "OCI-DISC-1: GET tags/list MUST answer 200"
    )
    if not _in_order(tags):
        fail("OCI-DISC-2: tags MUST be in lexical order", None, "sorted tags", repr(tags))


@pytest.mark.req("OCI-DISC-1")
def test_list_tags_is_complete(client, tagged_repo):
    """Every pushed tag is listed, once."""
    tags = expect_tag_list(
        _list(client, tagged_repo), tagged_repo, "OCI-DISC-1: GET tags/list MUST answer 200"
    )
    if sorted(tags) != sorted(TAGS):
        fail("OCI-DISC-1: the list holds every tag once", None, repr(sorted(TAGS)), repr(tags))


@pytest.mark.req("OCI-DISC-2")
def test_list_tags_is_sorted(client, tagged_repo):
    """Tags pushed out of order are listed in lexical order."""
    tags = expect_tag_list(
        _list(client, tagged_repo), tagged_repo, "OCI-DISC-1: GET tags/list MUST answer 200"
    )
    if not _in_order(tags):
        fail("OCI-DISC-2: tags MUST be in lexical order", None, repr(sorted(tags)), repr(tags))


@pytest.mark.req("OCI-DISC-3")
def test_n_limits_the_list(client, tagged_repo):
    """?n=3 returns the first 3 tags (fewer only with a Link header)."""
    response = _list(client, tagged_repo, n=3)
    tags = expect_tag_list(response, tagged_repo, "OCI-DISC-3: GET tags/list?n= MUST answer 200")
    expected = sorted(TAGS)[:3]
    if tags == expected or (len(tags) < 3 and _next_link(response) and tags == expected[: len(tags)]):
        return
    fail(
        "OCI-DISC-3: ?n=<int> MUST return <int> results from the start of the list",
        response,
        repr(expected),
        repr(tags),
    )


@pytest.mark.req("OCI-DISC-4")
def test_last_starts_after_the_tag(client, tagged_repo):
    """?n=2&last=<tag> returns the 2 tags after <tag>, excluding it; ?last= alone returns all after it."""
    ordered = sorted(TAGS)
    response = _list(client, tagged_repo, n=2, last=ordered[1])
    tags = expect_tag_list(response, tagged_repo, "OCI-DISC-4: GET tags/list?n=&last= MUST answer 200")
    if tags != ordered[2:4]:
        fail(
            "OCI-DISC-4: ?last=<tag> MUST list up to n tags after <tag>, excluding it",
            response,
            repr(ordered[2:4]),
            repr(tags),
        )
    response = _list(client, tagged_repo, last=ordered[3])
    tags = expect_tag_list(response, tagged_repo, "OCI-DISC-4: GET tags/list?last= MUST answer 200")
    if tags != ordered[4:] and not (_next_link(response) and tags == ordered[4 : 4 + len(tags)]):
        fail("OCI-DISC-4: ?last= without n lists every tag after it", response, repr(ordered[4:]), repr(tags))


@pytest.mark.req("OCI-DISC-5")
def test_n_zero_is_empty_without_link(client, tagged_repo):
    """?n=0 returns an empty list and no Link header."""
    response = _list(client, tagged_repo, n=0)
    tags = expect_tag_list(response, tagged_repo, "OCI-DISC-5: GET tags/list?n=0 MUST answer 200")
    if tags:
        fail("OCI-DISC-5: ?n=0 MUST return an empty list", response, "[]", repr(tags))
    if "link" in response.headers:
        fail("OCI-DISC-5: ?n=0 MUST NOT include a Link header", response, "no Link", response.headers["link"])


@pytest.mark.req("OCI-DISC-6")
def test_link_header_pagination(client, tagged_repo):
    """When the registry pages with a Link header, following `rel="next"` from ?n=2 yields every tag once,
    in order, at most n per page."""
    first = _list(client, tagged_repo, n=2)
    expect_tag_list(first, tagged_repo, "OCI-DISC-6: GET tags/list?n=2 MUST answer 200")
    if "link" not in first.headers:
        not_applicable("the target sends no Link header with ?n=2 (optional, MAY): nothing to follow")
    seen: list[str] = []
    response = first
    for _ in range(len(TAGS) + 2):
        page = expect_tag_list(response, tagged_repo, "OCI-DISC-6: every page MUST answer 200")
        if len(page) > 2:
            fail("OCI-DISC-6: a page holds at most n tags", response, "≤ 2 tags", repr(page))
        seen += page
        link = _next_link(response)
        if not link:
            break
        response = client.request("GET", link)
    if seen != sorted(TAGS):
        fail(
            "OCI-DISC-6: following Link yields every tag once, in order", None, repr(sorted(TAGS)), repr(seen)
        )


@pytest.mark.req("OCI-DISC-12")
@pytest.mark.read_only
def test_tags_of_missing_repository_is_404(client, repo_namer):
    """GET tags/list of a repository that does not exist answers 404 (NAME_UNKNOWN)."""
    response = _list(client, repo_namer.next())
    expect_error(
        response, [404], {"NAME_UNKNOWN"}, "OCI-DISC-12: tags of a nonexistent repository MUST answer 404"
    )


@pytest.mark.req("OCI-NEG-PAGE-1", "OCI-ERR-2")
@pytest.mark.parametrize("n", ["-1", "abc", "1.5", ""])
def test_bad_n_is_refused_or_clamped(client, tagged_repo, n):
    """A bad `n` is answered 400 with an OCI error, or 200 (clamped), never 5xx."""
    response = client.request("GET", f"/v2/{tagged_repo}/tags/list?n={n}")
    status = expect_status(response, (200, 400), "OCI-NEG-PAGE-1: a bad n MUST get 400 or a clamped 200")
    if status == 200:
        expect_tag_list(response, tagged_repo, "OCI-NEG-PAGE-1: a clamped answer is a tag list")


@pytest.mark.req("OCI-NEG-PAGE-1", "OCI-DISC-4")
def test_last_that_is_not_a_tag(client, tagged_repo):
    """?last=<a value between tags> lists the tags after it in lexical order."""
    response = _list(client, tagged_repo, last="b5")
    tags = expect_tag_list(response, tagged_repo, "OCI-NEG-PAGE-1: ?last=<not a tag> MUST answer 200")
    expected = [t for t in sorted(TAGS) if t > "b5"]
    if tags != expected and not (_next_link(response) and tags == expected[: len(tags)]):
        fail("OCI-DISC-4: the tags after `last`, in lexical order", response, repr(expected), repr(tags))
