"""The handler's AWS clients use exactly the retry policy the settings name (never botocore's default)."""

from __future__ import annotations

from handler.config import load_settings
from handler.fleet import Fleet


def test_clients_carry_the_configured_retry_mode_and_total_attempts() -> None:
    # GIVEN settings asking for standard retries with 3 attempts in all
    settings = load_settings({"AWS_REGION": "eu-west-1", "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"})
    # WHEN the execution environment builds its clients (no AWS call is made)
    fleet = Fleet.from_settings(settings)
    # THEN both clients carry that policy, counting the first attempt (botocore's total_max_attempts)
    for client in (fleet._ec2, fleet._autoscaling):
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert client.meta.region_name == "eu-west-1"


def test_the_default_policy_is_adaptive_with_three_attempts() -> None:
    fleet = Fleet.from_settings(load_settings({"AWS_REGION": "us-east-1"}))
    assert fleet._ec2.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 3}


def test_heartbeats_go_through_a_client_without_the_adaptive_rate_limiter() -> None:
    # GIVEN the default (adaptive) policy
    fleet = Fleet.from_settings(load_settings({"AWS_REGION": "us-east-1"}))
    # WHEN the heartbeat client is built (no AWS call is made)
    client = fleet._heartbeat_client()
    # THEN it retries the standard way, with the same attempts and timeouts, never queued by the limiter
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 5)
    assert client is not fleet._autoscaling
