"""``make demo``: what asg-namer does, end to end, on the embedded local AWS.

One deployment (one queue, one function with HOSTNAME_SAFE=true and a SLOT_TABLE) serves two Auto Scaling
groups with the team's five tags, as one stack serves every group attached to it. Both scale out:

- demo-store-web is named by the function's template, the IP convention (vg-store-web-release-a-12-34);
- demo-store-numbered's launch hook carries {tag:App}-{tag:Env}-{slot:2} in its NotificationMetadata: unique
  numbers (store-release-01, -02...) the function keeps in a DynamoDB table.

Both launch templates put tags in instance metadata, so each instance runs scripts/set-hostname.sh at boot
as its user data would, against its own metadata endpoint; stand-ins for hostnamectl and hostname on a
scratch root record the hostname it sets instead of renaming this machine. Exit code 0 when every instance
is named and InService.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from handler.naming import DEFAULT_TEMPLATE, NOTIFICATION_METADATA_TEMPLATE_KEY

if TYPE_CHECKING:
    from sandbox.lambda_runtime import FunctionLogs
    from sandbox.server import Sandbox
    from scenarios import World

HANDLER = "handler.app.lambda_handler"
FUNCTION_NAME = "asg-namer"
SLOT_TABLE = "demo-slots"
SLOT_TEMPLATE = "{tag:App}-{tag:Env}-{slot:2}"
# What docs/hostnames.md asks of a launch template so set-hostname.sh can read the Name tag.
METADATA_OPTIONS = {"HttpEndpoint": "enabled", "HttpTokens": "required", "InstanceMetadataTags": "enabled"}
SET_HOSTNAME = Path(__file__).resolve().parent.parent / "scripts" / "set-hostname.sh"
BOOT_HOSTNAME = "localhost"  # what a fake host is called before the script renames it
HELPERS_AT_ONCE = 16  # scripts running at once; later instances "boot" when one ends
KILL_AFTER_SECONDS = 10  # past its own --timeout, a script that still runs is killed
MAX_INSTANCES = 250

# On the fake host these stand in for the real tools (which would rename this machine); they keep the
# hostname in $HOSTNAME_ROOT/running-hostname.
STAND_INS = {
    "hostnamectl": """#!/bin/sh
# stand-in for hostnamectl: `hostnamectl set-hostname NAME` makes NAME the fake host's hostname
[ "$#" -eq 2 ] && [ "$1" = set-hostname ] || exit 1
printf '%s\\n' "$2" >"$HOSTNAME_ROOT/etc/hostname"
printf '%s\\n' "$2" >"$HOSTNAME_ROOT/running-hostname"
""",
    "hostname": """#!/bin/sh
# stand-in for hostname: prints the fake host's hostname (set-hostname.sh only reads it when hostnamectl exists)
[ "$#" -eq 0 ] || exit 1
cat "$HOSTNAME_ROOT/running-hostname"
""",
}


@dataclass(frozen=True)
class Boot:
    """What set-hostname.sh did on one instance: the hostname it set, or why it set none."""

    hostname: str | None
    problem: str = ""


@dataclass
class InstanceRow:
    instance_id: str
    private_ip: str
    name: str
    hostname: str
    state: str
    released_after: float | None


@dataclass(frozen=True)
class Group:
    """One of the demo's groups and where its template comes from, for the table's heading."""

    world: World
    template: str
    template_source: str


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=help_text,
        description=__doc__,
        epilog="example: asg-namer demo --instances 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_options(parser)
    parser.set_defaults(run=lambda args: run(args.instances, args.timeout, sys.stdout))


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instances", type=_instances, default=6, help=f"how many instances each group launches (1..{MAX_INSTANCES})"
    )
    parser.add_argument("--timeout", type=float, default=45.0, help="seconds to wait for every instance")


def _instances(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_INSTANCES:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_INSTANCES}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cli.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_options(parser)
    args = parser.parse_args(argv)
    return run(args.instances, args.timeout, sys.stdout)


def run(instances: int, timeout: float, out: TextIO) -> int:
    # The sandbox extra (moto) is needed only to run the demo, not to list or describe it.
    from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings  # noqa: PLC0415
    from sandbox.lambda_context import FunctionSettings  # noqa: PLC0415
    from sandbox.lambda_function import LambdaFunction  # noqa: PLC0415
    from sandbox.lambda_runtime import FunctionLogs, capture_function_output  # noqa: PLC0415
    from sandbox.server import Sandbox  # noqa: PLC0415
    from sandbox.trigger import SqsTrigger  # noqa: PLC0415
    from scenarios import clients  # noqa: PLC0415

    logs = FunctionLogs()
    with Sandbox() as sandbox, tempfile.TemporaryDirectory(prefix="asg-namer-demo-") as scratch:
        os.environ.update(sandbox.env())
        print(f"Embedded local AWS on {sandbox.endpoint_url}", file=out)
        groups, environment = _deployment(sandbox.endpoint_url, out)
        # As on AWS: each call takes a little while, and some instances get their private IP late.
        sandbox.controls.set_latency(base_ms=20, jitter_ms=10)
        sandbox.controls.set_private_ip_delay(1.5, predicate=lambda instance_id: int(instance_id[-1], 16) % 3 == 0)
        print("Realism: 20-30 ms per API call; a third of the instances get their private IP 1.5 s late", file=out)
        # One function behind one queue, as the stack deploys it.
        function = LambdaFunction(FunctionSettings(FUNCTION_NAME, timeout=60), handler=HANDLER, environment=environment)
        helpers = HostnameHelpers(sandbox, Path(scratch), timeout)
        with capture_function_output(logs):
            trigger = SqsTrigger(
                environment["QUEUE_ARN"],
                function=function,
                mapping=EventSourceMappingSettings(
                    batch_size=10,
                    maximum_batching_window_in_seconds=1,
                    maximum_concurrency=2,
                    function_response_types=(REPORT_BATCH_ITEM_FAILURES,),
                ),
                endpoint_url=sandbox.endpoint_url,
            )
            with trigger:
                aws = clients(sandbox.endpoint_url)
                started = time.monotonic()
                for group in groups:
                    aws["autoscaling"].set_desired_capacity(
                        AutoScalingGroupName=group.world.asg_name, DesiredCapacity=instances
                    )
                print(f"Scaling out each group to {instances} instances...", file=out)
                worlds = [group.world for group in groups]
                _watch(aws, worlds, instances * len(groups), started, timeout, out, helpers.boot)
                trigger.wait_until_idle(timeout=10)
        boots = helpers.results()
        tables = [
            (group, _rows(aws, group.world, _seconds_until_released(sandbox, group.world), boots)) for group in groups
        ]
    for group, group_rows in tables:
        _print_table(group, group_rows, boots, out)
    _print_metrics(logs, out)
    rows = [row for _, group_rows in tables for row in group_rows]
    in_service = [row for row in rows if row.state == "InService" and row.name]
    total = instances * len(groups)
    hostnames = sum(1 for row in in_service if row.hostname == row.name)
    ok = len(in_service) == total
    print(
        f"\n{len(in_service)}/{total} instances named and InService; hostname is the Name on {hostnames}/{total}."
        if ok
        else f"\nNot every instance was released ({len(in_service)}/{total} named and InService).",
        file=out,
    )
    return 0 if ok else 1


def _deployment(endpoint_url: str, out: TextIO) -> tuple[list[Group], dict[str, str]]:
    """Two groups attached to one deployment, and that deployment's function environment, as the stack sets it."""
    from scenarios import build_world, create_slot_table  # noqa: PLC0415

    web = build_world(
        "demo-store-web",
        endpoint_url=endpoint_url,
        visibility_timeout=360,
        metadata_options=METADATA_OPTIONS,
    )
    numbered = build_world(
        "demo-store-numbered",
        endpoint_url=endpoint_url,
        notification_metadata=json.dumps({NOTIFICATION_METADATA_TEMPLATE_KEY: SLOT_TEMPLATE}),
        metadata_options=METADATA_OPTIONS,
        served_by=web,
    )
    groups = [
        Group(web, DEFAULT_TEMPLATE, "NAME_TEMPLATE's default"),
        Group(numbered, SLOT_TEMPLATE, "from its hook's NotificationMetadata"),
    ]
    table = create_slot_table(SLOT_TABLE, endpoint_url)
    environment = {"HOSTNAME_SAFE": "true", "SLOT_TABLE": table, "QUEUE_ARN": web.queue_arn}
    print(f"Function {FUNCTION_NAME} behind one queue: HOSTNAME_SAFE=true, SLOT_TABLE={table} (DynamoDB)", file=out)
    tags = " ".join(f"{key}={value}" for key, value in web.tags.items())
    print(f"Groups {web.asg_name} and {numbered.asg_name}: tags {tags}, launch hooks -> that queue", file=out)
    print(
        "Every instance runs scripts/set-hostname.sh at boot, as its user data would (stand-in hostnamectl)",
        file=out,
    )
    return groups, environment


class HostnameHelpers:
    """scripts/set-hostname.sh started on each instance as its user data would start it at boot.

    Each run gets a fake host of its own (HOSTNAME_ROOT, and a PATH whose hostnamectl and hostname are
    stand-ins) and the instance's metadata endpoint in the sandbox for IMDS_ENDPOINT; it waits for the Name
    tag there as it would on the instance, and ends by its own --timeout (the demo's) at the latest.
    """

    def __init__(self, sandbox: Sandbox, scratch: Path, timeout: float) -> None:
        self._sandbox = sandbox
        self._scratch = scratch
        self._timeout = max(1, math.ceil(timeout))
        self._pool = ThreadPoolExecutor(max_workers=HELPERS_AT_ONCE, thread_name_prefix="set-hostname")
        self._runs: dict[str, Future[Boot]] = {}

    def boot(self, instance_ids: Iterable[str]) -> None:
        """Starts the script on every instance not seen before."""
        for instance_id in instance_ids:
            if instance_id not in self._runs:
                endpoint = self._sandbox.imds_endpoint(instance_id)
                host = self._scratch / instance_id
                self._runs[instance_id] = self._pool.submit(_set_hostname, endpoint, host, self._timeout)

    def results(self) -> dict[str, Boot]:
        """Instance id -> what its script did, once every script has ended."""
        self._pool.shutdown(wait=True)
        return {instance_id: run.result() for instance_id, run in self._runs.items()}


def _set_hostname(endpoint: str, host: Path, timeout: int) -> Boot:
    """One run of the real script on a fake host; the hostname is what the stand-in hostnamectl was told."""
    bin_dir = host / "bin"
    (host / "etc").mkdir(parents=True)
    bin_dir.mkdir()
    for path in (host / "etc" / "hostname", host / "running-hostname"):
        path.write_text(f"{BOOT_HOSTNAME}\n")
    (host / "etc" / "hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{BOOT_HOSTNAME}\n")
    for tool, text in STAND_INS.items():
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "HOME": str(host),  # no user's curlrc or wgetrc
        "IMDS_ENDPOINT": endpoint,
        "HOSTNAME_ROOT": str(host),
    }
    try:
        done = subprocess.run(
            [str(SET_HOSTNAME), "--timeout", str(timeout)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + KILL_AFTER_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Boot(None, str(error))
    if done.returncode != 0:
        return Boot(None, done.stderr.strip() or f"exit code {done.returncode}")
    return Boot((host / "running-hostname").read_text().strip())


def _seconds_until_released(sandbox: Sandbox, world: World) -> dict[str, float]:
    """From the sandbox's lifecycle journal: launch to InService, per instance."""
    launched: dict[str, float] = {}
    released: dict[str, float] = {}
    for event in sandbox.lifecycle.events(asg=world.asg_name):
        if event.cause == "launch":
            launched.setdefault(event.instance_id, event.time)
        elif event.to_state == "InService" and event.instance_id in launched:
            released[event.instance_id] = event.time - launched[event.instance_id]
    return released


def _watch(
    aws: dict[str, Any],
    worlds: list[World],
    wanted: int,
    started: float,
    timeout: float,
    out: TextIO,
    on_launch: Callable[[Iterable[str]], None],
) -> None:
    """Live progress until every instance is InService; ``on_launch`` gets every instance seen so far."""
    released: dict[str, float] = {}
    while time.monotonic() - started < timeout:
        states = {i: state for world in worlds for i, state in _lifecycle_states(aws, world).items()}
        on_launch(states)
        now = time.monotonic() - started
        for instance_id, state in states.items():
            if state == "InService" and instance_id not in released:
                released[instance_id] = now
        pending = sum(1 for state in states.values() if state.startswith("Pending"))
        line = f"  {now:5.1f}s  launched {len(states):3d}  waiting {pending:3d}  in service {len(released):3d}"
        print("\r" + line if out.isatty() else line, end="" if out.isatty() else "\n", file=out, flush=True)
        if len(released) >= wanted:
            break
        time.sleep(0.25 if out.isatty() else 1.0)
    if out.isatty():
        print(file=out)


def _lifecycle_states(aws: dict[str, Any], world: World) -> dict[str, str]:
    groups = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[world.asg_name])
    return {i["InstanceId"]: i["LifecycleState"] for g in groups["AutoScalingGroups"] for i in g["Instances"]}


def _rows(aws: dict[str, Any], world: World, released: dict[str, float], boots: dict[str, Boot]) -> list[InstanceRow]:
    states = _lifecycle_states(aws, world)
    rows: list[InstanceRow] = []
    if not states:
        return rows
    reservations = aws["ec2"].describe_instances(InstanceIds=sorted(states))["Reservations"]
    for reservation in reservations:
        for instance in reservation["Instances"]:
            instance_id = instance["InstanceId"]
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            boot = boots.get(instance_id)
            rows.append(
                InstanceRow(
                    instance_id,
                    instance.get("PrivateIpAddress", "-"),
                    tags.get("Name", ""),
                    boot.hostname if boot is not None and boot.hostname else "",
                    states[instance_id],
                    released.get(instance_id),
                )
            )
    return sorted(rows, key=lambda row: (not row.name, _natural(row.name), row.instance_id))


def _natural(name: str) -> list[str | int]:
    """Sorts names by their numbers' values: store-release-2 before -10, vg-...-12-4 before 12-12."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _print_table(group: Group, rows: list[InstanceRow], boots: dict[str, Boot], out: TextIO) -> None:
    name_width = max([len("(none)"), *(len(row.name) for row in rows)])
    host_width = max([len("(none)"), *(len(row.hostname) for row in rows)])
    print(f"\n{group.world.asg_name}: {group.template} ({group.template_source})", file=out)
    print(
        f"{'instance':<21} {'private IP':<12} {'Name':<{name_width}} {'hostname':<{host_width}}"
        f" {'lifecycle state':<16} released after",
        file=out,
    )
    for row in rows:
        after = f"{row.released_after:.1f} s" if row.released_after is not None else "-"
        print(
            f"{row.instance_id:<21} {row.private_ip:<12} {row.name or '(none)':<{name_width}}"
            f" {row.hostname or '(none)':<{host_width}} {row.state:<16} {after}",
            file=out,
        )
    failed: dict[str, list[str]] = {}
    for row in rows:
        boot = boots.get(row.instance_id)
        if boot is not None and boot.problem:
            failed.setdefault(boot.problem.removeprefix("set-hostname.sh: "), []).append(row.instance_id)
    for problem, instance_ids in failed.items():
        print(f"  set-hostname.sh failed on {len(instance_ids)} ({instance_ids[0]}...): {problem}", file=out)


def _print_metrics(logs: FunctionLogs, out: TextIO) -> None:
    totals = logs.metric_totals()
    print("\nMetrics emitted by the handler (EMF, summed):", file=out)
    for name in sorted(totals):
        samples = logs.metric_samples(name)
        if name.endswith("Seconds") and samples:
            print(f"  {name:<28} max {max(samples):.2f} s over {len(samples)} samples", file=out)
        else:
            print(f"  {name:<28} {totals[name]:g}", file=out)


if __name__ == "__main__":
    raise SystemExit(main())
