"""`make demo` is the README's first command: it must finish, show the table and exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_names_and_releases_every_instance() -> None:
    # GIVEN a fresh process (the demo starts its own sandbox) WHEN the demo runs with six instances
    done = subprocess.run(
        [sys.executable, "-m", "cli.demo", "--instances", "6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN it exits 0 and its table shows six InService instances named by the convention
    assert done.returncode == 0, done.stdout + done.stderr
    rows = re.findall(r"^(i-[0-9a-f]+)\s+10\.0\.(\d+)\.(\d+)\s+(\S+)\s+InService", done.stdout, re.MULTILINE)
    assert len(rows) == 6
    for _, third, fourth, name in rows:
        assert name == f"vg-store-web-release-a-{third}-{fourth}"
    assert "6/6 instances named and InService." in done.stdout
    assert re.search(r"InstancesNamed\s+6", done.stdout)
