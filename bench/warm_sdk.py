"""Imported once by the execution environments' fork server (``bench.emulator.environment_preload``).

botocore imports much of itself on a process's first client (endpoint rules, retry handlers, the HTTP
session); in the benchmark's own process that has happened long before any environment starts. Building and
dropping one client of each service the candidates call does the same in the fork server, so a cold start in
an environment's process is the handler module's initialisation, as it is in the benchmark's process.
Nothing is sent anywhere: creating a client makes no request.
"""

from __future__ import annotations

import botocore.config
import botocore.session

for _mode in ("standard", "adaptive", "legacy"):
    for _service in ("ec2", "autoscaling", "dynamodb"):
        botocore.session.get_session().create_client(
            _service,
            region_name="us-east-1",
            aws_access_key_id="warm",
            aws_secret_access_key="warm",  # noqa: S106 - never used: no request is made
            config=botocore.config.Config(retries={"mode": _mode}),
        )
