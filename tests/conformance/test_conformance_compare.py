"""`keelhaul report compare`: several runs as one requirement × target matrix."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conformance_builders import catalogue, run

from conformance.reports.compare import compare_html, compare_markdown, comparison_rows
from conformance.reports.model import TestResult, judge_requirements
from conformance.reports.writers import write_reports
from keelhaul.cli import main


def second_run():
    tests = [
        TestResult("oci/test_a.py::test_ok", "test_ok", ["AREA-1"], "FAIL", message="nope"),
        TestResult("oci/test_a.py::test_bad", "test_bad", ["AREA-2"], "PASS"),
    ]
    base = run(tests)
    return replace(
        base,
        run_id="20260101t000001-beef",
        target={"name": "other", "kind": "reference", "url": "u"},
        requirements=[v for v in judge_requirements(catalogue(), tests) if v.id != "LONELY-1"],
    )


def test_rows_have_one_verdict_per_run():
    rows = {rid: verdicts for rid, _, verdicts in comparison_rows([run(), second_run()])}
    assert rows["AREA-1"] == ["PASS", "FAIL"]
    assert rows["AREA-2"] == ["FAIL", "PASS"]
    assert rows["LONELY-1"] == ["UNTESTED", None]  # the second run's catalogue does not list it


def test_markdown_and_html():
    markdown = compare_markdown([run(), second_run()])
    assert "| Requirement | demo | other | Promise |" in markdown
    assert "| AREA-1 | PASS | FAIL | first promise |" in markdown
    assert "| LONELY-1 | UNTESTED | not listed |" in markdown
    html = compare_html([run(), second_run()])
    assert "<script" not in html and "AREA-2" in html and "other" in html


def test_same_target_twice_gets_distinct_columns():
    assert "| Requirement | demo | demo (20260101t000000-abcd) | Promise |" in compare_markdown(
        [run(), run()]
    )


def test_cli_compare_writes_both_files(tmp_path, capsys):
    write_reports(run(), tmp_path / "reports" / "a")
    write_reports(second_run(), tmp_path / "reports" / "b")
    out = tmp_path / "cmp"
    code = main(
        [
            "report",
            "compare",
            "a",
            str(tmp_path / "reports" / "b" / "results.json"),
            "--report-dir",
            str(tmp_path / "reports"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "| AREA-1 | PASS | FAIL |" in (out / "compare.md").read_text()
    assert (out / "compare.html").exists()
    assert "comparison of 2 runs" in capsys.readouterr().out


def test_cli_compare_unknown_run_is_one_line(tmp_path, capsys):
    assert main(["report", "compare", "nope", "--report-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"keelhaul: no run 'nope' (not a path, not under {tmp_path}/)"


@pytest.mark.parametrize("argv", [["check", "--target", "/nonexistent/profile.toml"]])
def test_check_with_bad_profile_is_one_line(argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == "keelhaul: /nonexistent/profile.toml: no such profile file"


def test_check_options_map_to_the_pytest_run():
    import argparse

    from conformance.cli import SUITE_DIR, pytest_args

    args = argparse.Namespace(
        target="p.toml",
        read_only=True,
        run_slow=True,
        report_dir="out",
        run_id="r1",
        keyword="pull",
        verbose=False,
        fail_on="FAIL,WARN",
    )
    argv = pytest_args(args)
    assert argv[argv.index("--fail-on") + 1] == "FAIL,WARN"
    assert argv[:3] == [str(SUITE_DIR), "--rootdir", str(SUITE_DIR.parent)]
    for expected in (["--target", "p.toml"], ["--report-dir", "out"], ["--run-id", "r1"], ["-k", "pull"]):
        assert " ".join(expected) in " ".join(argv)
    assert "--read-only" in argv and "--run-slow" in argv and "-q" in argv
