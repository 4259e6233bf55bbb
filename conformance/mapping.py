# ruff: noqa: E501  (spec names / HTML template lines are data, kept whole)
"""OCI_MAPPING.md: every spec of the official OCI conformance suite v1.1.1 → our requirement IDs →
our checks. Rendered from the catalogue and a static read of the check modules, so the document
cannot drift (tests/conformance checks that the file equals the rendering).

Regenerate: `python -m conformance.mapping > conformance/OCI_MAPPING.md`
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conformance.catalogue import Catalogue, load_catalogue

SUITE_DIR = Path(__file__).resolve().parent
CHECK_DIRS = ("oci", "ghcr")

# The official suite at tag v1.1.1 (a139cc42), "Workflow › Context › Specify", in file order; specs
# defined twice (Pull setup pushes two blobs and two manifests with the same name; both teardown orders)
# are listed once: 77 distinct names, 79 specs run in one execution.
OFFICIAL_SPECS: tuple[str, ...] = (
    "Pull › Setup › Populate registry with test blob",
    "Pull › Setup › Populate registry with test layer",
    "Pull › Setup › Populate registry with test manifest",
    "Pull › Setup › Get tag name from environment",
    "Pull › Pull blobs › HEAD request to nonexistent blob should result in 404 response",
    "Pull › Pull blobs › HEAD request to existing blob should yield 200",
    "Pull › Pull blobs › GET nonexistent blob should result in 404 response",
    "Pull › Pull blobs › GET request to existing blob URL should yield 200",
    "Pull › Pull manifests › HEAD request to nonexistent manifest should return 404",
    "Pull › Pull manifests › HEAD request to manifest[0] path (digest) should yield 200 response",
    "Pull › Pull manifests › HEAD request to manifest[1] path (digest) should yield 200 response",
    "Pull › Pull manifests › HEAD request to manifest path (tag) should yield 200 response",
    "Pull › Pull manifests › GET nonexistent manifest should return 404",
    "Pull › Pull manifests › GET request to manifest[0] path (digest) should yield 200 response",
    "Pull › Pull manifests › GET request to manifest[1] path (digest) should yield 200 response",
    "Pull › Pull manifests › GET request to manifest path (tag) should yield 200 response",
    "Pull › Error codes › 400 response body should contain OCI-conforming JSON message",
    "Pull › Teardown › Delete manifest[0] created in setup",
    "Pull › Teardown › Delete manifest[1] created in setup",
    "Pull › Teardown › Delete config[0] blob created in setup",
    "Pull › Teardown › Delete config[1] blob created in setup",
    "Pull › Teardown › Delete layer blob created in setup",
    "Push › Blob Upload Streamed › PATCH request with blob in body should yield 202 response",
    "Push › Blob Upload Streamed › PUT request to session URL with digest should yield 201 response",
    "Push › Blob Upload Monolithic › GET nonexistent blob should result in 404 response",
    "Push › Blob Upload Monolithic › POST request with digest and blob should yield a 201 or 202",
    "Push › Blob Upload Monolithic › GET request to blob URL from prior request should yield 200 or 404 based on response code",
    "Push › Blob Upload Monolithic › POST request should yield a session ID",
    "Push › Blob Upload Monolithic › PUT upload of a blob should yield a 201 Response",
    "Push › Blob Upload Monolithic › GET request to existing blob should yield 200 response",
    "Push › Blob Upload Monolithic › PUT upload of a layer blob should yield a 201 Response",
    "Push › Blob Upload Monolithic › GET request to existing layer should yield 200 response",
    "Push › Blob Upload Chunked › Out-of-order blob upload should return 416",
    "Push › Blob Upload Chunked › PATCH request with first chunk should return 202",
    "Push › Blob Upload Chunked › Retry previous blob chunk should return 416",
    "Push › Blob Upload Chunked › Get on stale blob upload should return 204 with a range and location",
    "Push › Blob Upload Chunked › PATCH request with second chunk should return 202",
    "Push › Blob Upload Chunked › PUT request with digest should return 201",
    "Push › Cross-Repository Blob Mount › Cross-mounting of a blob without the from argument should yield session id",
    "Push › Cross-Repository Blob Mount › POST request to mount another repository's blob should return 201 or 202",
    "Push › Cross-Repository Blob Mount › GET request to test digest within cross-mount namespace should return 200",
    "Push › Cross-Repository Blob Mount › Cross-mounting of nonexistent blob should yield session id",
    "Push › Cross-Repository Blob Mount › Cross-mounting without from, and automatic content discovery enabled should return a 201",
    "Push › Cross-Repository Blob Mount › Cross-mounting without from, and automatic content discovery disabled should return a 202",
    "Push › Manifest Upload › GET nonexistent manifest should return 404",
    "Push › Manifest Upload › PUT should accept a manifest upload",
    "Push › Manifest Upload › Registry should accept a manifest upload with no layers",
    "Push › Manifest Upload › GET request to manifest URL (digest) should yield 200 response",
    "Push › Teardown › Delete manifest created in tests",
    "Push › Teardown › Delete config blob created in tests",
    "Push › Teardown › Delete layer blob created in setup",
    "Content Discovery › Setup › Populate registry with test blob",
    "Content Discovery › Setup › Populate registry with test layer",
    "Content Discovery › Setup › Populate registry with test tags",
    "Content Discovery › Setup › Populate registry with test tags (no push)",
    "Content Discovery › Setup › References setup",
    "Content Discovery › Test content discovery endpoints (listing tags) › GET request to list tags should yield 200 response",
    "Content Discovery › Test content discovery endpoints (listing tags) › GET number of tags should be limitable by `n` query parameter",
    "Content Discovery › Test content discovery endpoints (listing tags) › GET start of tag is set by `last` query parameter",
    "Content Discovery › Test content discovery endpoints (listing references) › GET request to nonexistent blob should result in empty 200 response",
    "Content Discovery › Test content discovery endpoints (listing references) › GET request to existing blob should yield 200",
    "Content Discovery › Test content discovery endpoints (listing references) › GET request to existing blob with filter should yield 200",
    "Content Discovery › Test content discovery endpoints (listing references) › GET request to missing manifest should yield 200",
    "Content Discovery › Teardown › Delete created manifest & associated tags",
    "Content Discovery › Teardown › Delete config blob created in tests",
    "Content Discovery › Teardown › Delete layer blob created in setup",
    "Content Discovery › Teardown › References teardown",
    "Content Management › Setup › Populate registry with test config blob",
    "Content Management › Setup › Populate registry with test layer",
    "Content Management › Setup › Populate registry with test tag",
    "Content Management › Setup › Check how many tags there are before anything gets deleted",
    "Content Management › Manifest delete › DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)",
    "Content Management › Manifest delete › DELETE request to manifest (digest) should yield 202 response unless already deleted",
    "Content Management › Manifest delete › GET request to deleted manifest URL should yield 404 response, unless delete is disallowed",
    "Content Management › Manifest delete › GET request to tags list should reflect manifest deletion",
    "Content Management › Blob delete › DELETE request to blob URL should yield 202 response",
    "Content Management › Blob delete › GET request to deleted blob URL should yield 404 response",
)


# Where keelhaul's check of an official spec's request is deliberately stricter or finer. Nowhere is it
# more lenient: a class other than FAIL (WARN, ROBUSTNESS, N/A) is given only where the spec's own words
# say so, and ROBUSTNESS fails the run by default (--fail-on FAIL,ROBUSTNESS,ERROR).
STRICTNESS_NOTES: tuple[tuple[str, str], ...] = (
    (
        "Every answer",
        "every 4xx JSON body is validated against §Error Codes (known code, `errors` array), every `Warning` header against §Warnings, and a 5xx anywhere is a ROBUSTNESS finding; the official suite looks at the status code of the request it is about.",
    ),
    (
        "Pull › blobs and manifests",
        "the bytes are compared with what was pushed, `Docker-Content-Digest` and `Content-Length` must match them, and a manifest's `Content-Type` must be its media type (SHOULD: WARN); the official suite checks the status.",
    ),
    (
        "Pull › Error codes › 400 response body",
        "keelhaul accepts 400 (with an OCI body) or 404 like the official suite; a 500 there has no spec sentence against it and is reported as ROBUSTNESS (which fails the run by default) rather than FAIL.",
    ),
    (
        "Push › Blob Upload Chunked",
        "the `Range` header of each chunk answer is checked (`0-<end>`), a stale session's GET must answer 204 with Location and Range, and malformed ranges (hypothesis-generated) must be refused; the official suite checks status codes.",
    ),
    (
        "Push › Manifest Upload",
        "the manifest is pulled back byte for byte (whitespace, key order and unknown fields), re-pushing a tag must move it, and a digest that does not match the body must be refused; the official suite checks the status.",
    ),
    (
        "Push › Cross-Repository Blob Mount",
        "a 201 must carry Location exactly /v2/<name>/blobs/<digest> and the blob must then be pullable there; without `from`, the profile's (or the probe's) `automatic_crossmount` picks 201 or 202, as the official suite's OCI_AUTOMATIC_CROSSMOUNT does.",
    ),
    (
        "Content Discovery › listing tags",
        "the list must be sorted, `n=0` must be empty with no Link, `last` must exclude itself, and a Link header is followed; the official suite v1.1.1 checks n and last counts only.",
    ),
    (
        "Content Discovery › listing references",
        "the referrers `Content-Type` must be exactly `application/vnd.oci.image.index.v1+json` (OCI-DISC-14, as in the official suite), descriptors must carry artifactType (manifest's, else the config's, omitted for an index) and the referrer's annotations, and a filtered answer must send `OCI-Filters-Applied`. Finer: these checks run when the profile declares (or --probe finds) the referrers API, which the spec makes optional (\"If the registry supports the referrers API\"); otherwise they are N/A and OCI-DISC-13 requires the 404 on which clients fall back to the tag schema.",
    ),
    (
        "Content Management",
        "a delete the profile declares must answer 202 and its effect is verified (tags of a deleted manifest gone, other tags kept); a delete it declares disabled must answer 400 or 405 with any error code and leave the content (OCI-MGMT-5/6/7), where the official suite accepts 400/405 only for tags.",
    ),
)


def checks_by_requirement(suite_dir: Path = SUITE_DIR) -> dict[str, list[str]]:
    """Requirement ID -> `module.py::test_name` of every check naming it (read from the source)."""
    found: dict[str, list[str]] = defaultdict(list)
    for folder in CHECK_DIRS:
        for path in sorted((suite_dir / folder).glob("test_*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                    continue
                for decorator in node.decorator_list:
                    if (
                        isinstance(decorator, ast.Call)
                        and isinstance(decorator.func, ast.Attribute)
                        and decorator.func.attr == "req"
                    ):
                        for arg in decorator.args:
                            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                                found[arg.value].append(f"{folder}/{path.name}::{node.name}")
    return dict(found)


def requirements_by_official(catalogue: Catalogue) -> dict[str, list[str]]:
    mapping: dict[str, list[str]] = defaultdict(list)
    for requirement in catalogue:
        for spec in requirement.official:
            mapping[spec].append(requirement.id)
    return dict(mapping)


def render_mapping(catalogue: Catalogue | None = None, checks: dict[str, list[str]] | None = None) -> str:
    catalogue = catalogue or load_catalogue()
    checks = checks if checks is not None else checks_by_requirement()
    by_official = requirements_by_official(catalogue)
    lines = [
        "# Official OCI conformance suite v1.1.1 → keelhaul",
        "",
        "Generated by `python -m conformance.mapping` from conformance/requirements.toml and the",
        "`req` markers of the checks; tests/conformance fails when this file is stale.",
        "",
        "Each spec of the official suite (opencontainers/distribution-spec tag v1.1.1, `conformance/0[1-4]_*.go`,",
        "written `Workflow › Context › Specify`; specs defined twice for the two teardown orders are listed once)",
        "maps to the requirement IDs that carry it and to the checks that verify those IDs. Setup and teardown",
        "specs of the official suite are pushes and deletes: keelhaul checks them as such (fixtures push with",
        "the same calls, and the delete checks assert the answers), instead of relying on test order.",
        "",
        "| Official spec | Requirement(s) | keelhaul check(s) |",
        "|---|---|---|",
    ]
    for spec in OFFICIAL_SPECS:
        ids = by_official.get(spec, [])
        tests = sorted({test for requirement_id in ids for test in checks.get(requirement_id, [])})
        shown = "<br>".join(f"`{t}`" for t in tests) or "**none**"
        lines.append(f"| {spec} | {', '.join(ids) or '**none**'} | {shown} |")
    lines += [
        "",
        "## Where keelhaul is stricter or finer",
        "",
        "Every official spec above maps to checks at least as strict on the same request. Where they differ:",
        "",
        *(f"- **{where}**: {note}" for where, note in STRICTNESS_NOTES),
    ]
    lines += [
        "",
        "## Beyond the official suite",
        "",
        "Requirements keelhaul checks that the official suite v1.1.1 does not assert (it misses, for example, a",
        "dropped `Docker-Content-Digest`, a corrupted blob body, a wrong manifest `Content-Type`, unsorted tags,",
        "`n=0`, `OCI-Filters-Applied`, and every bad-input case of failure-modes §4):",
        "",
        "| Requirement | Level | Promise | keelhaul check(s) |",
        "|---|---|---|---|",
    ]
    for requirement in catalogue:
        if not requirement.id.startswith("OCI-") or requirement.official or requirement.parent is None:
            continue
        shown = "<br>".join(f"`{t}`" for t in checks.get(requirement.id, [])) or "**none**"
        lines.append(f"| {requirement.id} | {requirement.level} | {requirement.text} | {shown} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_mapping(), end="")
