"""`make demo` is the README's first command: it must finish, show every feature's table and exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
PER_GROUP = 4
# instance, private IP, Name, hostname, lifecycle state
ROW = re.compile(r"^(i-[0-9a-f]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)


class Row(NamedTuple):
    instance_id: str
    private_ip: str
    name: str
    hostname: str
    state: str


def table(stdout: str, heading: str) -> list[Row]:
    """The rows of the table printed under the line that starts with ``heading``."""
    assert f"\n{heading}" in stdout, stdout
    section = stdout.split(f"\n{heading}", 1)[1].split("\n\n", 1)[0]
    return [Row(*found) for found in ROW.findall(section)]


def test_demo_names_numbers_and_sets_the_hostname_of_every_instance() -> None:
    # GIVEN a fresh process (the demo starts its own sandbox) WHEN the demo runs with four instances per group
    done = subprocess.run(
        [sys.executable, "-m", "cli.demo", "--instances", str(PER_GROUP)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN it exits 0
    assert done.returncode == 0, done.stdout + done.stderr
    web = table(done.stdout, "demo-store-web: {tag:Region}-{tag:App}-{tag:Layer}-{tag:Env}-{tag:Group}-{ip3}-{ip4}")
    numbered = table(done.stdout, "demo-store-numbered: {tag:App}-{tag:Env}-{slot:2}")
    # AND the IP group's instances are InService, named by the convention from their own private IP
    assert len(web) == PER_GROUP
    for row in web:
        _, _, third, fourth = row.private_ip.split(".")
        assert (row.name, row.state) == (f"vg-store-web-release-a-{third}-{fourth}", "InService"), row
    # AND the numbered group's instances hold unique, consecutive numbers from 01
    assert len(numbered) == PER_GROUP
    assert sorted(row.name for row in numbered) == [f"store-release-{n:02d}" for n in range(1, PER_GROUP + 1)]
    assert {row.state for row in numbered} == {"InService"}
    # AND set-hostname.sh, run on each instance, made its Name tag its hostname
    for row in web + numbered:
        assert row.hostname == row.name, row
    total = 2 * PER_GROUP
    assert f"{total}/{total} instances named and InService; hostname is the Name on {total}/{total}." in done.stdout
    assert re.search(rf"InstancesNamed\s+{total}\n", done.stdout)
