"""Target profiles: parsing TOML/YAML, credentials from env and docker config, one-line errors."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest

from keelhaul.client import Credentials
from keelhaul.errors import UsageError
from keelhaul.profile import KIND_FEATURES, KIND_LIMITS, Features, Limits, Role, TargetProfile, load_profile

PROFILES = Path(__file__).resolve().parents[2] / "conformance" / "profiles"

MINIMAL = """
[target]
kind = "distribution"
url = "http://127.0.0.1:5000"
namespace = "ci"
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_profile_uses_kind_defaults(tmp_path):
    profile = load_profile(write(tmp_path, MINIMAL))
    assert (profile.name, profile.kind, profile.url, profile.namespace) == (
        "p",
        "distribution",
        "http://127.0.0.1:5000",
        "ci",
    )
    assert profile.features.manifest_delete and not profile.features.referrers_api
    assert profile.limits.max_layer_bytes is None  # not declared: limit checks skip
    assert profile.read_only is None
    assert profile.has_role("anonymous") and profile.credentials("anonymous") is None
    assert not profile.has_role("writer")
    assert profile.role_unavailable_reason("writer") == "no [credentials.writer] in the profile"
    with pytest.raises(UsageError, match=r"credentials\.writer"):
        profile.credentials("writer")


def test_example_profiles_load(monkeypatch):
    monkeypatch.setenv("KEELHAUL_WRITER_TOKEN", "w-token")
    for path in sorted(PROFILES.glob("*.toml")):
        profile = load_profile(path)
        assert profile.kind == path.stem if path.stem != "reference" else profile.kind == "reference"
    reference = load_profile(PROFILES / "reference.toml")
    assert reference.credentials("writer") == Credentials("alice", "w-token")
    assert reference.role("other_tenant").namespace == "bob"
    assert reference.role("workflow").source_repository == "keelhaul-ci/app"
    assert reference.limits == Limits(10_000_000_000, 600, "start", 4_194_304, "truncate", 512, 256)
    ghcr = load_profile(PROFILES / "ghcr.toml")
    assert ghcr.read_only is not None and ghcr.read_only.repository == "my-org/app"
    assert ghcr.features.packages_api == "github" and ghcr.limits.label_overflow is None


def test_yaml_profile_is_equivalent(tmp_path, monkeypatch):
    monkeypatch.setenv("R_TOKEN", "r")
    yaml_text = """
target: {kind: reference, url: "https://reg.example:8443", namespace: team/ci, name: yaml one}
credentials:
  reader: {username: alice, password_env: R_TOKEN}
limits: {max_layer_bytes: 8388608, upload_expiry_seconds: 3, upload_expiry_from: last-activity}
features: {referrers_api: false}
read_only: {repository: team/app, tag: v1}
"""
    profile = load_profile(write(tmp_path, yaml_text, "p.yaml"))
    assert profile.name == "yaml one" and profile.url == "https://reg.example:8443"
    assert profile.limits.max_layer_bytes == 8388608 and profile.limits.upload_expiry_from == "last-activity"
    assert profile.limits.description_max_chars == 512  # the reference kind's default stays
    assert profile.features.referrers_api is False and profile.features.token_auth is True
    assert profile.credentials("reader") == Credentials("alice", "r")
    assert profile.read_only.tag == "v1"


def test_env_credentials(tmp_path, monkeypatch):
    text = (
        MINIMAL
        + """
[credentials.writer]
username_env = "U"
password_env = "P"
[credentials.reader]
password_env = "P"
"""
    )
    path = write(tmp_path, text)
    assert load_profile(path).role_unavailable_reason("writer") == "environment variable U is not set"
    monkeypatch.setenv("U", "ci-user")
    assert load_profile(path).role_unavailable_reason("writer") == "environment variable P is not set"
    monkeypatch.setenv("P", "pat")
    profile = load_profile(path)
    assert profile.credentials("writer") == Credentials("ci-user", "pat")
    assert profile.credentials("reader") == Credentials("keelhaul", "pat")
    assert profile.client("writer").credentials == Credentials("ci-user", "pat")


def test_docker_config_credentials_by_host(tmp_path):
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"bob:pa:ss").decode()
    config.write_text(
        json.dumps(
            {
                "auths": {
                    "https://other.example/v1/": {"auth": base64.b64encode(b"x:y").decode()},
                    "127.0.0.1:5000": {"auth": auth},
                }
            }
        )
    )
    text = MINIMAL + f'[credentials.writer]\ndocker_config = "{config}"\n'
    assert load_profile(write(tmp_path, text)).credentials("writer") == Credentials("bob", "pa:ss")
    other = text.replace("127.0.0.1:5000", "127.0.0.1:6000", 1)
    profile = load_profile(write(tmp_path, other, "q.toml"))
    assert (
        profile.role_unavailable_reason("writer")
        == f"docker config {config} has no auths entry for 127.0.0.1:6000"
    )
    missing = text.replace(str(config), str(tmp_path / "nope.json"))
    reason = load_profile(write(tmp_path, missing, "r.toml")).role_unavailable_reason("writer")
    assert reason is not None and "does not exist" in reason


def test_upload_expiry_may_be_a_fraction_of_a_second(tmp_path):
    """A test server's short expiry (the embedded server declares 0.5 s); whole seconds stay integers."""
    fraction = load_profile(write(tmp_path, MINIMAL + "[limits]\nupload_expiry_seconds = 0.5\n"))
    assert fraction.limits.upload_expiry_seconds == 0.5
    whole = load_profile(write(tmp_path, MINIMAL + "[limits]\nupload_expiry_seconds = 600\n", "w.toml"))
    assert whole.limits.upload_expiry_seconds == 600 and isinstance(whole.limits.upload_expiry_seconds, int)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[credentials.writer]\npassword = "hunter2"\n',
            "p.toml: credentials.writer.password: unknown key (secrets never go in the file",
        ),
        (
            '[limits]\nmax_layer_bytes = "ten"\n',
            'p.toml: limits.max_layer_bytes: expected an integer, got "ten"',
        ),
        (
            "[limits]\nmax_layer_bytes = true\n",
            "p.toml: limits.max_layer_bytes: expected an integer, got true",
        ),
        (
            '[limits]\nupload_expiry_seconds = "600"\n',
            'p.toml: limits.upload_expiry_seconds: expected a number of seconds, got "600"',
        ),
        (
            "[limits]\nupload_expiry_seconds = -0.5\n",
            "p.toml: limits.upload_expiry_seconds: expected a positive number of seconds, got -0.5",
        ),
        (
            "[limits]\nupload_expiry_seconds = inf\n",
            "p.toml: limits.upload_expiry_seconds: expected a positive number of seconds, got inf",
        ),
        (
            '[limits]\nupload_expiry_from = "end"\n',
            "p.toml: limits.upload_expiry_from: expected one of start, last-",
        ),
        ("[features]\nreferrers = true\n", "p.toml: features.referrers: unknown key; allowed: token_auth"),
        (
            '[features]\nreferrers_api = "yes"\n',
            'p.toml: features.referrers_api: expected true or false, got "yes"',
        ),
        ('[credentials.owner]\npassword_env = "X"\n', "p.toml: credentials.owner: unknown key"),
        ('[credentials.writer]\nusername = "a"\n', "p.toml: credentials.writer: needs password_env"),
        (
            '[credentials.other_tenant]\npassword_env = "X"\n',
            "p.toml: credentials.other_tenant.namespace: missing",
        ),
        (
            '[credentials.workflow]\npassword_env = "X"\n',
            "p.toml: credentials.workflow.source_repository: missing",
        ),
        ('[read_only]\ntag = "v1"\n', "p.toml: read_only.repository: missing"),
        ("[extra]\n", "p.toml: extra: unknown key"),
    ],
)
def test_bad_values_give_one_line_errors(tmp_path, extra, message):
    with pytest.raises(UsageError) as error:
        load_profile(write(tmp_path, MINIMAL + extra))
    text = str(error.value)
    assert "\n" not in text
    assert message in text


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ('url = "ftp://x"\nnamespace = "ci"', "target.url: expected http(s)://host[:port]"),
        ('url = "http://x/v2/"\nnamespace = "ci"', "target.url: expected http(s)://host[:port]"),
        ('namespace = "ci"', "target.url: missing (required)"),
        ('url = "http://x"', "target.namespace: missing (required)"),
        ('url = "http://x"\nnamespace = "Bad/NS"', "target.namespace: 'Bad/NS' is not a valid"),
        ('url = "http://x"\nnamespace = "ci"\nkind = "quay"', "target.kind: expected one of reference"),
    ],
)
def test_bad_target(tmp_path, target, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_profile(write(tmp_path, "[target]\n" + target + "\n"))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.toml", "[target\n", "p.toml: not valid TOML"),
        ("p.yaml", "target: [unclosed\n", "p.yaml: not valid YAML"),
        ("p.yaml", "- a list\n", "p.yaml: expected a table/mapping at the top level"),
        ("p.ini", "", "p.ini: profile must be .toml, .yaml, .yml or .json"),
    ],
)
def test_unreadable_files(tmp_path, name, text, message):
    with pytest.raises(UsageError) as error:
        load_profile(write(tmp_path, text, name))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such profile file"):
        load_profile(tmp_path / "absent.toml")


def test_embedded_profile():
    profile = TargetProfile.embedded(
        "http://127.0.0.1:1234/",
        {
            "writer": Role("writer", Credentials("w", "x")),
            "other_tenant": Role("other_tenant", Credentials("bob", "y"), namespace="bob"),
        },
        replace(KIND_LIMITS["reference"], max_layer_bytes=8 << 20, upload_expiry_seconds=3),
        namespace="keelhaul-ci",
        auth=True,
    )
    assert profile.url == "http://127.0.0.1:1234" and profile.kind == "reference"
    assert profile.limits.max_layer_bytes == 8 << 20 and profile.limits.description_max_chars == 512
    assert profile.features.token_auth and profile.features.referrers_api
    assert profile.credentials("writer") == Credentials("w", "x")
    assert profile.role("other_tenant").namespace == "bob"
    assert not profile.has_role("reader")
    no_auth = TargetProfile.embedded("http://h:1", {}, None, auth=False)
    assert no_auth.features == replace(
        KIND_FEATURES["reference"],
        token_auth=False,
        packages_api="none",
        package_pages=False,
        manifest_delete=True,
        blob_delete=True,
        tag_delete=True,
    )
    with_auth = TargetProfile.embedded("http://h:1", {}, None, auth=True)
    assert not (with_auth.features.manifest_delete or with_auth.features.tag_delete)  # ghcr.io: 405
    deletes = TargetProfile.embedded("http://h:1", {}, None, auth=True, registry_deletes=True)
    assert deletes.features.manifest_delete and deletes.features.blob_delete and deletes.features.tag_delete
    assert KIND_FEATURES["reference"].referrers_api and KIND_FEATURES["reference"].single_post_upload


def test_features_and_limits_are_read_by_name():
    """Check markers name features and limits; the model answers for its own fields only."""
    features = Features(token_auth=True, packages_api="github")
    assert features.value("token_auth") is True and features.value("packages_api") == "github"
    assert Limits(max_layer_bytes=5).value("max_layer_bytes") == 5
    assert "referrers_api" in Features.names() and "max_manifest_bytes" in Limits.names()
    with pytest.raises(KeyError):
        features.value("to_json")
    with pytest.raises(KeyError):
        Limits().value("names")
