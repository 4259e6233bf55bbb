"""The resolver that turns GitHub's OpenAPI 3.0 description into JSON Schema validators: `nullable`,
`$ref`, formats, the one errata, and the response lookup by method, path and status."""

from __future__ import annotations

from typing import Any

from conformance.ghcr import rest_schemas


def version(**changes: Any) -> dict[str, Any]:
    document = {
        "id": 1,
        "name": "sha256:" + "a" * 64,
        "url": "https://api.github.com/users/a/packages/container/b/versions/1",
        "package_html_url": "https://github.com/users/a/packages/container/package/b",
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-01T10:00:00Z",
        "metadata": {"package_type": "container", "container": {"tags": ["v1"]}},
    }
    document.update(changes)
    return {key: value for key, value in document.items() if value is not ...}


def test_the_extract_names_its_source():
    assert rest_schemas.source()["npm"] == "@octokit/openapi@23.0.2"
    assert rest_schemas.source()["openapi"] == "3.0.3"


def test_required_fields_types_and_formats_are_enforced():
    assert rest_schemas.shape_errors(version(), rest_schemas.VERSION) == []
    assert rest_schemas.shape_errors(version(url=...), rest_schemas.VERSION) == [
        "<root>: 'url' is a required property"
    ]
    assert rest_schemas.shape_errors(version(id="1"), rest_schemas.VERSION) == [
        "id: '1' is not of type 'integer'"
    ]
    assert rest_schemas.shape_errors(version(created_at="2024-05-01"), rest_schemas.VERSION) == [
        "created_at: '2024-05-01' is not a 'date-time'"
    ]
    assert rest_schemas.shape_errors(version(created_at="2024-13-01T10:00:00Z"), rest_schemas.VERSION)


def test_nullable_admits_null_and_nothing_else_does():
    assert rest_schemas.shape_errors(None, "nullable-simple-user") == []
    assert rest_schemas.shape_errors(None, "simple-user") == ["<root>: None is not of type 'object'"]
    repository_errors = rest_schemas.shape_errors({"description": None}, "nullable-minimal-repository")
    assert not any(error.startswith("description") for error in repository_errors)
    assert any("'owner' is a required property" in error for error in repository_errors)


def test_refs_resolve_into_the_components():
    package = {
        "id": 1,
        "name": "b",
        "package_type": "container",
        "visibility": "private",
        "url": "https://api.github.com/users/a/packages/container/b",
        "html_url": "https://github.com/users/a/packages/container/package/b",
        "version_count": 1,
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-01T10:00:00Z",
        "owner": {"login": "a"},
    }
    errors = rest_schemas.shape_errors(package, rest_schemas.PACKAGE)
    assert "owner: 'node_id' is a required property" in errors
    ownerless = {**package, "owner": None}
    assert rest_schemas.shape_errors(ownerless, rest_schemas.PACKAGE) == []
    assert rest_schemas.shape_errors({**ownerless, "visibility": "internal"}, rest_schemas.PACKAGE) == []
    assert rest_schemas.shape_errors({**ownerless, "visibility": "secret"}, rest_schemas.PACKAGE)
    assert rest_schemas.shape_errors({**ownerless, "html_url": 5}, rest_schemas.PACKAGE)


def test_answers_are_looked_up_by_method_path_and_status():
    path = "/users/a/packages/container/b%2Fc/versions/7"
    assert rest_schemas.operation("GET", path) == (
        "/users/{username}/packages/{package_type}/{package_name}/versions/{package_version_id}"
    )
    assert rest_schemas.operation("GET", "/api/v3/user/packages") == "/user/packages"
    assert rest_schemas.response_errors("GET", path, 200, version()) == []
    assert rest_schemas.response_errors("GET", path, 200, {"id": 7}) != []
    assert rest_schemas.response_errors("GET", "/user/packages", 200, [version()]) != []
    assert rest_schemas.response_errors("DELETE", path, 404, {"message": "Not Found", "status": "404"}) == []
    assert rest_schemas.response_errors("DELETE", path, 404, {"message": "Not Found", "status": 404}) == [
        "status: 404 is not of type 'string'"
    ]
    assert rest_schemas.response_errors("DELETE", path, 409, {"message": 3}) == [
        "message: 3 is not of type 'string'"
    ]
    assert rest_schemas.response_errors("DELETE", path, 200, None) == [
        "DELETE /users/{username}/packages/{package_type}/{package_name}/versions/{package_version_id}: "
        "status 200 is not described (204, 401, 403, 404)"
    ]
    assert rest_schemas.response_errors("PUT", path, 200, None) == [
        f"PUT {path}: not an operation of GitHub's packages API"
    ]
