"""asg-namer preview: the name for every instance, or exactly why there is none; writes nothing."""

from __future__ import annotations

import json

from handler.naming import NOTIFICATION_METADATA_TEMPLATE_KEY
from scenarios import build_world
from tests.support.cli import launch_unhooked, names, without_hook
from tests.support.world import expected_name, group_instances


def test_preview_shows_each_name_and_why_an_instance_cannot_be_named_and_writes_nothing(sandbox, world, cli):
    # GIVEN three running instances, one of which lost its Env tag
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 3)
    sandbox.client("ec2").delete_tags(Resources=[ids[0]], Tags=[{"Key": "Env"}])
    ips = {i: facts["ip"] for i, facts in group_instances(sandbox, world).items()}
    before = len(sandbox.journal.records())
    # WHEN previewing with the default template
    result = cli("preview", "--asg", world.asg_name)
    # THEN the two complete instances show their names and the third the missing tag; exit 1 flags the problem
    assert result.code == 1, result.err
    for instance_id in ids[1:]:
        line = next(line for line in result.out.splitlines() if line.startswith(instance_id))
        assert line.endswith(expected_name(ips[instance_id]))
    broken = next(line for line in result.out.splitlines() if line.startswith(ids[0]))
    assert "cannot name: instance lacks tag(s) the template needs: 'Env'" in broken
    assert "3 instance(s): 2 would be (re)named, 0 unchanged, 1 cannot be named." in result.out
    # AND nothing was written
    assert names(sandbox, ids) == dict.fromkeys(ids)
    written = [r for r in sandbox.journal.records()[before:] if r.action in ("CreateTags", "PutLifecycleHook")]
    assert written == []


def test_preview_uses_the_template_in_the_hook_metadata(sandbox, cli, unique):
    # GIVEN a group whose launch hook carries its own template, with two instances waiting in Pending:Wait
    metadata = json.dumps({NOTIFICATION_METADATA_TEMPLATE_KEY: "{tag:App}-{asg}-{ip4}"})
    world = build_world(f"pv-{unique}", endpoint_url=sandbox.endpoint_url, notification_metadata=metadata)
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=world.asg_name, DesiredCapacity=2)
    instances = group_instances(sandbox, world)
    # WHEN previewing without --name-template
    result = cli("preview", "--asg", world.asg_name)
    # THEN the hook's template is the one used, and said so
    assert result.code == 0, result.err
    assert f"from metadata of hook '{world.hook_name}'" in result.out
    for instance_id, facts in instances.items():
        assert f"store-{world.asg_name}-{facts['ip'].split('.')[3]}" in result.out
        assert "Pending:Wait" in next(line for line in result.out.splitlines() if line.startswith(instance_id))


def test_preview_explicit_template_wins_and_a_bad_one_is_a_usage_error(sandbox, world, cli):
    without_hook(sandbox, world)
    ids = launch_unhooked(sandbox, world, 1)
    ok = cli("preview", "--asg", world.asg_name, "--name-template", "web-{instance_id}")
    assert ok.code == 0 and f"web-{ids[0]}" in ok.out
    bad = cli("preview", "--asg", world.asg_name, "--name-template", "web-{{x}}")
    assert bad.code == 2 and "at index 4" in bad.err


def test_preview_of_an_unknown_group_fails_with_one_line(cli):
    result = cli("preview", "--asg", "no-such-group")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "'no-such-group' not found" in result.err
