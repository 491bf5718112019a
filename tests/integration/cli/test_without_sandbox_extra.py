"""The operator's commands run without the embedded local AWS installed (`pip install 'asg-namer[cli]'`).

Each command runs in a fresh process where moto, werkzeug, flask and matplotlib cannot be imported (as if the
`sandbox` and `bench` extras were not installed), against the session's sandbox over HTTP; the commands that
do need the sandbox say in one line which extra to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import COMMANDS
from sandbox import Sandbox
from scenarios import World
from tests.support.cli import launch_unhooked, make_stack, without_hook

ROOT = Path(__file__).resolve().parents[3]
BLOCKED = ("moto", "werkzeug", "flask", "matplotlib")
PROGRAM = (
    "import sys\n"
    f"for name in {BLOCKED!r}:\n"
    "    sys.modules[name] = None  # import raises ModuleNotFoundError, as when the package is missing\n"
    "from cli.main import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)
NEED_THE_SANDBOX = {"demo", "sandbox", "bench", "chaos"}


def asg_namer(sandbox: Sandbox | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    if sandbox is not None:
        env.update(sandbox.env())
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_documents_itself_without_the_sandbox_extra(command: str) -> None:
    result = asg_namer(None, command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"usage: asg-namer {command}" in result.stdout


@pytest.mark.parametrize("command", sorted(NEED_THE_SANDBOX))
def test_the_commands_that_need_the_sandbox_say_which_extra_to_install(command: str) -> None:
    args = {"sandbox": ["--port", "0"], "bench": ["--quick"], "chaos": ["--seed", "1"], "demo": []}[command]
    result = asg_namer(None, command, *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "needs the 'sandbox' extra" in result.stderr and "pip install 'asg-namer[sandbox]'" in result.stderr


def test_the_operator_commands_run_against_aws_without_moto(sandbox: Sandbox, world: World, tmp_path: Path) -> None:
    # GIVEN a group with two running instances, no hook, and a stack with asg-namer's outputs
    without_hook(sandbox, world)
    launch_unhooked(sandbox, world, 2)
    stack = make_stack(sandbox, world, f"nomoto-{world.asg_name}")
    # WHEN each operator command runs in a process that cannot import moto
    runs = {
        "preview": asg_namer(sandbox, "preview", "--asg", world.asg_name),
        "backfill": asg_namer(sandbox, "backfill", "--asg", world.asg_name, "--yes"),
        "sweep": asg_namer(sandbox, "sweep", "--asg", world.asg_name, "--dry-run"),
        "attach": asg_namer(sandbox, "attach", "--asg", world.asg_name, "--stack", stack),
        "status": asg_namer(sandbox, "status", "--stack", stack, "--asg", world.asg_name),
        "redrive": asg_namer(sandbox, "redrive", "--stack", stack, "--dry-run"),
        "package": asg_namer(sandbox, "package", "--output", str(tmp_path / "lambda.zip")),
    }
    # THEN each did its job (no import error, the exit code of a command that ran)
    for command, result in runs.items():
        assert "ModuleNotFoundError" not in result.stderr, f"{command}: {result.stderr}"
        assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    assert "Named 2 instance(s)" in runs["backfill"].stdout
    assert "Attached launch hook" in runs["attach"].stdout
    assert (tmp_path / "lambda.zip").stat().st_size > 0
    # AND deploy gets as far as the stack (the sandbox's CloudFormation skips a few resource types: exit 1)
    bucket = f"nomoto-{world.asg_name}".lower()
    deploy = asg_namer(
        sandbox, "deploy", "--stack", f"nomoto-deploy-{world.asg_name}", "--bucket", bucket, "--create-bucket"
    )
    assert "ModuleNotFoundError" not in deploy.stderr, deploy.stderr
    assert deploy.stdout.startswith("packaged "), deploy.stdout + deploy.stderr
    outputs = [line for line in deploy.stdout.splitlines() if line.strip().startswith("QueueArn = ")]
    assert outputs, deploy.stdout + deploy.stderr
    assert deploy.returncode in (0, 1)
