"""`n` / `last` paging for tag lists and the catalog (the HTTP layer announces more with `Link`).

`last` is exclusive; results are in byte order; `n=0` gives an empty list and no Link (spec MUST);
a malformed `n` is 400; an `n` above the page cap is clamped and the Link says where to go on.
Nothing is ever allocated in proportion to `n` (CVE-2023-2253).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reference_server.registry.errors import ErrorCode, OCIError

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Page:
    n: int | None  # None: the caller asked for everything
    last: str | None


def parse_page(query: Mapping[str, str]) -> Page:
    """Read `n` and `last` from a request's query mapping."""
    raw_n = query.get("n")
    last = query.get("last")
    n: int | None = None
    if raw_n is not None:
        if not (0 < len(raw_n) <= 12 and raw_n.isascii() and raw_n.isdigit()):
            raise OCIError(
                ErrorCode.UNSUPPORTED,
                "pagination parameter n must be a non-negative integer",
                status=400,
                detail={"n": raw_n[:40]},
            )
        n = int(raw_n)
    return Page(n, last or None)


def page_limit(page: Page, default: int | None) -> int | None:
    """How many items to return at most: n clamped to MAX_PAGE, or `default` when n is absent."""
    if page.n is None:
        return default
    return min(page.n, MAX_PAGE)
