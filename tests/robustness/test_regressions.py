"""Exact sequences the robustness tests found, kept as plain regression tests (fast, no hypothesis)."""

from __future__ import annotations

import hashlib

import httpx

EMPTY = "sha256:" + hashlib.sha256(b"").hexdigest()


def test_repeated_empty_single_post_on_one_connection_answers(live_server) -> None:  # type: ignore[no-untyped-def]
    """Found by test_stateful (20:38): the second empty single-POST on a keep-alive connection made
    the server's event loop spin forever (receive_body looped on an empty chunk), hanging everyone."""
    with httpx.Client(base_url=live_server.url, timeout=10) as http:
        for _ in range(3):
            response = http.post(f"/v2/regress/empty/blobs/uploads/?digest={EMPTY}", content=b"")
            assert response.status_code == 201, response.text
        assert http.get("/v2/").status_code == 200
