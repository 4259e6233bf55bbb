"""A finding's evidence as text: the class, the requirement and the sentence it enforces, expected vs
got, and the HTTP exchanges (credentials redacted). The console, junit.xml and results.json show this
instead of a Python traceback; only ERROR (the suite broke) keeps its traceback."""

from __future__ import annotations

from typing import Any

from conformance.reports.model import TestResult, redact_exchange

BODY_BYTES = 300
DETAILED_EXCHANGES = 1  # the last exchange is shown whole; the earlier ones as one line each


def exchange_lines(exchange: dict[str, Any], detailed: bool) -> list[str]:
    """`GET /v2/... -> 404` and, when detailed, request and response headers and the body's start."""
    clean = redact_exchange(exchange)
    status = clean.get("status") if clean.get("status") is not None else f"error: {clean.get('error')}"
    lines = [f"{clean.get('method')} {clean.get('url')} -> {status}"]
    if not detailed:
        return lines
    lines += [f"    > {name}: {value}" for name, value in (clean.get("request_headers") or {}).items()]
    lines += [f"    < {name}: {value}" for name, value in (clean.get("response_headers") or {}).items()]
    body = clean.get("response_text")
    if body:
        lines.append(f"    < body: {body[:BODY_BYTES]}")
    return lines


def evidence_text(test: TestResult) -> str:
    head = f"{test.outcome}"
    if test.judged:
        head += f" {test.judged} ({test.level}; {test.cited})"
    lines = [head]
    if test.sentence:
        lines.append(f'  "{test.sentence}"' if test.level != "ROBUSTNESS" else f"  why: {test.sentence}")
    lines.append(f"  {test.message}")
    if test.exchanges:
        lines.append(f"  HTTP exchanges ({len(test.exchanges)}, credentials redacted):")
        last = len(test.exchanges) - DETAILED_EXCHANGES
        for index, exchange in enumerate(test.exchanges):
            lines += [f"  {line}" for line in exchange_lines(exchange, index >= last)]
    return "\n".join(lines)
