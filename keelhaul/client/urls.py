"""Query strings for registry URLs, built by hand: httpx `params=` replaces a URL's query, and an
upload `Location` carries the server's session state in its query (encode/httpx#3433)."""

from __future__ import annotations

from urllib.parse import quote


def query_string(**params: object) -> str:
    """`?a=1&b=x` from the non-None params, values percent-encoded (never httpx `params=`)."""
    # "+" must be escaped: servers decode it as a space in a query (artifactType=application/x+json)
    pairs = [f"{key}={quote(str(value), safe=':/,@')}" for key, value in params.items() if value is not None]
    return ("?" + "&".join(pairs)) if pairs else ""


def add_query(url: str, **params: object) -> str:
    """Append params to a URL that may already carry a query (upload Locations do)."""
    extra = query_string(**params)
    if not extra:
        return url
    return url + ("&" + extra[1:] if "?" in url else extra)
