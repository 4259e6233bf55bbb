"""The benchmark's load generators: curl for blob pushes and pulls, wrk for manifest GETs.

Both are C programs, so the client costs little CPU and never the Python interpreter's; the same
command lines drive both registries. Timings are curl's own `time_total` per request (process start-up
is not counted), summed over the requests an operation needs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

CURL_MAX_SECONDS = 600  # one request, bounded: a 5 GiB body at 10 MB/s would still finish
_HEADERS_MARKER = "\n--headers--\n"
OCTET_STREAM = "application/octet-stream"


class BenchHTTPError(RuntimeError):
    """A request the benchmark relies on did not get the answer the OCI spec promises."""


@dataclass(frozen=True)
class CurlResult:
    status: int
    seconds: float
    uploaded: int
    downloaded: int
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def require_tools() -> None:
    missing = [tool for tool in ("curl", "wrk") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"missing load generator(s): {', '.join(missing)}")


def curl(method: str, url: str, *options: str, timeout: float = CURL_MAX_SECONDS) -> CurlResult:
    """One request; the response body is thrown away (`-o /dev/null`), headers and timings kept.

    `Expect:` is emptied so curl never waits for a `100 Continue` before a body: that wait differs
    between servers and is not what is measured.
    """
    command = [
        "curl",
        "-sS",
        "-X",
        method,
        "-o",
        "/dev/null",
        "-H",
        "Expect:",
        "--max-time",
        f"{timeout:.0f}",
    ]
    command += [*options, "-w", "%{json}" + _HEADERS_MARKER + "%{header_json}", url]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30, check=False)
    if completed.returncode != 0:
        raise BenchHTTPError(f"curl {method} {url}: exit {completed.returncode}: {completed.stderr.strip()}")
    written, header_text = completed.stdout.split(_HEADERS_MARKER, 1)
    info = json.loads(written)
    headers = {name.lower(): values[-1] for name, values in json.loads(header_text).items() if values}
    return CurlResult(
        status=int(info["http_code"]),
        seconds=float(info["time_total"]),
        uploaded=int(info["size_upload"]),
        downloaded=int(info["size_download"]),
        headers=headers,
    )


def _expect(result: CurlResult, status: int, what: str) -> CurlResult:
    if result.status != status:
        raise BenchHTTPError(f"{what}: expected HTTP {status}, got {result.status}")
    return result


def with_query(url: str, **params: str) -> str:
    """`url` with extra query parameters, keeping any it already has (distribution's `_state`)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _upload_location(base_url: str, result: CurlResult, what: str) -> str:
    location = result.header("location")
    if not location:
        raise BenchHTTPError(f"{what}: no Location header")
    return urljoin(base_url + "/", location)


def start_upload(base_url: str, repository: str) -> tuple[str, float]:
    """POST a new upload session; returns its URL and the seconds the request took."""
    result = _expect(
        curl("POST", f"{base_url}/v2/{repository}/blobs/uploads/", "-H", "Content-Length: 0"),
        202,
        f"POST upload in {repository}",
    )
    return _upload_location(base_url, result, "POST upload"), result.seconds


def push_monolithic(base_url: str, repository: str, path: Path, digest: str) -> float:
    """POST a session, then one streamed PUT of the whole file (`-T` streams, `--data-binary` would
    read it into memory first). Returns the seconds spent in both requests."""
    location, seconds = start_upload(base_url, repository)
    result = _expect(
        curl(
            "PUT", with_query(location, digest=digest), "-T", str(path), "-H", f"Content-Type: {OCTET_STREAM}"
        ),
        201,
        f"PUT {digest} to {repository}",
    )
    return seconds + result.seconds


def push_chunked(base_url: str, repository: str, chunk_paths: list[Path], digest: str) -> float:
    """POST, one PATCH per chunk file with its `Content-Range`, following each `Location`, then the
    closing PUT with `?digest=`. Returns the seconds spent in all requests."""
    location, seconds = start_upload(base_url, repository)
    offset = 0
    for chunk in chunk_paths:
        size = chunk.stat().st_size
        result = _expect(
            curl(
                "PATCH",
                location,
                "-T",
                str(chunk),
                "-H",
                f"Content-Type: {OCTET_STREAM}",
                "-H",
                f"Content-Range: {offset}-{offset + size - 1}",
            ),
            202,
            f"PATCH {offset}-{offset + size - 1} in {repository}",
        )
        location = _upload_location(base_url, result, "PATCH")
        seconds += result.seconds
        offset += size
    result = _expect(
        curl(
            "PUT",
            with_query(location, digest=digest),
            "-H",
            "Content-Length: 0",
            "-H",
            f"Content-Type: {OCTET_STREAM}",
        ),
        201,
        f"closing PUT {digest} in {repository}",
    )
    return seconds + result.seconds


def push_small_blob(base_url: str, repository: str, path: Path, digest: str) -> None:
    """Set-up only (not timed): a config or layer blob for the manifest phase."""
    push_monolithic(base_url, repository, path, digest)


def check_blob(base_url: str, repository: str, digest: str, size: int) -> None:
    """After a timed push: the registry must really hold the blob with the right length."""
    result = _expect(
        curl("HEAD", f"{base_url}/v2/{repository}/blobs/{digest}", "-I"),
        200,
        f"HEAD {digest} in {repository}",
    )
    length = result.header("content-length")
    if length is None or int(length) != size:
        raise BenchHTTPError(f"HEAD {digest} in {repository}: Content-Length {length}, expected {size}")


def pull(base_url: str, repository: str, digest: str, size: int) -> float:
    """GET a blob into /dev/null; returns seconds, after checking every byte arrived."""
    return get_file(f"{base_url}/v2/{repository}/blobs/{digest}", size, digest)


def get_file(url: str, size: int, digest: str | None = None) -> float:
    """GET `url` into /dev/null (a blob, or the same file from a static file server); returns
    seconds, after checking every byte arrived and, when the server names one, the digest."""
    result = _expect(curl("GET", url), 200, f"GET {url}")
    if result.downloaded != size:
        raise BenchHTTPError(f"GET {url}: received {result.downloaded} bytes, expected {size}")
    if result.header("docker-content-digest") not in (None, digest):
        raise BenchHTTPError(f"GET {url}: Docker-Content-Digest {result.header('docker-content-digest')}")
    return result.seconds


def put_manifest(base_url: str, repository: str, reference: str, path: Path, media_type: str) -> None:
    _expect(
        curl(
            "PUT",
            f"{base_url}/v2/{repository}/manifests/{reference}",
            "--data-binary",
            f"@{path}",
            "-H",
            f"Content-Type: {media_type}",
        ),
        201,
        f"PUT manifest {repository}:{reference}",
    )


def check_manifest_get(url: str, media_type: str, digest: str) -> None:
    """The exact request wrk repeats must succeed and return the stored manifest."""
    result = _expect(curl("GET", url, "-H", f"Accept: {media_type}"), 200, f"GET {url}")
    if result.header("docker-content-digest") != digest:
        raise BenchHTTPError(f"GET {url}: Docker-Content-Digest {result.header('docker-content-digest')}")
    if (result.header("content-type") or "").split(";")[0].strip() != media_type:
        raise BenchHTTPError(f"GET {url}: Content-Type {result.header('content-type')}")


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


_UNIT_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(output: str, percentile: str) -> float | None:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    return float(match.group(1)) * _UNIT_TO_MS[match.group(2)] if match else None


def wrk_get(url: str, accept: str, connections: int, threads: int, seconds: int) -> WrkResult:
    """`wrk -cN -tT -dS --latency` with an `Accept` header; parses its summary."""
    command = [
        "wrk",
        f"-c{connections}",
        f"-t{threads}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        f"Accept: {accept}",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    output = completed.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if completed.returncode != 0 or rate is None or total is None:
        raise BenchHTTPError(
            f"wrk {url}: exit {completed.returncode}: {output[-400:]} {completed.stderr[-400:]}"
        )
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(count) for count in errors.groups()) if errors else 0,
        latency_p50_ms=_latency_ms(output, "50"),
        latency_p99_ms=_latency_ms(output, "99"),
    )
