"""The `keelhaul` command as a new user meets it: help for every command and option with its default,
`--version`, one-line errors (`--debug` shows the traceback), and `check --url` without a profile."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import url_target
from conformance.url_profile import PASSWORD_ENV, url_profile_text
from keelhaul import __version__
from keelhaul.cli import _SILENT_DEFAULTS, build_parser, main
from keelhaul.errors import UsageError
from keelhaul.profile import load_profile

REPO = Path(__file__).resolve().parents[1]


def parsers(
    parser: argparse.ArgumentParser, path: str = "keelhaul"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the command tree with its command line."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, f"{path} {name}")


def subcommand_helps(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    return {
        choice.dest: choice.help
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
    }


ALL = list(parsers(build_parser()))


@pytest.mark.parametrize(("command", "parser"), ALL, ids=[path for path, _ in ALL])
def test_every_option_and_subcommand_has_help(command: str, parser: argparse.ArgumentParser) -> None:
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    missing += [name for name, text in subcommand_helps(parser).items() if not text]
    assert missing == [], f"`{command}` lacks help for {missing}"


@pytest.mark.parametrize(("command", "parser"), ALL, ids=[path for path, _ in ALL])
def test_help_shows_every_default(command: str, parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if (
            not action.option_strings
            or action.default in _SILENT_DEFAULTS
            or action.help is argparse.SUPPRESS
        ):
            continue
        shown = " ".join(parser._get_formatter()._format_action(action).split())
        assert "default" in shown, f"`{command}`: {shown!r} names no default"


def test_load_help_lists_the_locustfile_options_a_user_needs() -> None:
    (load,) = [parser for path, parser in ALL if path == "keelhaul load"]
    text = load.format_help()
    for option in ("--seed", "--keep-data", "--autostart", "--web-host"):
        assert option in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"keelhaul {__version__}"


def fail_unexpectedly(_args: argparse.Namespace) -> int:
    raise RuntimeError("disk on fire\nand more")


def test_unexpected_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("conformance.cli.run_compare", fail_unexpectedly)
    assert main(["report", "compare", "a", "b"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("keelhaul: RuntimeError: disk on fire and more") and "--debug" in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("conformance.cli.run_compare", fail_unexpectedly)
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["--debug", "report", "compare", "a", "b"])


def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "compare", "/nonexistent/run", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run '/nonexistent/run'" in err


# ---- check --url ----------------------------------------------------------------------------------


def check_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["check", *argv])


def test_url_profile_needs_nothing_but_a_url(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(url_profile_text("http://127.0.0.1:5000", None))
    profile = load_profile(path)
    assert (profile.kind, profile.url, profile.namespace) == (
        "generic",
        "http://127.0.0.1:5000",
        "keelhaul-ci",
    )
    assert profile.roles == {}


def test_url_profile_on_ghcr_uses_the_account_as_namespace_and_kind_ghcr() -> None:
    document = tomllib.loads(url_profile_text("https://ghcr.io", "Octo"))
    assert document["target"]["kind"] == "ghcr" and document["target"]["namespace"] == "octo"
    assert set(document["credentials"]) == {"reader", "writer", "deleter"}
    assert all(role["password_env"] == PASSWORD_ENV for role in document["credentials"].values())


def test_password_from_stdin_reaches_every_role_and_never_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    args = check_args("--url", "https://registry.example", "--username", "U", "--password-stdin")
    with url_target(args, io.StringIO("s3cret\n")) as path:
        assert path is not None
        assert "s3cret" not in path.read_text()
        profile = load_profile(path)
        for role in ("reader", "writer", "deleter"):
            credentials = profile.credentials(role)
            assert credentials is not None and (credentials.username, credentials.password) == ("U", "s3cret")
    assert not path.exists() and PASSWORD_ENV not in os.environ


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--url", "ftp://x"], "", "--url must be http(s)://host[:port]"),
        (["--url", "https://r.example/v2/"], "", "--url takes no path"),
        (["--url", "https://r.example", "--password-stdin"], "pw\n", "--password-stdin needs --username"),
        (["--url", "https://r.example", "--username", "U"], "", "--username needs --password-stdin"),
        (["--url", "https://r.example", "--username", "U", "--password-stdin"], "", "held no password"),
        (["--username", "U"], "", "go with --url"),
    ],
)
def test_url_mistakes_are_one_line(argv: list[str], stdin: str, message: str) -> None:
    with (
        pytest.raises(UsageError, match=re.escape(message)),
        url_target(check_args(*argv), io.StringIO(stdin)),
    ):
        pass


def test_url_and_target_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        check_args("--url", "http://x", "--target", "p.toml")
    assert "not allowed with argument" in capsys.readouterr().err


def test_check_url_probes_the_optional_features(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_pytest_main(argv: list[str], plugins: list[object]) -> int:
        seen.append(argv)
        return 0

    monkeypatch.setattr(pytest, "main", fake_pytest_main)
    assert main(["check", "--url", "http://127.0.0.1:5000"]) == 0
    (argv,) = seen
    assert "--probe" in argv and argv[argv.index("--target") + 1].endswith("url.toml")


def test_check_url_with_a_token_on_stdin_reaches_an_auth_registry(
    auth_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """The README's third command, against the reference server with auth: alice's PAT on stdin."""
    url, tokens = auth_server
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "keelhaul", "check", "--url", url, "--username", "alice"]
    command += ["--password-stdin", "--namespace", "alice", "--report-dir", str(reports)]
    command += ["-k", "test_base_endpoint_answers_200 or test_monolithic_post_then_put"]
    done = subprocess.run(
        command,
        input=tokens["writer"] + "\n",
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    (results,) = reports.glob("*/results.json")
    document = json.loads(results.read_text())
    outcomes = [test["outcome"] for test in document["tests"]]
    assert outcomes == ["PASS", "PASS"], outcomes  # a push needs the writer credentials
    assert tokens["writer"] not in results.read_text()


def test_check_says_where_the_reports_went_and_leaves_no_server(tmp_path: Path) -> None:
    """`keelhaul check` against its embedded server (forked, an instance per lane): the last line
    names the report folder the harness wrote, and the servers' data folders do not outlive it."""
    from conformance.harness.target import scratch_root

    scratch = Path(scratch_root() or tempfile.gettempdir())
    before = set(scratch.glob("keelhaul-check-*"))
    reports = tmp_path / "reports"
    env = {name: value for name, value in os.environ.items() if name != "KEELHAUL_EMBEDDED_HOOK"}
    finished = subprocess.run(
        [sys.executable, "-m", "keelhaul", "check", "-k", "test_pull", "--report-dir", str(reports)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    (folder,) = reports.iterdir()
    assert finished.stdout.splitlines()[-1].startswith(f"keelhaul: reports in {folder}/")
    document = json.loads((folder / "results.json").read_text())
    assert document["options"]["workers"] >= 1 and document["tests"]
    instances = [note for note in document["target"]["notes"] if "instance per lane" in note]
    assert bool(instances) == (document["options"]["workers"] > 1)
    assert set(scratch.glob("keelhaul-check-*")) <= before
