"""What the package page shows, read from a pushed image: source, description and licenses.

Sources, later ones winning: the image config's labels (Dockerfile LABEL, `docker build --label`,
LBL-4), then the manifest's annotations, which is where a multi-arch index carries them (LBL-5).
Over-long values never break a push: they are cut to ghcr.io's limits and reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE = "org.opencontainers.image.source"
DESCRIPTION = "org.opencontainers.image.description"
LICENSES = "org.opencontainers.image.licenses"

DESCRIPTION_MAX_CHARS = 512
LICENSES_MAX_CHARS = 256
SOURCE_MAX_CHARS = 2048  # not a ghcr.io limit; just a bound on what we keep

LIMITS = {DESCRIPTION: DESCRIPTION_MAX_CHARS, LICENSES: LICENSES_MAX_CHARS, SOURCE: SOURCE_MAX_CHARS}


@dataclass
class ImageLabels:
    values: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def source(self) -> str | None:
        return self.values.get(SOURCE)

    @property
    def description(self) -> str | None:
        return self.values.get(DESCRIPTION)

    @property
    def licenses(self) -> str | None:
        return self.values.get(LICENSES)


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def read_labels(manifest: dict[str, object], config: dict[str, object] | None) -> ImageLabels:
    result = ImageLabels()
    config_labels = _mapping(_mapping((config or {}).get("config")).get("Labels"))
    annotations = _mapping(manifest.get("annotations"))
    for origin, found in (("image config label", config_labels), ("manifest annotation", annotations)):
        for key, limit in LIMITS.items():
            if key not in found:
                continue
            value = found[key]
            if not isinstance(value, str):
                result.warnings.append(f"{origin} {key} ignored: its value is not text")
                continue
            if len(value) > limit:
                result.warnings.append(
                    f"{origin} {key} is {len(value)} characters; stored cut to the limit of {limit}"
                )
                value = value[:limit]
            result.values[key] = value
    return result


def normalise_url(url: str) -> str:
    """For matching a source label with a repository's URL: case, trailing `/` and `.git` ignored."""
    cleaned = url.strip().lower().rstrip("/")
    if cleaned.endswith(".git"):
        cleaned = cleaned[: -len(".git")]
    for prefix in ("https://", "http://"):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
            break
    return cleaned
