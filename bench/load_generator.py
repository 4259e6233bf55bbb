"""Is the load generator fast enough? One Locust worker process against curl, into the same sink.

Both push the same chunked layers (POST, PATCH per chunk with Content-Range, PUT ?digest=) into
bench/load_sink.py, which discards bodies, so the slower side is the client. curl streams ready-made
chunk files (tmpfs) and hashes nothing; the Locust process generates every byte and hashes it while
sending. The issue's goal: generator MB/s >= 0.5 x curl MB/s. It also reports the generator's peak
RSS (goal < 200 MB per worker whatever the layer size) and whether the generator is the bottleneck
(its process at ~one full core while the sink idles).

    python bench/load_generator.py                          # 3 x 1 GiB layers in 16 MiB chunks, 1 user
    python bench/load_generator.py --layer-size 10GB --layers 1 --skip-curl    # the RSS check
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data
import curl_http
from load_sink import READY_PREFIX

from load.sizes import format_size, parse_size

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "load" / "locustfile.py"
RATIO_GOAL = 0.5
RSS_GOAL = 200 * 10**6
MB = 10**6
# Sampling reads two /proc files per process, nothing else: walking all of /proc (as a process-tree
# monitor does) costs enough CPU on a small shared machine to slow the generator it measures.
SAMPLE_SECONDS = 0.5
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds of all waited-for child processes (the curl runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def peak_rss_bytes(pid: int) -> int:
    """The process's lifetime peak RSS (VmHWM), so sampling cannot miss a short peak."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_sink() -> tuple[subprocess.Popen[str], str]:
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("load_sink.py"))], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    line = sink.stdout.readline()
    if not line.startswith(READY_PREFIX):
        sink.kill()
        raise SystemExit(f"load sink did not start: {line!r}")
    return sink, line[len(READY_PREFIX) :].strip()


def curl_phase(url: str, layer_size: int, chunk_size: int, layers: int, workdir: Path) -> dict[str, float]:
    """curl pushes the same layer `layers` times; MB/s counts only time inside requests."""
    blob = bench_data.write_blob_file(workdir / "layer", layer_size, seed=1)
    chunks = bench_data.split_into_chunks(blob, chunk_size, workdir / "chunks")
    blob.path.unlink()
    started, cpu_before = time.perf_counter(), children_cpu_seconds()
    seconds = sum(curl_http.push_chunked(url, f"bench/curl{n}", chunks, blob.digest) for n in range(layers))
    wall, cpu = time.perf_counter() - started, children_cpu_seconds() - cpu_before
    for chunk in chunks:
        chunk.unlink()
    total = layer_size * layers
    return {
        "bytes": total,
        "request_seconds": seconds,
        "mb_per_s": total / MB / seconds,
        "wall_mb_per_s": total / MB / wall,
        "cpu_seconds_per_gb": cpu / (total / 10**9),  # every curl process, start-up included
    }


def generator_phase(
    url: str, layer_size: int, chunk_size: int, layers: int, users: int, workdir: Path, sink_pid: int
) -> dict[str, float]:
    """One Locust process (no --processes) runs ChunkedLayerUpload until `layers` layers committed."""
    report_dir = workdir / "locust"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--host",
        url,
        "-u",
        str(users),
        "-r",
        str(users),
        "--layer-size",
        str(layer_size),
        "--chunk-size",
        str(chunk_size),
        "--stop-after-bytes",
        str(layer_size * layers),
        "--stop-timeout",
        "900",
        "--run-time",
        "30m",
        "--keelhaul-report-dir",
        str(report_dir),
        "--loglevel",
        "WARNING",
        "ChunkedLayerUpload",
    ]
    started = time.perf_counter()
    log_path = workdir / "locust.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    peak_rss = 0
    samples: list[tuple[float, float, float]] = []  # (epoch, generator CPU s, sink CPU s)
    while process.poll() is None:
        peak_rss = max(peak_rss, peak_rss_bytes(process.pid))
        samples.append((time.time(), cpu_seconds(process.pid), cpu_seconds(sink_pid)))
        time.sleep(SAMPLE_SECONDS)
    wall = time.perf_counter() - started
    summary_path = report_dir / "summary.json"
    if not summary_path.is_file():
        raise SystemExit(
            f"the Locust run wrote no summary; its log ends with:\n{log_path.read_text()[-3000:]}"
        )
    summary = json.loads(summary_path.read_text())
    uploads = summary["uploads"]
    first, last = upload_window(report_dir / "uploads.csv")
    span = last - first
    inside = [sample for sample in samples if first <= sample[0] <= last] or samples[-1:]
    cpu_share = sink_share = 0.0
    if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
        seconds = inside[-1][0] - inside[0][0]
        cpu_share = (inside[-1][1] - inside[0][1]) / seconds
        sink_share = (inside[-1][2] - inside[0][2]) / seconds
    return {
        "exit_code": process.returncode,
        "bytes": uploads["bytes"],
        # like curl's figure: bytes over the time spent inside uploads, from the first POST to the last 201
        "mb_per_s": uploads["bytes"] / MB / span if span else 0.0,
        "run_mean_mb_per_s": summary["throughput"]["mb_per_s"],
        "upload_mb_per_s_p50": (uploads["mb_per_s"] or {}).get("p50", 0.0),
        "chunk_ms_p50": summary["requests"].get("PATCH blob upload chunk", {}).get("p50_ms"),
        "failures": summary["failures"],
        "verified": summary["verification"]["ok"] if summary["verification"] else False,
        "peak_rss_bytes": peak_rss,
        "cpu_share": cpu_share,  # while uploads ran; 1.0 = one full core
        "sink_cpu_share": sink_share,
        "wall_seconds": wall,
    }


def upload_window(uploads_csv: Path) -> tuple[float, float]:
    """(first upload's POST, last upload's 201) as epoch seconds: process start-up and the end-of-run
    verification are left out, as curl's figure leaves out process start-up."""
    with uploads_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return 0.0, 0.0
    starts = [float(row["finished_at"]) - float(row["seconds"]) for row in rows]
    return min(starts), max(float(row["finished_at"]) for row in rows)


def verdict(curl: dict | None, generator: dict) -> list[str]:
    lines = []
    if curl:
        ratio = generator["mb_per_s"] / curl["mb_per_s"]
        lines.append(
            f"ratio generator/curl: {ratio:.2f} (goal >= {RATIO_GOAL}) "
            f"{'OK' if ratio >= RATIO_GOAL else 'BELOW GOAL'}"
        )
        if generator["mb_per_s"] and generator["cpu_share"]:
            generator_cost = generator["cpu_share"] / generator["mb_per_s"] * 1000
            lines.append(
                f"CPU per GB: curl {curl['cpu_seconds_per_gb']:.2f} s, generator {generator_cost:.2f} s "
                f"(does not depend on what else the machine runs; curl hashes nothing)"
            )
    lines.append(
        f"generator peak RSS: {generator['peak_rss_bytes'] / MB:.0f} MB (goal < {RSS_GOAL / MB:.0f} MB) "
        f"{'OK' if generator['peak_rss_bytes'] < RSS_GOAL else 'ABOVE GOAL'}"
    )
    # CPU seconds per GB do not depend on how busy the machine is; they give the rate one process
    # could reach on a core of its own. Measured near that ceiling, the generator is the limit.
    ceiling = generator["mb_per_s"] / generator["cpu_share"] if generator["cpu_share"] else float("inf")
    cost = (
        f"{generator['cpu_share'] / generator['mb_per_s'] * 1000:.2f} CPU s per GB"
        if generator["mb_per_s"]
        else ""
    )
    if generator["cpu_share"] >= 0.85:
        lines.append(
            f"the GENERATOR is the bottleneck: it used {generator['cpu_share']:.0%} of a core while "
            f"uploading ({cost}); run more processes (--processes / workers) to load a faster target"
        )
    else:
        lines.append(
            f"the generator is not the bottleneck: {generator['cpu_share']:.0%} of a core while uploading "
            f"({cost}, one free core would allow ~{ceiling:.0f} MB/s); "
            f"sink {generator['sink_cpu_share']:.0%}. "
            "Neither side busy means the machine's other load or the loopback was the limit"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer-size", default="1GiB")
    parser.add_argument("--chunk-size", default="16MiB")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--users", type=int, default=1, help="Locust users in the one generator process")
    parser.add_argument(
        "--skip-curl", action="store_true", help="only the generator (e.g. the 10 GB RSS check)"
    )
    parser.add_argument(
        "--workdir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where curl's chunk files go (tmpfs keeps the disk out of curl's figure)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    layer_size, chunk_size = parse_size(args.layer_size), parse_size(args.chunk_size)
    sink, url = start_sink()
    try:
        with tempfile.TemporaryDirectory(prefix="keelhaul-loadgen-", dir=args.workdir) as scratch:
            workdir = Path(scratch)
            curl = None if args.skip_curl else curl_phase(url, layer_size, chunk_size, args.layers, workdir)
            generator = generator_phase(
                url, layer_size, chunk_size, args.layers, args.users, workdir, sink.pid
            )
    finally:
        sink.terminate()
        sink.wait(10)
    plan = f"{args.layers} x {format_size(layer_size)} layers in {format_size(chunk_size)} chunks"
    print(f"load generator vs curl into bench/load_sink.py ({plan}, {os.cpu_count()} cores)")
    if curl:
        print(
            f"  curl (chunk files on tmpfs):   {curl['mb_per_s']:8.1f} MB/s in requests, "
            f"{curl['wall_mb_per_s']:.1f} MB/s wall incl. process start-up"
        )
    print(
        f"  keelhaul load, 1 process, {args.users} user(s): {generator['mb_per_s']:8.1f} MB/s "
        f"(per upload p50 {generator['upload_mb_per_s_p50']} MB/s, chunk p50 {generator['chunk_ms_p50']} ms, "
        f"{generator['failures']} failures, verified: {generator['verified']})"
    )
    lines = verdict(curl, generator)
    for line in lines:
        print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps({"plan": plan, "curl": curl, "generator": generator}, indent=2))
    ok = generator["exit_code"] == 0 and all("BELOW" not in line and "ABOVE" not in line for line in lines)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
