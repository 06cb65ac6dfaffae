"""docs/ocpp201.md's device model table is the shipped defaults file, rendered."""

from __future__ import annotations

import importlib.util
import json
import subprocess

from tests.procs import PYTHON, REPO

SCRIPT = REPO / "docs" / "device_model_table.py"


def _module():
    spec = importlib.util.spec_from_file_location("device_model_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_shows_the_defaults_file():
    result = subprocess.run([PYTHON, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    page = (REPO / "docs" / "ocpp201.md").read_text()
    document = json.loads((REPO / "device_model.json").read_text())
    count = sum(len(c["variables"]) for c in document["components"])
    assert sum(line.startswith("| ") for line in page.splitlines()) >= count + 1
    assert "| OCPPCommCtrlr | MessageAttempts:TransactionEvent | integer<br>min 1 | Actual RW `3` | ✓ |" in page
    assert "| EVSE@n | Power | decimal (W)<br>min 0 | Actual RO `0`<br>MaxSet RO `0` | ✓ |" in page
    assert "| SecurityCtrlr | BasicAuthPassword | string<br>min 16, max 40 | Actual WO |  |" in page


def test_a_changed_default_shows_as_out_of_date():
    module = _module()
    page = (REPO / "docs" / "ocpp201.md").read_text()
    document = json.loads((REPO / "device_model.json").read_text())
    assert module.rendered(page, document) == page
    document["components"][0]["variables"][0]["description"] = "changed"
    assert module.rendered(page, document) != page
