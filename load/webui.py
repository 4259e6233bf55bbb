"""Two tabs in Locust's own web UI: "Registry throughput" (live MB/s per scenario, uploads, commit
times) and "Generator and target" (each generator process's MB/s, CPU and memory, the target's memory).

Locust's React UI renders extra tabs from `extended_tabs` / `extended_tables` in its template args
and fills them from `extended_stats` in each `/stats/requests` poll, so the tabs update with the rest
of the UI (every 2 s) without a page of our own. Its cells hold text only, so MB/s and memory over
time are plotted as sparklines (one block character per sample, last SPARK_POINTS samples).
`/keelhaul/throughput` and `/keelhaul/resources` serve the same figures (and the whole history) as
JSON for scripts. Only the process with a web UI (local or master) installs them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from load.ledger import MEGABYTE, Ledger
from load.meter import Resources

if TYPE_CHECKING:
    from load.run import LoadRun

TAB_KEY = "keelhaul"
RESOURCES_KEY = "keelhaulresources"
SPARK_POINTS = 40
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
COLUMNS = [
    ("scenario", "Scenario"),
    ("trend", "MB/s over time (all scenarios)"),
    ("mbps", "MB/s (last 10 s)"),
    ("meanmbps", "MB/s (run mean)"),
    ("moved", "Moved"),
    ("uploads", "Uploads committed"),
    ("uploadmbps", "Per-upload MB/s (p50)"),
    ("commitms", "Time to commit ms (p50)"),
    ("resumes", "Resumes"),
]


def gigabytes(count: int) -> str:
    return f"{count / 10**9:.2f} GB"


RESOURCE_COLUMNS = [
    ("process", "Process"),
    ("mbps", "MB/s (mean)"),
    ("cpu", "CPU (share of a core)"),
    ("rss", "RSS now"),
    ("peak", "Peak RSS"),
    ("memory", "Memory over time"),
    ("note", "Note"),
]


def sparkline(values: list[float]) -> str:
    """The last SPARK_POINTS values as block characters, scaled from 0 to their maximum."""
    shown = values[-SPARK_POINTS:]
    top = max(shown, default=0)
    if top <= 0:
        return SPARK_BLOCKS[0] * len(shown)
    return "".join(SPARK_BLOCKS[min(len(SPARK_BLOCKS) - 1, int(v / top * len(SPARK_BLOCKS)))] for v in shown)


def megabytes(count: int) -> str:
    return f"{count / MEGABYTE:.0f} MB"


def resource_rows(resources: Resources) -> list[dict[str, object]]:
    """One row per generator process, then the target when its process is known."""
    history = list(resources.history)
    rows: list[dict[str, object]] = []
    for name, figures in sorted(resources.processes.items()):
        rows.append(
            {
                "process": f"generator {name}",
                "mbps": round(figures.mb_per_s, 1),
                "cpu": f"{figures.cpu_share:.0%}",
                "rss": megabytes(figures.rss_bytes),
                "peak": megabytes(figures.peak_rss_bytes),
                "memory": sparkline([sample.rss_bytes.get(name, 0) for sample in history]),
                "note": "the bottleneck: add processes" if figures.cpu_share >= 0.85 else "",
            }
        )
    if resources.target_pid is not None:
        rss, peak = resources.target_memory()
        rows.append(
            {
                "process": f"target (pid {resources.target_pid})",
                "mbps": "",
                "cpu": "",
                "rss": megabytes(rss),
                "peak": megabytes(peak),
                "memory": sparkline([sample.rss_bytes.get("target", 0) for sample in history]),
                "note": "",
            }
        )
    return rows


def throughput_rows(
    ledger: Ledger, now: float | None = None, resources: Resources | None = None
) -> list[dict[str, object]]:
    """One row per scenario plus a total row, values formatted for people."""
    trend = sparkline([sample.mb_per_s for sample in resources.history]) if resources else ""
    rows = []
    for scenario in ledger.scenarios():
        uploads = ledger.upload_figures(scenario)
        rows.append(
            {
                "scenario": scenario,
                "trend": "",
                "mbps": round(ledger.live_mb_per_s(scenario, now), 1),
                "meanmbps": round(ledger.mean_mb_per_s(scenario), 1),
                "moved": gigabytes(ledger.total_bytes(scenario)),
                "uploads": uploads["count"],
                "uploadmbps": round(uploads["mb_per_s"]["p50"], 1) if uploads["mb_per_s"] else "",
                "commitms": round(uploads["commit_ms"]["p50"]) if uploads["commit_ms"] else "",
                "resumes": uploads["resumes"],
            }
        )
    if rows:
        rows.append(
            {
                "scenario": "Total",
                "trend": trend,
                "mbps": round(sum(float(row["mbps"]) for row in rows), 1),
                "meanmbps": round(ledger.mean_mb_per_s(), 1),
                "moved": gigabytes(ledger.total_bytes()),
                "uploads": len(ledger.uploads),
                "uploadmbps": "",
                "commitms": "",
                "resumes": sum(u.resumes for u in ledger.uploads),
            }
        )
    return rows


def install(environment, run: LoadRun) -> None:  # type: ignore[no-untyped-def]
    """Add the tabs and the JSON routes to the running web UI (no-op without one)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    from flask import Response, request

    ledger, resources = run.ledger, run.resources
    web_ui.template_args["extended_tabs"] = [
        {"title": "Registry throughput", "key": TAB_KEY},
        {"title": "Generator and target", "key": RESOURCES_KEY},
    ]
    web_ui.template_args["extended_tables"] = [
        {"key": key, "structure": [{"key": column, "title": title} for column, title in columns]}
        for key, columns in ((TAB_KEY, COLUMNS), (RESOURCES_KEY, RESOURCE_COLUMNS))
    ]

    @web_ui.app.route("/keelhaul/throughput")
    def keelhaul_throughput() -> Response:
        rows = throughput_rows(ledger, resources=resources)
        return Response(json.dumps({"rows": rows}), mimetype="application/json")

    @web_ui.app.route("/keelhaul/resources")
    def keelhaul_resources() -> Response:
        history = [
            {"at": sample.at, "mb_per_s": sample.mb_per_s, "rss_bytes": sample.rss_bytes}
            for sample in resources.history
        ]
        document = {**resources.to_dict(), "history": history}
        return Response(json.dumps(document), mimetype="application/json")

    @web_ui.app.after_request
    def add_throughput_to_stats(response: Response) -> Response:
        if request.path.endswith("/stats/requests") and response.mimetype == "application/json":
            document = json.loads(response.get_data())
            document["extended_stats"] = [
                {"key": TAB_KEY, "data": throughput_rows(ledger, resources=resources)},
                {"key": RESOURCES_KEY, "data": resource_rows(resources)},
            ]
            response.set_data(json.dumps(document))
        return response
