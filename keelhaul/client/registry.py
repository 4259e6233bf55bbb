"""`RegistryClient`: one httpx client plus the Docker token flow, used by every part of keelhaul.

It never raises for an HTTP status: conformance checks need to see every answer as it came. It does
raise httpx transport errors (connection refused, timeouts), which are not answers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import httpx

from keelhaul import __version__
from keelhaul.client import media_types, uploads
from keelhaul.client.auth import Challenge, Credentials, ScopeForms, TokenCache, parse_challenge, request_key
from keelhaul.client.content import BlobSource
from keelhaul.client.ledger import BlobLedger
from keelhaul.client.recorder import (
    BODY_TEXT_LIMIT,
    Exchange,
    ExchangeRecorder,
    is_text_type,
    redact_headers,
    redact_text,
    redact_url,
)
from keelhaul.client.requester import Body
from keelhaul.client.uploads import UploadResult
from keelhaul.client.urls import query_string

# httpx logs every request at INFO; a load run would drown in it.
logging.getLogger("httpx").setLevel(logging.WARNING)

DEFAULT_TIMEOUT = httpx.Timeout(30, read=600, write=600)
USER_AGENT = f"keelhaul/{__version__}"


class _NoCookies(httpx.Cookies):
    """Cookies that are never kept. Registries do not use them, and for every response httpx builds a
    urllib request and an email message to look for them: a sixth of the client's CPU per request."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _HttpClient(httpx.Client):
    """httpx.Client without a cookie jar (see _NoCookies)."""

    @functools.cached_property
    def _no_cookies(self) -> _NoCookies:
        return _NoCookies()  # one per client: httpx asks for the cookies twice on every request

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        return None


class _CountingBody:
    """Wraps a body iterator to count the bytes actually sent (for the record)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = pieces
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            self.sent += len(piece)
            yield piece


@dataclass(frozen=True)
class _HttpOptions:
    """How the client was built, so `with_credentials` builds its sibling the same way."""

    timeout: httpx.Timeout | float
    headers: dict[str, str] | None
    follow_redirects: bool
    verify: bool
    transport: httpx.BaseTransport | None


class RegistryClient:
    """A thin layer over one `httpx.Client`, speaking to one registry as one identity."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        recorder: ExchangeRecorder | None = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
        scope_forms: ScopeForms | None = None,
        blob_ledger: BlobLedger | None = None,
    ) -> None:
        """`scope_forms`: what this registry's challenges showed, shared by clients of one registry
        (a new one when not given). `blob_ledger`: the blobs a run put into repositories it created,
        shared by the run's clients (none: every push asks HEAD first)."""
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.recorder = recorder
        self.tokens = TokenCache()
        self.scope_forms = scope_forms if scope_forms is not None else ScopeForms()
        self.blob_ledger = blob_ledger
        self.last_challenge: Challenge | None = None
        self.last_token_response: httpx.Response | None = None
        self._basic_mode = False
        self._options = _HttpOptions(timeout, headers, follow_redirects, verify, transport)
        self._http = _HttpClient(
            timeout=timeout,
            # identity: blob bytes must arrive exactly as stored, never transparently decoded
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})},
            follow_redirects=follow_redirects,
            verify=verify,
            transport=transport,
        )

    # ---- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def with_credentials(self, credentials: Credentials | None) -> RegistryClient:
        """Another client for the same registry and recorder, acting as someone else."""
        options = self._options
        return RegistryClient(
            self.base_url,
            credentials=credentials,
            recorder=self.recorder,
            timeout=options.timeout,
            headers=options.headers,
            follow_redirects=options.follow_redirects,
            verify=options.verify,
            transport=options.transport,
            scope_forms=self.scope_forms,
            blob_ledger=self.blob_ledger,
        )

    # ---- core ------------------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path (`/v2/...`) or an absolute/relative `Location`."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url)

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
    ) -> httpx.Response:
        """Send one request, answering an auth challenge once. Never raises for an HTTP status.

        - `content`: bytes, a zero-argument callable returning a fresh byte iterator (replayable),
          or an iterable (sent once). Iterables are streamed; pass `content_length` to send a
          `Content-Length` instead of chunked encoding.
        - An explicit `Authorization` in `headers` is sent as is and no challenge is answered.
        - `scope` overrides the challenge's scope in the token request.
        - `stream=True` leaves the body unread: iterate and close the response yourself.
        - `authenticate=False` sends no credentials and answers no challenge (anonymous checks).
        """
        url = self.url(path_or_url)
        headers = dict(headers or {})
        explicit_auth = not authenticate or any(name.lower() == "authorization" for name in headers)
        key = request_key(method, urlsplit(url).path)
        make_body, length, replayable = _body_factory(content, content_length)
        if length is not None and not any(name.lower() == "content-length" for name in headers):
            headers["Content-Length"] = str(length)
        if not explicit_auth:
            preemptive = self._preemptive_auth(key, scope) or self._predicted_auth(key, url)
            if preemptive:
                headers["Authorization"] = preemptive
        response = self._send(method, url, headers, make_body(), stream)
        if response.status_code != 401 or explicit_auth:
            return response
        challenge = parse_challenge(response.headers.get("www-authenticate"))
        if challenge is None:
            return response
        self.last_challenge = challenge
        answer = self._answer_challenge(challenge, key, scope, url, headers.get("Authorization"))
        if answer is None or not replayable:
            return response
        response.close()
        headers["Authorization"] = answer
        return self._send(method, url, headers, make_body(), stream)

    def challenge(self) -> Challenge | None:
        """The registry's auth challenge: an unauthenticated `GET /v2/`, its `WWW-Authenticate` parsed
        (None when the registry lets anonymous callers in). Feed it to `fetch_token`."""
        response = self.request("GET", "/v2/", authenticate=False)
        if response.status_code != 401:
            return None
        found = parse_challenge(response.headers.get("www-authenticate"))
        if found is not None:
            self.last_challenge = found
        return found

    def _preemptive_auth(self, key: tuple[str, str], scope: str | None) -> str | None:
        if self._basic_mode and self.credentials:
            return self.credentials.basic_header()
        wanted = scope or self.tokens.hint(key)
        token = self.tokens.get(wanted) if wanted is not None else None
        return f"Bearer {token}" if token else None

    def _predicted_auth(self, key: tuple[str, str], url: str) -> str | None:
        """A token fetched before the first request to a new repository, for the scope this registry's
        earlier challenges showed for this kind of request. It saves the 401 round trip every new
        repository costs otherwise (a third of a conformance run's requests); a wrong guess costs
        nothing more than that round trip, since the registry's challenge then decides. Only for a
        client with credentials: an anonymous request must reach the registry as anonymous clients
        send it, without a token."""
        challenge = self.scope_forms.challenge
        if self.credentials is None or challenge is None:
            return None
        predicted = self.scope_forms.predicted_scope(key)
        if predicted is None:
            return None
        token = self.fetch_token(challenge, predicted, url)
        if token is None:
            return None
        self.tokens.set_hint(key, predicted)
        return f"Bearer {token}"

    def _answer_challenge(
        self, challenge: Challenge, key: tuple[str, str], scope: str | None, url: str, rejected: str | None
    ) -> str | None:
        if challenge.scheme == "basic":
            if self.credentials is None or rejected == self.credentials.basic_header():
                return None
            self._basic_mode = True
            return self.credentials.basic_header()
        if challenge.scheme != "bearer" or not challenge.realm:
            return None
        wanted = scope or challenge.scope or ""
        if scope is None:
            self.scope_forms.learn(key, challenge)
        self.tokens.set_hint(key, wanted)
        cached = self.tokens.get(wanted)
        if cached and rejected != f"Bearer {cached}":
            return f"Bearer {cached}"
        self.tokens.drop(wanted)
        token = self.fetch_token(challenge, wanted, url)
        return f"Bearer {token}" if token else None

    def fetch_token(self, challenge: Challenge, scope: str, request_url: str | None = None) -> str | None:
        """GET the challenge's realm (Basic credentials if any) for `scope`; cache and return the
        token, or None when the realm refuses (its answer stays in `last_token_response`)."""
        realm = urljoin(request_url or self.base_url + "/", challenge.realm or "")
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", part) for part in scope.split(" ") if part)
        query = "&".join(f"{name}={quote(value, safe=':/,')}" for name, value in params)
        url = realm + (("&" if "?" in realm else "?") + query if query else "")
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.basic_header()
        response = self._send("GET", url, headers, None, False, note="token request")
        self.last_token_response = response
        if response.status_code != 200:
            return None
        try:
            document = response.json()
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            return None
        expires_in = document.get("expires_in")
        self.tokens.put(scope, token, expires_in if isinstance(expires_in, int | float) else None)
        return token

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Iterable[bytes] | bytes | None,
        stream: bool,
        note: str | None = None,
    ) -> httpx.Response:
        counting = _CountingBody(body) if body is not None and not isinstance(body, bytes) else None
        request = self._http.build_request(method, url, headers=headers, content=counting or body)
        started = time.perf_counter()
        try:
            response = self._http.send(request, stream=stream)
        except httpx.HTTPError as error:
            self._record(request, None, counting, body, started, note, error, stream)
            raise
        self._record(request, response, counting, body, started, note, None, stream)
        return response

    def _record(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        counting: _CountingBody | None,
        body: object,
        started: float,
        note: str | None,
        error: Exception | None,
        stream: bool,
    ) -> None:
        if self.recorder is None:
            return
        body_size = counting.sent if counting else (len(body) if isinstance(body, bytes) else None)
        exchange = Exchange(
            method=request.method,
            url=redact_url(str(request.url)),
            request_headers=redact_headers(request.headers),
            request_body_size=body_size,
            status=response.status_code if response is not None else None,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
            note=note,
            error=f"{type(error).__name__}: {error}" if error else None,
        )
        if response is not None:
            exchange.response_headers = redact_headers(response.headers)
            if not stream:
                data = response.content
                exchange.response_body_size = len(data)
                if data and is_text_type(response.headers.get("content-type")):
                    text = data[:BODY_TEXT_LIMIT].decode("utf-8", "replace")
                    exchange.response_text = redact_text(text)
            else:
                exchange.response_text = "<streamed: not read by the client at this point>"
        self.recorder.add(exchange)

    # ---- convenience: base, blobs, manifests, listings --------------------------------------------
    def ping(self) -> httpx.Response:
        return self.request("GET", "/v2/")

    def head_blob(self, repo: str, digest: str) -> httpx.Response:
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}")

    def get_blob(
        self, repo: str, digest: str, *, byte_range: tuple[int, int] | str | None = None, stream: bool = False
    ) -> httpx.Response:
        """`byte_range` is (first, last) inclusive or a raw `Range` header value."""
        headers = {}
        if byte_range is not None:
            value = byte_range if isinstance(byte_range, str) else f"bytes={byte_range[0]}-{byte_range[1]}"
            headers["Range"] = value
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", headers=headers, stream=stream)

    def delete_blob(self, repo: str, digest: str) -> httpx.Response:
        return self.request("DELETE", f"/v2/{repo}/blobs/{digest}")

    def head_manifest(
        self, repo: str, ref: str, accept: str | Iterable[str] = media_types.ALL_MANIFEST_TYPES
    ) -> httpx.Response:
        return self.request("HEAD", f"/v2/{repo}/manifests/{ref}", headers=_accept(accept))

    def get_manifest(
        self, repo: str, ref: str, accept: str | Iterable[str] = media_types.ALL_MANIFEST_TYPES
    ) -> httpx.Response:
        return self.request("GET", f"/v2/{repo}/manifests/{ref}", headers=_accept(accept))

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> httpx.Response:
        return self.request(
            "PUT", f"/v2/{repo}/manifests/{ref}", headers={"Content-Type": media_type}, content=body
        )

    def delete_manifest(self, repo: str, ref: str) -> httpx.Response:
        return self.request("DELETE", f"/v2/{repo}/manifests/{ref}")

    def list_tags(self, repo: str, n: int | None = None, last: str | None = None) -> httpx.Response:
        return self.request("GET", f"/v2/{repo}/tags/list" + query_string(n=n, last=last))

    def catalog(self, n: int | None = None, last: str | None = None) -> httpx.Response:
        return self.request("GET", "/v2/_catalog" + query_string(n=n, last=last))

    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> httpx.Response:
        return self.request(
            "GET", f"/v2/{repo}/referrers/{digest}" + query_string(artifactType=artifact_type)
        )

    def mount_blob(self, repo: str, digest: str, from_repo: str | None = None) -> httpx.Response:
        """POST with `mount=` (and `from=` when given): 201 when mounted, 202 with a session if not."""
        path = f"/v2/{repo}/blobs/uploads/" + query_string(mount=digest, **{"from": from_repo})
        return self.request("POST", path, content=b"")

    # ---- uploads (keelhaul.client.uploads, which needs only `request`) --------------------------------
    def upload_monolithic(self, repo: str, data: bytes | BlobSource) -> UploadResult:
        return uploads.upload_monolithic(self, repo, data)

    def upload_single_post(self, repo: str, data: bytes | BlobSource) -> UploadResult:
        return uploads.upload_single_post(self, repo, data)

    def upload_chunked(
        self,
        repo: str,
        source: bytes | BlobSource,
        chunk_size: int,
        *,
        max_resumes: int = 3,
        honor_min_chunk: bool = True,
        keep_responses: bool = True,
    ) -> UploadResult:
        return uploads.upload_chunked(
            self,
            repo,
            source,
            chunk_size,
            max_resumes=max_resumes,
            honor_min_chunk=honor_min_chunk,
            keep_responses=keep_responses,
        )

    def upload_streamed(
        self,
        repo: str,
        source: bytes | BlobSource,
        *,
        chunked_encoding: bool = False,
        keep_responses: bool = True,
    ) -> UploadResult:
        return uploads.upload_streamed(
            self, repo, source, chunked_encoding=chunked_encoding, keep_responses=keep_responses
        )


def _accept(accept: str | Iterable[str]) -> dict[str, str]:
    return {"Accept": accept if isinstance(accept, str) else ", ".join(accept)}


def _body_factory(
    content: Body | None, content_length: int | None
) -> tuple[Callable[[], Iterable[bytes] | bytes | None], int | None, bool]:
    """(make a fresh body, Content-Length to announce, whether the body can be sent twice).

    Non-empty bytes are sent as a one-element iterator with an explicit length: httpx keeps a
    reference cycle with `bytes` bodies that holds them until the cyclic GC runs (encode/httpx#3734).
    """
    if content is None:
        return (lambda: None), content_length, True
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
        if not data:
            return (lambda: b""), None, True
        return (lambda: iter((data,))), len(data) if content_length is None else content_length, True
    if callable(content):
        return content, content_length, True
    spent = False

    def once() -> Iterable[bytes]:
        nonlocal spent
        if spent:
            raise RuntimeError("a one-shot request body cannot be sent twice")
        spent = True
        return content

    return once, content_length, False
