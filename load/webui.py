"""A "Registry throughput" tab in Locust's own web UI: live MB/s per scenario, uploads, commit times.

Locust's React UI renders extra tabs from `extended_tabs` / `extended_tables` in its template args
and fills them from `extended_stats` in each `/stats/requests` poll, so the tab updates with the rest
of the UI (every 2 s) without a page of our own. `/keelhaul/throughput` serves the same rows as JSON
for scripts. Only the process with a web UI (local or master) installs it.
"""

from __future__ import annotations

import json

from load.ledger import Ledger

TAB_KEY = "keelhaul"
COLUMNS = [
    ("scenario", "Scenario"),
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


def throughput_rows(ledger: Ledger, now: float | None = None) -> list[dict[str, object]]:
    """One row per scenario plus a total row, values formatted for people."""
    rows = []
    for scenario in ledger.scenarios():
        uploads = ledger.upload_figures(scenario)
        rows.append(
            {
                "scenario": scenario,
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


def install(environment, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    """Add the tab and the JSON route to the running web UI (no-op without one)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    from flask import Response, request

    web_ui.template_args["extended_tabs"] = [{"title": "Registry throughput", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [
        {"key": TAB_KEY, "structure": [{"key": key, "title": title} for key, title in COLUMNS]}
    ]

    @web_ui.app.route("/keelhaul/throughput")
    def keelhaul_throughput() -> Response:
        return Response(json.dumps({"rows": throughput_rows(ledger)}), mimetype="application/json")

    @web_ui.app.after_request
    def add_throughput_to_stats(response: Response) -> Response:
        if request.path.endswith("/stats/requests") and response.mimetype == "application/json":
            document = json.loads(response.get_data())
            document["extended_stats"] = [{"key": TAB_KEY, "data": throughput_rows(ledger)}]
            response.set_data(json.dumps(document))
        return response
