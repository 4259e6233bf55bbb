"""English names for the sections of the Spanish ghcr.io page the catalogue quotes.

The suite quotes ghcr.io's documented promises from the Spanish page kept in the spec folder, so the
catalogue's `document` and `anchor` are Spanish. A report's reader needs English headings; the Spanish
sentence itself stays quoted as the source. The names are those of GitHub's English page "Working with
the Container registry".
"""

from __future__ import annotations

GHCR_PAGE = "ghcr.io: Trabajar con el registro de contenedores"
GHCR_PAGE_ENGLISH = "ghcr.io: Working with the Container registry"
GHCR_SECTIONS = {
    "§Acerca del soporte": "§About Container registry support",
    "§Autenticarse": "§Authenticating to the Container registry",
    "§Autenticación en un flujo de trabajo": "§Authenticating in a GitHub Actions workflow",
    "§Subir imágenes de contenedor": "§Pushing container images",
    "§Extraer imágenes de contenedor": "§Pulling container images",
    "§Etiquetado de imágenes de contenedor": "§Labelling container images",
    "§Solución de problemas": "§Troubleshooting",
}
SPANISH_DOCUMENTS = frozenset({GHCR_PAGE})


def english_citation(document: str | None, anchor: str | None) -> str:
    """`ghcr.io: Working with the Container registry §Troubleshooting` for the Spanish page's
    `§Solución de problemas`; other documents unchanged; '' when there is no document."""
    if not document:
        return ""
    if document != GHCR_PAGE:
        return f"{document} {anchor or ''}".strip()
    return f"{GHCR_PAGE_ENGLISH} {GHCR_SECTIONS.get(anchor or '', anchor or '')}".strip()


def english_source(source: str) -> str:
    """A catalogue `source` such as `GHCR §Autenticarse` with the section named in English."""
    for spanish, english in GHCR_SECTIONS.items():
        source = source.replace(spanish, english)
    return source


def english_cited(cited: str | None) -> str:
    """A finding's `cited` (document and anchor in one string) with the ghcr.io page named in English."""
    if not cited or not cited.startswith(GHCR_PAGE):
        return cited or ""
    return english_citation(GHCR_PAGE, cited.removeprefix(GHCR_PAGE).strip())


def quote_language(document: str | None) -> str:
    """The language of a quoted sentence, for the `lang` attribute around it."""
    return "es" if document in SPANISH_DOCUMENTS else "en"


def cited_language(cited: str | None) -> str:
    """The language of a finding's sentence, from its `cited` (document and anchor in one string)."""
    return next((quote_language(d) for d in SPANISH_DOCUMENTS if (cited or "").startswith(d)), "en")
