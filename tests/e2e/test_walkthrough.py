"""The issue's 'done when': a plain boto3 script against `python -m sandbox --port N` sees AWS's behaviour."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_plain_boto3_walkthrough_against_python_m_sandbox() -> None:
    # GIVEN the sandbox in its own process with a fast clock (30 s heartbeat timeout lasts 1.5 s)
    server = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--clock-scale", "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        export = server.stdout.readline().split()
        env = dict(os.environ)
        env.update(dict(item.split("=", 1) for item in export[1:]))
        # WHEN the walkthrough script runs against it with nothing but the exported variables
        walk = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "sandbox_walkthrough.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    # THEN every step behaved as documented
    assert walk.returncode == 0, walk.stdout + walk.stderr
    assert "every step behaved as documented" in walk.stdout
    assert "DefaultResult CONTINUE put it InService" in walk.stdout
