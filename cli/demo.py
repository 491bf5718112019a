"""``make demo``: the main job, end to end, on the embedded local AWS.

An Auto Scaling group with the team's five tags and a launch hook scales out; the hook's messages go
through the queue and the Lambda trigger to the handler, which names each instance and releases it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from sandbox.lambda_runtime import FunctionLogs
    from sandbox.server import Sandbox
    from scenarios import World

HANDLER_MODULE = "handler.app"
FUNCTION_NAME = "asg-namer"


@dataclass
class InstanceRow:
    instance_id: str
    private_ip: str
    name: str
    state: str
    released_after: float | None


def register(subparsers: Any, help_text: str) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=help_text,
        description=__doc__,
        epilog="example: asg-namer demo --instances 20",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_options(parser)
    parser.set_defaults(run=lambda args: run(args.instances, args.timeout, sys.stdout))


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", type=_instances, default=12, help="how many instances to launch (1..500)")
    parser.add_argument("--timeout", type=float, default=45.0, help="seconds to wait for every instance")


def _instances(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("must be 1..500")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.demo", description=__doc__)
    _add_options(parser)
    args = parser.parse_args(argv)
    return run(args.instances, args.timeout, sys.stdout)


def run(instances: int, timeout: float, out: TextIO) -> int:
    # The sandbox extra (moto) is needed only to run the demo, not to list or describe it.
    from sandbox.event_source_mapping import REPORT_BATCH_ITEM_FAILURES, EventSourceMappingSettings  # noqa: PLC0415
    from sandbox.lambda_context import FunctionSettings  # noqa: PLC0415
    from sandbox.lambda_runtime import FunctionLogs, capture_function_output, environment_factory  # noqa: PLC0415
    from sandbox.server import Sandbox  # noqa: PLC0415
    from sandbox.trigger import SqsTrigger  # noqa: PLC0415
    from scenarios import build_world, clients  # noqa: PLC0415

    logs = FunctionLogs()
    with Sandbox() as sandbox:
        os.environ.update(sandbox.env())
        print(f"Embedded local AWS on {sandbox.endpoint_url}", file=out)
        world = build_world("demo-store-web", endpoint_url=sandbox.endpoint_url, capacity=0, visibility_timeout=360)
        print(
            f"Auto Scaling group {world.asg_name}: tags {world.tags}, launch hook {world.hook_name} -> queue",
            file=out,
        )
        # As on AWS: each call takes a little while, and some instances get their private IP late.
        sandbox.controls.set_latency(base_ms=20, jitter_ms=10)
        sandbox.controls.set_private_ip_delay(1.5, predicate=lambda instance_id: int(instance_id[-1], 16) % 3 == 0)
        print("Realism: 20-30 ms per API call; a third of the instances get their private IP 1.5 s late", file=out)
        with capture_function_output(logs):
            trigger = SqsTrigger(
                world.queue_url,
                handler_factory=environment_factory(HANDLER_MODULE),
                function=FunctionSettings(FUNCTION_NAME, timeout=60),  # as the stack deploys it
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
                aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=instances)
                print(f"Scaling out to {instances} instances...", file=out)
                _watch(aws, world, instances, started, timeout, out)
                trigger.wait_until_idle(timeout=10)
        rows = _rows(aws, world, _seconds_until_released(sandbox, world))
    _print_table(rows, out)
    _print_metrics(logs, out)
    in_service = [row for row in rows if row.state == "InService" and row.name]
    ok = len(in_service) == instances
    print(
        f"\n{len(in_service)}/{instances} instances named and InService."
        if ok
        else "\nNot every instance was released.",
        file=out,
    )
    return 0 if ok else 1


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


def _watch(aws: dict[str, Any], world: World, wanted: int, started: float, timeout: float, out: TextIO) -> None:
    """Live progress until every instance is InService."""
    released: dict[str, float] = {}
    while time.monotonic() - started < timeout:
        states = _lifecycle_states(aws, world)
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


def _rows(aws: dict[str, Any], world: World, released: dict[str, float]) -> list[InstanceRow]:
    states = _lifecycle_states(aws, world)
    rows: list[InstanceRow] = []
    if not states:
        return rows
    reservations = aws["ec2"].describe_instances(InstanceIds=sorted(states))["Reservations"]
    for reservation in reservations:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            rows.append(
                InstanceRow(
                    instance["InstanceId"],
                    instance.get("PrivateIpAddress", "-"),
                    tags.get("Name", ""),
                    states[instance["InstanceId"]],
                    released.get(instance["InstanceId"]),
                )
            )
    return sorted(rows, key=lambda row: (row.released_after is None, row.released_after or 0, row.instance_id))


def _print_table(rows: list[InstanceRow], out: TextIO) -> None:
    print(f"\n{'instance':<21} {'private IP':<15} {'Name':<30} {'lifecycle state':<16} released after", file=out)
    for row in rows:
        after = f"{row.released_after:.1f} s" if row.released_after is not None else "-"
        print(
            f"{row.instance_id:<21} {row.private_ip:<15} {row.name or '(none)':<30} {row.state:<16} {after}", file=out
        )


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
