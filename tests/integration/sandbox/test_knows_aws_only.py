"""The sandbox knows AWS only: no product name or handler default in it, and neither it nor its tests need
the product (handler, scenarios, cli, chaos, bench) to load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("handler", "scenarios", "cli", "chaos", "bench")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_sandbox_and_its_tests_load_without_the_product() -> None:
    # GIVEN a fresh interpreter in which no package of the product can be imported
    code = f"""
import importlib, pkgutil, sys
for name in {PRODUCT!r}:
    sys.modules[name] = None
import sandbox
for module in pkgutil.iter_modules(sandbox.__path__):
    if module.name != "__main__":
        importlib.import_module("sandbox." + module.name)
import tests.conftest, tests.integration.conftest, tests.integration.sandbox as suite
for module in pkgutil.iter_modules(suite.__path__):
    importlib.import_module("tests.integration.sandbox." + module.name)
print("loaded")
"""
    # WHEN every sandbox module, the conftests above the sandbox's tests and those tests are imported
    done = run_python(code)
    # THEN all of them load
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "loaded"


def test_the_lambda_context_loads_without_moto_or_boto3() -> None:
    # GIVEN a process that only runs a handler (the benchmark's memory probe) WHEN it imports the context
    done = run_python("import sys, sandbox.lambda_context; print(sorted({'moto', 'boto3'} & set(sys.modules)))")
    # THEN neither moto nor boto3 came with it
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_product_name_or_handler_default_in_the_sandbox() -> None:
    # GIVEN the product's names (the function, its metrics namespace, its handler module)
    product = re.compile(r"asg[-_ ]?namer|handler\.app|vg-store", re.IGNORECASE)
    # WHEN the sandbox's source is searched THEN none appears
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "sandbox").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if product.search(line)
    ]
    assert hits == []
