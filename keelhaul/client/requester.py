"""What the upload helpers need from a client: one `request` call. `RegistryClient` provides it;
naming it here lets `uploads` sit below `registry` instead of importing it back."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import httpx

# A request body: bytes, a factory of byte iterators (replayable, so it survives an auth retry), or a
# one-shot iterable (streamed once; a 401 on it is returned as is after the token is fetched).
Body = bytes | Callable[[], Iterable[bytes]] | Iterable[bytes]


class Requester(Protocol):
    """Sends one request to a registry and returns its answer, whatever the status."""

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: dict[str, str] | None = None,
        content: Body | None = None,
        content_length: int | None = None,
        scope: str | None = None,
        stream: bool = False,
        authenticate: bool = True,
    ) -> httpx.Response: ...
