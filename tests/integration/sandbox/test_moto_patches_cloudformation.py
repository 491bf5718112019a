"""sandbox.moto_patches, CloudFormation section: a stack made by a change set answers its Outputs."""

from __future__ import annotations

import time

from sandbox import Sandbox

TEMPLATE = """
Description: change-set outputs probe
Resources:
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  QueueArn:
    Value: !GetAtt Queue.Arn
    Export:
      Name: !Sub "${AWS::StackName}-QueueArn"
"""


def test_a_stack_created_through_a_change_set_has_its_outputs(sandbox: Sandbox, unique: str) -> None:
    cfn = sandbox.client("cloudformation")
    stack = f"cs-{unique}"
    # GIVEN a CREATE change set WHEN executed
    cfn.create_change_set(StackName=stack, ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=TEMPLATE)
    while cfn.describe_change_set(StackName=stack, ChangeSetName="one")["Status"] != "CREATE_COMPLETE":
        time.sleep(0.1)
    cfn.execute_change_set(StackName=stack, ChangeSetName="one")
    # THEN DescribeStacks answers the template's outputs and description, as CreateStack would
    (described,) = cfn.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o for o in described["Outputs"]}
    queue_url = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="Queue")["StackResourceDetail"][
        "PhysicalResourceId"
    ]
    assert outputs["QueueArn"]["OutputValue"].endswith(":" + queue_url.rsplit("/", 1)[1])
    assert outputs["QueueArn"]["ExportName"] == f"{stack}-QueueArn"
    assert described["Description"] == "change-set outputs probe"
