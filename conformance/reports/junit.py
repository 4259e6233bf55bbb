"""junit.xml in the xunit1 flavour: each testcase carries <properties> with its requirement IDs.

Written from the run model (not pytest's own --junitxml) so `pytest conformance` and `keelhaul check`
produce the same file, and the properties stay valid for the xunit1 schema CI tools read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from conformance.outcomes import ERROR, FAIL, JUNIT_ELEMENT, NOT_APPLICABLE, ROBUSTNESS, SKIP, WARN
from conformance.reports.evidence import evidence_text
from conformance.reports.model import RunResult


def _classname_and_name(nodeid: str) -> tuple[str, str]:
    path, _, name = nodeid.partition("::")
    module = path.removesuffix(".py").replace("/", ".")
    if "::" in name:
        cls, _, name = name.rpartition("::")
        module = f"{module}.{cls.replace('::', '.')}"
    return module, name


def junit_tree(run: RunResult) -> ET.ElementTree:
    summary = run.summary
    suite = ET.Element(
        "testsuite",
        name=f"keelhaul conformance: {run.target.get('name', '')}",
        tests=str(summary["total"]),
        failures=str(summary[FAIL] + summary[ROBUSTNESS]),
        errors=str(summary[ERROR]),
        skipped=str(summary[NOT_APPLICABLE] + summary[SKIP]),
        time=f"{run.duration:.3f}",
        timestamp=run.started,
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", run.run_id),
        ("target", str(run.target.get("name", ""))),
        ("target_kind", str(run.target.get("kind", ""))),
        ("target_url", str(run.target.get("url", ""))),
        ("keelhaul_version", run.keelhaul_version),
        ("results_schema_version", run.schema_version),
        ("fail_on", ",".join(run.fail_on)),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for test in run.tests:
        classname, name = _classname_and_name(test.nodeid)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{test.duration:.3f}")
        case_properties = ET.SubElement(case, "properties")
        for requirement in test.requirements:
            ET.SubElement(case_properties, "property", name="requirement", value=requirement)
        ET.SubElement(case_properties, "property", name="outcome", value=test.outcome)
        element_name = JUNIT_ELEMENT.get(test.outcome)
        if element_name == "skipped":
            ET.SubElement(case, "skipped", message=f"{test.outcome}: {test.message}")
        elif element_name is not None:
            element = ET.SubElement(case, element_name, message=f"{test.outcome}: {test.message}")
            element.set("type", test.outcome)
            element.text = test.traceback if test.outcome == ERROR else evidence_text(test)
        elif test.outcome == WARN:  # a SHOULD: the job passes, the dashboard still shows why
            out = ET.SubElement(case, "system-out")
            out.text = evidence_text(test)
    return ET.ElementTree(suite)


def write_junit(run: RunResult, path: Path) -> None:
    tree = junit_tree(run)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
