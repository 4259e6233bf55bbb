"""GitHub's REST description of the packages API (the vendored extract in
conformance/schemas/github_rest/) as JSON Schema validators, for the ghcr checks and the reference
server's tests alike.

OpenAPI 3.0 schema objects are not JSON Schema: `nullable: true` means the type also admits `null`,
and `$ref`s point inside the document (`#/components/schemas/...`). The document is rewritten once
(nullable → `null` added to `type` and `enum`) and registered whole as one resource, so every `$ref`
resolves where it points. `date-time` and `uri` formats are checked here (jsonschema leaves both
unchecked unless optional packages are installed).

Errata: the description's `package.visibility` enum lists `private` and `public` only, while its own
list endpoints' `visibility` parameter documents `internal` for registries with granular permissions
(the Container registry is one). `internal` is admitted; that is the only change to GitHub's schemas.
"""

from __future__ import annotations

import datetime
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

EXTRACT = Path(__file__).resolve().parent.parent / "schemas" / "github_rest" / "packages-openapi.json"
BASE_URI = "urn:keelhaul:github-rest:packages"

PACKAGE = "package"
VERSION = "package-version"
ERROR = "basic-error"

ERRATA_VISIBILITY = ["private", "public", "internal"]


def _to_json_schema(node: Any) -> Any:
    """One OpenAPI 3.0 schema object (recursively) as JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if "$ref" in converted:
            return {"anyOf": [{"$ref": converted.pop("$ref")}, {"type": "null"}], **converted}
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        if isinstance(converted.get("enum"), list):
            converted["enum"] = [*converted["enum"], None]
    return converted


@cache
def description() -> dict[str, Any]:
    """The extract, converted, with the errata applied."""
    document = _to_json_schema(json.loads(EXTRACT.read_text(encoding="utf-8")))
    package = document["components"]["schemas"][PACKAGE]
    package["properties"]["visibility"]["enum"] = list(ERRATA_VISIBILITY)
    return document


def source() -> dict[str, str]:
    """Where the extract came from (its `x-source`): npm package and version, file, OpenAPI version."""
    return dict(json.loads(EXTRACT.read_text(encoding="utf-8"))["x-source"])


_checker = jsonschema.FormatChecker(formats=())
_URI_CHARACTERS = re.compile(r"[^\s<>\"{}|\\^`]+")


@_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError("not an RFC 3339 date-time")
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_checker.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc and _URI_CHARACTERS.fullmatch(value))


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(description(), default_specification=DRAFT202012)
    return Registry().with_resource(BASE_URI, resource)


@cache
def _validator(pointer: str) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"{BASE_URI}#{pointer}"}, registry=_registry(), format_checker=_checker
    )


def _errors(instance: Any, pointer: str) -> list[str]:
    found = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found]


def shape_errors(instance: Any, component: str) -> list[str]:
    """Every violation of `#/components/schemas/<component>` as `path: message`; empty when valid."""
    if component not in description()["components"]["schemas"]:
        raise KeyError(f"no component {component!r} in GitHub's packages description")
    return _errors(instance, f"/components/schemas/{component}")


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Each path template as a regex over a URL path (a parameter is one segment; a prefix such as
    GitHub Enterprise's `/api/v3` is allowed before it)."""
    found = []
    for template in description()["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        found.append((re.compile(f"(?:/.*)?{pattern}"), template))
    return found


def operation(method: str, path: str) -> str | None:
    """The path template of GitHub's operation `method path` (a URL path), None when not described."""
    for pattern, template in _templates():
        if pattern.fullmatch(path) and method.lower() in description()["paths"][template]:
            return template
    return None


def response_errors(method: str, path: str, status: int, body: Any) -> list[str]:
    """Violations of GitHub's description by one answer: an undescribed operation, an undescribed
    success status, or a body that does not fit the status's schema. An error status the operation
    does not list is judged as `basic-error` (GitHub's body for every error)."""
    template = operation(method, path)
    if template is None:
        return [f"{method.upper()} {path}: not an operation of GitHub's packages API"]
    responses = description()["paths"][template][method.lower()]["responses"]
    key = str(status)
    if key not in responses and status < 400:
        described = ", ".join(sorted(responses))
        return [f"{method.upper()} {template}: status {status} is not described ({described})"]
    if responses.get(key) is None:
        return shape_errors(body, ERROR) if status >= 400 and body is not None else []
    parts = ("paths", template, method.lower(), "responses", key)
    pointer = "".join("/" + quote(part.replace("~", "~0").replace("/", "~1"), safe="~") for part in parts)
    return _errors(body, pointer)


def described_statuses(method: str, path: str) -> list[int]:
    """The statuses GitHub's description lists for `method path` (empty when not described)."""
    template = operation(method, path)
    if template is None:
        return []
    return sorted(int(key) for key in description()["paths"][template][method.lower()]["responses"])
