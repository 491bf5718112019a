"""The sandbox's front door: endpoint, AWS-shaped errors, long polls that do not stall others, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox import Sandbox
from sandbox.api_call import ApiCall, Rejection
from sandbox.faults import FaultControls

ROOT = Path(__file__).resolve().parents[3]


def test_plain_boto3_reaches_every_service_we_use(sandbox: Sandbox, unique: str) -> None:
    # GIVEN the sandbox WHEN each service is called with a plain client THEN each answers
    assert sandbox.client("ec2").describe_vpcs()["Vpcs"]
    assert sandbox.client("sqs").create_queue(QueueName=f"front-{unique}")["QueueUrl"].startswith(sandbox.endpoint_url)
    assert "AutoScalingGroups" in sandbox.client("autoscaling").describe_auto_scaling_groups()
    assert "Roles" in sandbox.client("iam").list_roles()
    assert "MetricAlarms" in sandbox.client("cloudwatch").describe_alarms()
    # AND the journal recorded them by service and action
    assert sandbox.journal.count("ec2", "DescribeVpcs") >= 1
    assert sandbox.journal.count("sqs", "CreateQueue") >= 1


def test_the_journal_records_which_resources_and_tag_keys_a_tag_call_wrote(sandbox: Sandbox) -> None:
    # GIVEN two instances
    ec2 = sandbox.client("ec2")
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2)["Instances"]]
    start = len(sandbox.journal.records())
    # WHEN both are tagged with two keys in one call, then one key is deleted from the first
    ec2.create_tags(Resources=ids, Tags=[{"Key": "Name", "Value": "a"}, {"Key": "Team", "Value": "b"}])
    ec2.delete_tags(Resources=ids[:1], Tags=[{"Key": "Team"}])
    ec2.terminate_instances(InstanceIds=ids)
    # THEN the journal has both calls with their resources and keys, in request order
    created, deleted = [r for r in sandbox.journal.records()[start:] if r.action in ("CreateTags", "DeleteTags")]
    assert (created.resources, created.tag_keys, created.status) == (tuple(ids), ("Name", "Team"), 200)
    assert (deleted.resources, deleted.tag_keys) == (tuple(ids[:1]), ("Team",))


def test_unknown_action_gets_an_aws_shaped_error_not_a_traceback(sandbox: Sandbox) -> None:
    # GIVEN a query-protocol request for an action no service has
    response = requests.post(
        sandbox.endpoint_url,
        data={"Action": "FlyToTheMoon", "Version": "2011-01-01"},
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/autoscaling/aws4_request"},
        timeout=10,
    )
    # THEN the answer is XML with an error code, never an HTML traceback page
    assert response.status_code >= 400
    assert "Traceback" not in response.text
    assert "<html" not in response.text.lower()
    assert "<Code>" in response.text


def test_not_implemented_operation_is_an_aws_error(sandbox: Sandbox) -> None:
    # GIVEN an operation moto lacks and the sandbox does not add WHEN called
    client = sandbox.client("ec2", config=_no_retries())
    with pytest.raises(ClientError) as raised:
        client.describe_capacity_block_offerings(InstanceType="p5.48xlarge", InstanceCount=1, CapacityDurationHours=24)
    # THEN botocore parses a normal error with a code
    assert raised.value.response["Error"]["Code"]


def test_sqs_long_poll_does_not_stall_other_callers(
    sandbox: Sandbox, controls: FaultControls, monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    # GIVEN a long poll waiting on an empty queue (the sandbox signals when the poll has reached it)
    sqs = sandbox.client("sqs")
    waiting_url = sqs.create_queue(QueueName=f"lp-wait-{unique}")["QueueUrl"]
    other_url = sqs.create_queue(QueueName=f"lp-other-{unique}")["QueueUrl"]
    poll_arrived = threading.Event()
    before_call = controls.before_call

    def signal_poll(call: ApiCall) -> Rejection | None:
        if call.action == "ReceiveMessage":
            poll_arrived.set()
        return before_call(call)

    monkeypatch.setattr(controls, "before_call", signal_poll)
    result: dict[str, object] = {}
    poller = threading.Thread(
        target=lambda: result.update(sandbox.client("sqs").receive_message(QueueUrl=waiting_url, WaitTimeSeconds=20))
    )
    poller.start()
    assert poll_arrived.wait(timeout=30)
    # WHEN another caller sends to another queue, then to the polled one
    sent_other = sqs.send_message(QueueUrl=other_url, MessageBody="other")
    poll_open_during_send = poller.is_alive()
    sqs.send_message(QueueUrl=waiting_url, MessageBody="wake")
    poller.join(timeout=30)
    # THEN the other send went through while the poll was open, and the poll returned the message early
    assert sent_other["MessageId"]
    assert poll_open_during_send
    assert not poller.is_alive()
    assert [m["Body"] for m in result["Messages"]] == ["wake"]  # type: ignore[index]


def test_long_poll_on_an_empty_queue_returns_no_messages(sandbox: Sandbox, unique: str) -> None:
    sqs = sandbox.client("sqs")
    url = sqs.create_queue(QueueName=f"lp-empty-{unique}")["QueueUrl"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_python_m_sandbox_serves_and_prints_the_export_line(tmp_path: Path) -> None:
    # GIVEN `python -m sandbox --port 0` in its own process
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        export = process.stdout.readline()
        # THEN it says where it listens and what to export
        assert "listening on http://127.0.0.1:" in first
        assert export.startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:")
        endpoint = export.split("AWS_ENDPOINT_URL=", 1)[1].split()[0]
        # AND the AWS CLI works against it with only the exported variables
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing"}
        env.update({"AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
        aws = str(Path(sys.executable).with_name("aws"))
        groups = _run([aws, "autoscaling", "describe-auto-scaling-groups"], env)
        assert '"AutoScalingGroups"' in groups
        # (AWS CLI v1 resolves SQS's legacy endpoint itself and ignores AWS_ENDPOINT_URL: pass --endpoint-url)
        assert "from-cli" in _run(
            [aws, "--endpoint-url", endpoint, "sqs", "create-queue", "--queue-name", "from-cli"], env
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
    # AND it stops cleanly on SIGTERM
    assert process.returncode == 0


def test_a_second_sandbox_in_the_same_process_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        Sandbox().start()


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _no_retries() -> Config:
    return Config(retries={"total_max_attempts": 1, "mode": "standard"})
