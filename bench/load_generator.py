"""Is the load generator fast enough? One Locust worker process against curl, into the same sink.

Both push the same chunked layers (POST, PATCH per chunk with Content-Range, PUT ?digest=) into
bench/load_sink.py, which discards bodies, so the slower side is the client. curl streams ready-made
chunk files (tmpfs) and hashes nothing; the Locust process generates every byte and hashes it while
sending. Goal (issue 14): generator MB/s >= 0.9 x curl MB/s, stable over rounds. The machine is
shared, so curl and the generator alternate, round after round, and each round gives one ratio; the
spread of those ratios is the figure. `--processes N` adds, in each round, N worker processes of one
user each: their MB/s against the one process's gives the scaling (goal ~N x, where there are cores).
It also reports the generator's peak RSS (goal < 200 MB per worker whatever the layer size) and
whether the generator is the bottleneck (its process at ~one full core while the sink idles).

    python bench/load_generator.py                          # 5 rounds of 2 x 1GiB layers, 16 MiB chunks
    python bench/load_generator.py --processes 2            # ... and 2 worker processes in each round
    python bench/load_generator.py --layer-size 10GB --layers 1 --rounds 1 --skip-curl  # the RSS check
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import socket
import statistics
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
RATIO_GOAL = 0.9
SCALING_GOAL = 0.9  # N processes reach at least this x N x one process (with N free cores)
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    url: str,
    layer_size: int,
    chunk_size: int,
    layers: int,
    users: int,
    workdir: Path,
    sink_pid: int,
    processes: int = 0,
    content: str = "unique",
) -> dict:
    """One Locust process (processes=0) or a master and `processes` workers runs ChunkedLayerUpload
    until `layers` layers committed."""
    report_dir = workdir / f"locust-{processes}-{time.monotonic_ns()}"
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
    if processes:
        port = str(free_port())  # Locust's default 5557 collides with any other run on the machine
        command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-port", port]
    if content != "unique":
        command += ["--content", content]
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
    workers = (summary.get("resources") or {}).get("workers") or []
    if processes and workers:  # the master's own figures say nothing: take the workers' reports
        peak_rss = max(int(worker["peak_rss_bytes"]) for worker in workers)
        cpu_share = max(float(worker["cpu_share"]) for worker in workers)
    return {
        "exit_code": process.returncode,
        "workers": workers,
        "bytes": uploads["bytes"],
        # curl's figure is bytes over curl's own time_total of each request; the same for the generator
        "mb_per_s": uploads["bytes"] / MB / request_seconds(summary) if request_seconds(summary) else 0.0,
        # stricter: bytes over the time from the first POST to the last 201, gaps between requests
        # (the HEAD check, the wait for the next layer's digest) included
        "span_mb_per_s": uploads["bytes"] / MB / span if span else 0.0,
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


UPLOAD_REQUESTS = ("POST blob upload start", "PATCH blob upload chunk", "PUT blob upload commit")


def request_seconds(summary: dict) -> float:
    """Seconds spent inside the upload requests (Locust's mean latency x count of each)."""
    requests = summary["requests"]
    return sum(
        requests[name]["avg_ms"] * requests[name]["count"] / 1000
        for name in UPLOAD_REQUESTS
        if name in requests
    )


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
        if generator["span_mb_per_s"] and generator["cpu_share"]:
            generator_cost = generator["cpu_share"] / generator["span_mb_per_s"] * 1000
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
    ceiling = generator["span_mb_per_s"] / generator["cpu_share"] if generator["cpu_share"] else float("inf")
    cost = (
        f"{generator['cpu_share'] / generator['span_mb_per_s'] * 1000:.2f} CPU s per GB"
        if generator["span_mb_per_s"]
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


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"min {ordered[0]:.2f}, median {statistics.median(ordered):.2f}, max {ordered[-1]:.2f} "
        f"over {len(ordered)} round(s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer-size", default="1GiB")
    parser.add_argument("--chunk-size", default="16MiB")
    parser.add_argument("--layers", type=int, default=2, help="layers per phase of a round")
    parser.add_argument("--rounds", type=int, default=5, help="curl / generator rounds, alternating")
    parser.add_argument("--users", type=int, default=1, help="Locust users in the one generator process")
    parser.add_argument(
        "--processes", type=int, default=0, help="also run N worker processes (one user each) per round"
    )
    parser.add_argument(
        "--skip-curl", action="store_true", help="only the generator (e.g. the 10 GB RSS check)"
    )
    parser.add_argument(
        "--workdir",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where curl's chunk files go (tmpfs keeps the disk out of curl's figure)",
    )
    parser.add_argument(
        "--content",
        choices=("unique", "shared-prefix"),
        default="unique",
        help="the generator's layer content (keelhaul load --content)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    layer_size, chunk_size = parse_size(args.layer_size), parse_size(args.chunk_size)
    plan = f"{args.layers} x {format_size(layer_size)} layers in {format_size(chunk_size)} chunks"
    print(
        f"load generator vs curl into bench/load_sink.py ({plan} per phase, {args.content} content, "
        f"{os.cpu_count()} cores)"
    )
    rounds: list[dict] = []
    sink, url = start_sink()
    try:
        with tempfile.TemporaryDirectory(prefix="keelhaul-loadgen-", dir=args.workdir) as scratch:
            workdir = Path(scratch)
            for number in range(1, args.rounds + 1):
                rounds.append(one_round(args, url, layer_size, chunk_size, workdir, sink.pid))
                print(f"  round {number}: {round_line(rounds[-1], args.processes)}", flush=True)
    finally:
        sink.terminate()
        sink.wait(10)
    last = rounds[-1]
    curl, generator = last["curl"], last["generator"]
    print(
        f"  last round, keelhaul load, 1 process, {args.users} user(s): {generator['mb_per_s']:8.1f} MB/s "
        f"(per upload p50 {generator['upload_mb_per_s_p50']} MB/s, chunk p50 {generator['chunk_ms_p50']} ms, "
        f"{generator['failures']} failures, verified: {generator['verified']})"
    )
    lines = verdict(curl, generator)
    if curl:
        ratios = [r["generator"]["mb_per_s"] / r["curl"]["mb_per_s"] for r in rounds]
        span_ratios = [r["generator"]["span_mb_per_s"] / r["curl"]["mb_per_s"] for r in rounds]
        median = statistics.median(ratios)
        lines[0] = (
            f"ratio generator/curl, time in requests on both sides: {spread(ratios)} (goal >= {RATIO_GOAL}) "
            f"{'OK' if median >= RATIO_GOAL else 'BELOW GOAL'}"
        )
        lines.insert(1, f"ratio with the generator's gaps between requests counted: {spread(span_ratios)}")
    if args.processes:
        lines += scaling_lines(rounds, args.processes)
    for line in lines:
        print("  " + line)
    if args.json:
        Path(args.json).write_text(json.dumps({"plan": plan, "rounds": rounds}, indent=2))
    ok = all(r["generator"]["exit_code"] == 0 for r in rounds)
    ok = ok and all("BELOW" not in line and "ABOVE" not in line for line in lines)
    return 0 if ok else 1


def one_round(
    args: argparse.Namespace, url: str, layer_size: int, chunk_size: int, workdir: Path, sink_pid: int
) -> dict:
    """curl, then one generator process, then (with --processes) N worker processes, back to back."""
    curl = None if args.skip_curl else curl_phase(url, layer_size, chunk_size, args.layers, workdir)
    generator = generator_phase(
        url, layer_size, chunk_size, args.layers, args.users, workdir, sink_pid, content=args.content
    )
    several = None
    if args.processes:
        layers = args.layers * args.processes
        several = generator_phase(
            url,
            layer_size,
            chunk_size,
            layers,
            args.processes,
            workdir,
            sink_pid,
            args.processes,
            args.content,
        )
    return {"curl": curl, "generator": generator, "processes": several}


def round_line(figures: dict, processes: int) -> str:
    curl, generator, several = figures["curl"], figures["generator"], figures["processes"]
    fast, span = generator["mb_per_s"], generator["span_mb_per_s"]
    line = f"generator {fast:.0f} MB/s in requests ({span:.0f} over its span)"
    if curl:
        line += (
            f", curl {curl['mb_per_s']:.0f} MB/s in requests, ratio {fast / curl['mb_per_s']:.2f}"
            f" ({span / curl['mb_per_s']:.2f} over the span)"
        )
    if several:
        line += (
            f"; {processes} processes {several['span_mb_per_s']:.0f} MB/s over their span "
            f"= {several['span_mb_per_s'] / span:.2f} x one"
        )
    return line


def scaling_lines(rounds: list[dict], processes: int) -> list[str]:
    """N processes against one, and each worker's own figures from the summary of the last round."""
    # aggregate rates over the wall clock: time in requests would add up the processes' parallel requests
    scaling = [r["processes"]["span_mb_per_s"] / r["generator"]["span_mb_per_s"] for r in rounds]
    cores = os.cpu_count() or 1
    lines = [
        f"{processes} processes / 1 process: {spread(scaling)} "
        f"(goal ~{SCALING_GOAL * min(processes, cores):.1f}x where each has a free core; "
        f"{cores} cores here, shared with the sink)"
    ]
    for worker in rounds[-1]["processes"]["workers"]:
        lines.append(
            f"  worker {worker['name']}: {worker['mb_per_s']} MB/s, {worker['cpu_share']:.0%} of a core, "
            f"peak RSS {worker['peak_rss_bytes'] / MB:.0f} MB"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
