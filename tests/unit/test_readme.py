"""The README is the operator's runbook: these keep it in step with the code it documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handler.config import VARIABLES
from handler.observability import Metric

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _table_rows(heading: str) -> dict[str, list[str]]:
    """First-column cell -> the row's cells, for the first Markdown table after ``heading``."""
    section = README.split(heading, 1)[1]
    rows: dict[str, list[str]] = {}
    started = False
    for line in section.splitlines():
        if line.startswith("|"):
            started = True
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells
        elif started:
            break
    return rows


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_every_environment_variable_is_in_the_configuration_table_with_its_default(variable):
    rows = _table_rows("## Configuration")
    row = rows.get(f"`{variable.name}`")
    assert row is not None, f"{variable.name} missing from the README's configuration table"
    assert row[1] == (f"`{variable.default}`" if variable.default else "(none)")


def test_the_configuration_table_documents_no_variable_that_does_not_exist():
    documented = {name.strip("`") for name in _table_rows("## Configuration") if name.startswith("`")}
    assert documented == {v.name for v in VARIABLES}


@pytest.mark.parametrize("metric", list(Metric), ids=str)
def test_every_metric_is_explained_in_the_runbook(metric):
    rows = _table_rows("### Metrics")
    assert f"`{metric.value}`" in rows, f"metric {metric.value} missing from the README's metrics table"
    assert rows[f"`{metric.value}`"][1], "a metric needs a meaning"


def test_every_stack_parameter_is_in_the_parameter_table():
    template = ROOT / "infra" / "cloudformation.yaml"
    if not template.exists():
        pytest.skip("infra/cloudformation.yaml not present")
    section = template.read_text(encoding="utf-8").split("\nParameters:\n", 1)[1].split("\nConditions:\n", 1)[0]
    parameters = re.findall(r"^  (\w+):$", section, flags=re.MULTILINE)
    assert parameters
    table = " ".join(_table_rows("The stack's parameters"))
    missing = [p for p in parameters if f"`{p}`" not in table]
    assert missing == []


def test_the_quick_start_commands_are_make_targets():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    for target in ("demo", "test"):
        assert f"make {target}" in quick_start
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"no '{target}' target in the Makefile"
