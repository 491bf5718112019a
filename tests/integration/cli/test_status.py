"""asg-namer status: what waits in Pending:Wait, in the queue and in the DLQ."""

from __future__ import annotations

from tests.support.cli import make_stack


def test_status_by_group_lists_waiting_instances_and_the_hook_queue(sandbox, world, cli):
    # GIVEN two launches held in Pending:Wait (their messages wait in the queue, after the hook's test message)
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=2)
    waiting = [a.instance_id for a in sandbox.lifecycle.pending_actions(asg=world.asg_name)]
    assert len(waiting) == 2
    # WHEN asking for the group's status
    result = cli("status", "--asg", world.asg_name)
    # THEN both instances are listed with how long they have waited, and the queues with their depth
    assert result.code == 0, result.err
    assert f"Group {world.asg_name}: 2 instance(s), 2 in Pending:Wait" in result.out
    for instance_id in waiting:
        line = next(line for line in result.out.splitlines() if instance_id in line)
        assert line.rstrip().endswith(" s")
    assert f"launch hook {world.hook_name}: heartbeat 300 s, default result ABANDON" in result.out
    assert f"Queue {world.queue_url}: 3 waiting, 0 in flight" in result.out
    assert f"DLQ {world.dlq_url}: 0 waiting" in result.out
    # AND the oldest message's age, which only CloudWatch knows, is said to be unavailable here
    assert "oldest message: unavailable (no CloudWatch datapoint in the last 15 min)" in result.out


def test_status_by_stack_shows_dlq_depth_and_the_redrive_hint(sandbox, world, cli, unique):
    stack = make_stack(sandbox, world, f"status-{unique}")
    sqs = sandbox.client("sqs")
    for n in range(2):
        sqs.send_message(QueueUrl=world.dlq_url, MessageBody=f"dead {n}")
    result = cli("status", "--stack", stack)
    assert result.code == 0, result.err
    assert f"DLQ {world.dlq_url}: 2 waiting" in result.out
    assert f"asg-namer redrive --dlq-url {world.dlq_url} --dry-run" in result.out
    assert "Pending:Wait" not in result.out  # no group asked for


def test_status_failure_paths(cli):
    assert cli("status").code == 2
    unknown = cli("status", "--asg", "no-such-group")
    assert unknown.code == 1 and unknown.err.count("\n") == 1 and "'no-such-group' not found" in unknown.err
    missing = cli("status", "--stack", "no-such-stack")
    assert missing.code == 1 and "stack 'no-such-stack' not found" in missing.err
