"""Scenario builders: what an operator's account holds when asg-namer is deployed, made with plain boto3.

The demo, the end-to-end tests, the benchmark and the fault suite start from :func:`build_world`; the
team's tag convention (:data:`TEAM_TAGS`) lives here, not in the sandbox, which knows AWS only.
"""

from scenarios.world import (
    LAUNCH_TRANSITION,
    TEAM_TAGS,
    World,
    build_world,
    clients,
    create_hook_role,
    create_slot_table,
)

__all__ = ["LAUNCH_TRANSITION", "TEAM_TAGS", "World", "build_world", "clients", "create_hook_role", "create_slot_table"]
