"""The JUnit XML report of a run, as CI servers read it: one test suite per scenario, one test
case per step (a failed expectation is a <failure>, an action that could not be done an
<error>, the steps after the first failure <skipped>)."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from .runner import Report


def junit_xml(report: Report) -> ET.ElementTree:
    scenario = report.scenario
    counts = {state: sum(r.state == state for r in report.results) for state in ("failed", "error", "skipped")}
    suites = ET.Element("testsuites", name="ocpp-simu scenarios")
    suite = ET.SubElement(suites, "testsuite", {
        "name": scenario.name, "tests": str(len(report.results) + bool(report.setup_error)),
        "failures": str(counts["failed"]), "errors": str(counts["error"] + bool(report.setup_error)),
        "skipped": str(counts["skipped"]), "time": f"{report.seconds:.3f}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "hostname": socket.gethostname(),
        "file": str(scenario.path)})
    properties = ET.SubElement(suite, "properties")
    for name, value in report.properties.items():
        ET.SubElement(properties, "property", name=name, value=value)
    classname = f"scenario.{scenario.name}"
    if report.setup_error:
        case = ET.SubElement(suite, "testcase", classname=classname, name="setup", time="0")
        ET.SubElement(case, "error", message=report.setup_error).text = report.setup_error
    for result in report.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": classname, "name": f"{result.index:03d} line {result.step.line}: {result.step.title()}",
            "time": f"{result.seconds:.3f}", "file": str(scenario.path), "line": str(result.step.line)})
        if result.state in ("failed", "error"):
            tag = "failure" if result.state == "failed" else "error"
            text = f"{scenario.path}:{result.step.line}: step {result.index} ({result.step.title()}): {result.message}"
            ET.SubElement(case, tag, message=result.message).text = text
        elif result.state == "skipped":
            ET.SubElement(case, "skipped", message=result.message or "not run: an earlier step failed")
        elif result.message:
            ET.SubElement(case, "system-out").text = result.message
    ET.indent(suites)
    return ET.ElementTree(suites)


def write_junit(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_xml(report).write(path, encoding="utf-8", xml_declaration=True)
