"""Feature detection before judgement: what optional behaviours a registry has, found by asking it.

The spec lets a registry go without the referrers API, tag / manifest / blob deletion, automatic
cross-mount and single-POST uploads. `keelhaul probe URL` writes a profile from what it finds, and
`keelhaul check --probe` uses the probed values instead of the profile's, so an absent feature makes
its checks N/A and the checks of how a registry without it must answer run instead. Each finding
carries its evidence (the request and the answer). Probing writes one small image into
`<namespace>/keelhaul-probe-<id>` and deletes what it can.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from conformance import content
from keelhaul.client import RegistryClient
from keelhaul.client import media_types as mt
from keelhaul.client.images import Built

PROBED = (
    "referrers_api",
    "tag_delete",
    "manifest_delete",
    "blob_delete",
    "automatic_crossmount",
    "single_post_upload",
)


@dataclass(frozen=True)
class Finding:
    """Whether the target has `feature`, and the exchange that shows it (None: could not tell)."""

    feature: str
    present: bool | None
    evidence: str


def _answer(response: Any) -> str:
    request = response.request
    return f"{request.method} {request.url.path} -> {response.status_code}"


def _decide(feature: str, response: Any, present: set[int], absent: set[int]) -> Finding:
    status = response.status_code
    verdict = True if status in present else False if status in absent else None
    return Finding(feature, verdict, _answer(response))


def probe(client: RegistryClient, namespace: str) -> list[Finding]:
    """Ask the registry behind `client` about each optional feature (see PROBED)."""
    stamp = secrets.token_hex(3)
    repo = f"{namespace.strip('/')}/keelhaul-probe-{stamp}" if namespace else f"keelhaul-probe-{stamp}"
    other = f"{repo}-mount"
    image = content.image(f"probe-{stamp}")
    for blob in image.blobs:
        client.upload_monolithic(
            repo, blob.body if isinstance(blob, Built) else blob.source
        ).raise_for_status()
    client.put_manifest(repo, "probe", image.manifest.body, image.manifest.media_type).raise_for_status()
    findings = []

    referrers = client.referrers(repo, image.manifest.digest)
    finding = _decide("referrers_api", referrers, {200}, {404})
    if finding.present and referrers.headers.get("content-type", "").split(";")[0].strip() != mt.OCI_INDEX:
        finding = Finding("referrers_api", False, finding.evidence + " (not an image index)")
    findings.append(finding)

    single = client.upload_single_post(repo, f"keelhaul probe single post {stamp}".encode())
    findings.append(_decide("single_post_upload", single.responses[-1], {201}, {202}))
    _cancel(client, single.responses[-1])

    mount = client.mount_blob(other, image.config.digest)
    findings.append(_decide("automatic_crossmount", mount, {201}, {202}))
    _cancel(client, mount)
    if mount.status_code == 201:
        client.delete_blob(other, image.config.digest)

    client.put_manifest(repo, "probe-tag", image.manifest.body, image.manifest.media_type).raise_for_status()
    findings.append(_decide("tag_delete", client.delete_manifest(repo, "probe-tag"), {202}, {400, 405}))
    findings.append(
        _decide("manifest_delete", client.delete_manifest(repo, image.manifest.digest), {202}, {400, 405})
    )
    for blob in image.blobs:
        deleted = client.delete_blob(repo, blob.digest)
        if blob is image.config:
            findings.append(_decide("blob_delete", deleted, {202}, {400, 405}))
    return findings


def _cancel(client: RegistryClient, response: Any) -> None:
    """Close an upload session the probe opened (a 202 with a Location)."""
    location = response.headers.get("location")
    if response.status_code == 202 and location:
        client.request("DELETE", location)


def profile_text(url: str, namespace: str, findings: list[Finding]) -> str:
    """A TOML profile declaring what the probe found; unknown answers stay undeclared (with why)."""
    lines = [
        "# written by `keelhaul probe`: each feature as the registry answered, with the evidence",
        "[target]",
        f"name = {json.dumps(url.split('://', 1)[-1])}",
        'kind = "generic"',
        f"url = {json.dumps(url)}",
        f"namespace = {json.dumps(namespace)}",
        "",
        "[features]",
    ]
    for finding in findings:
        if finding.present is None:
            lines.append(f"# {finding.feature}: undecided ({finding.evidence})")
        else:
            lines.append(f"{finding.feature} = {str(finding.present).lower()}  # {finding.evidence}")
    return "\n".join(lines) + "\n"


def apply(features: Any, findings: list[Finding]) -> tuple[dict[str, bool], list[str]]:
    """The probed feature values to use, and one note per finding (saying where it overrides the profile)."""
    values, notes = {}, []
    for finding in findings:
        declared = getattr(features, finding.feature)
        if finding.present is None:
            notes.append(
                f"probe: {finding.feature} undecided ({finding.evidence}); profile's {declared} kept"
            )
            continue
        values[finding.feature] = finding.present
        change = f" (profile declared {declared})" if bool(declared) != finding.present else ""
        notes.append(f"probe: {finding.feature} = {finding.present}{change}: {finding.evidence}")
    return values, notes
