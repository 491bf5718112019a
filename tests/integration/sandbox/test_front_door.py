"""The sandbox serves AWS's API to programs on this machine, never to a web page (sandbox/front_door.py).

A page in the operator's browser must not be able to read answers (CORS), reach the sandbox through a
rebinding DNS name (Host), or use moto's management API (reset, recorder, proxy, seed, state manager).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from sandbox import Sandbox
from sandbox.front_door import is_loopback

EC2_AUTH = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0"


def ec2_query(sandbox: Sandbox, action: str, headers: dict[str, str] | None = None, **params: str) -> Any:
    """A query-protocol EC2 call made by hand, as a web page (or curl) would make it."""
    return requests.post(
        sandbox.endpoint_url,
        data={"Action": action, "Version": "2016-11-15", **params},
        headers={"Authorization": EC2_AUTH, **(headers or {})},
        timeout=30,
    )


def key_pairs(sandbox: Sandbox, name: str) -> list[str]:
    pairs = sandbox.client("ec2").describe_key_pairs(Filters=[{"Name": "key-name", "Values": [name]}])["KeyPairs"]
    return [p["KeyName"] for p in pairs]


def assert_refused(response: Any) -> None:
    """403 with an AWS-shaped error body, and nothing a browser would accept as a CORS grant."""
    assert response.status_code == 403, response.text
    assert "<Code>AccessDenied</Code>" in response.text
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


@pytest.mark.parametrize(
    ("header", "value"),
    [("Origin", "http://evil.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site")],
)
def test_a_request_from_a_web_page_is_refused_and_changes_nothing(
    sandbox: Sandbox, unique: str, header: str, value: str
) -> None:
    # GIVEN a state-changing call carrying a header only browsers send
    name = f"web-{unique}"
    # WHEN it reaches the sandbox
    response = ec2_query(sandbox, "CreateKeyPair", {header: value}, KeyName=name)
    # THEN it is refused as AWS refuses, without CORS headers, and the key pair does not exist
    assert_refused(response)
    assert key_pairs(sandbox, name) == []


def test_a_cors_preflight_is_refused(sandbox: Sandbox) -> None:
    # GIVEN the preflight a browser sends before a cross-origin POST
    response = requests.options(
        sandbox.endpoint_url,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    # THEN it gets no grant
    assert_refused(response)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "127.0.0.1.nip.io", "localhost.evil.example"])
def test_a_request_addressed_to_another_host_name_is_refused(sandbox: Sandbox, unique: str, host: str) -> None:
    # GIVEN a DNS name that resolved to this machine (DNS rebinding): the Host header is the attacker's
    name = f"rebound-{unique}"
    # WHEN a call arrives with it
    response = ec2_query(sandbox, "CreateKeyPair", {"Host": host}, KeyName=name)
    # THEN it is refused and changes nothing
    assert_refused(response)
    assert key_pairs(sandbox, name) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:5000", True),
        ("localhost", True),
        ("LocalHost:80", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        (None, False),
        ("", False),
        ("127.0.0.1:", False),
        ("127.0.0.1:80x", False),
        ("127.0.0.2", False),
        ("[::1]x", False),
        ("localhost.", False),
        ("evil.example", False),
    ],
)
def test_only_loopback_names_count_as_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "path",
    [
        "/moto-api/recorder/start-recording",
        "/moto-api/reset",
        "/moto-api/seed?a=42",
        "/moto-api/proxy/passthrough",
        "/moto-api/state-manager/set-transition",
        "/moto-api/",
    ],
)
def test_moto_management_api_is_refused(
    sandbox: Sandbox, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    # GIVEN state the management API could reset, and a working directory the recorder would write to
    monkeypatch.chdir(tmp_path)
    sandbox.client("ec2").create_key_pair(KeyName=f"kept-{unique}")
    # WHEN the endpoint is called from this machine, then an ordinary call follows
    response = requests.request(method, sandbox.endpoint_url + path, timeout=30)
    sandbox.client("ec2").describe_vpcs()
    # THEN it is refused, nothing was reset, and no file was written
    assert_refused(response)
    assert key_pairs(sandbox, f"kept-{unique}") == [f"kept-{unique}"]
    assert list(tmp_path.iterdir()) == []


def test_a_request_routed_to_the_management_api_by_its_host_pattern_is_refused(sandbox: Sandbox) -> None:
    # GIVEN a signature scope that moto's dispatcher maps to its management API's URL pattern
    auth = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/motoapi.amazonaws.com#/aws4_request, Signature=0"
    # WHEN it is sent on an ordinary path THEN the sandbox refuses it too
    assert_refused(requests.post(sandbox.endpoint_url + "/", headers={"Authorization": auth}, timeout=30))


def test_plain_boto3_works_and_answers_carry_no_cors_headers(sandbox: Sandbox, unique: str) -> None:
    # GIVEN boto3 pointed at the sandbox the usual way (AWS_ENDPOINT_URL) WHEN it calls THEN it is answered
    answer = boto3.client("sqs").create_queue(QueueName=f"front-door-{unique}")
    assert answer["QueueUrl"].startswith(sandbox.endpoint_url)
    # AND no answer grants anything to web pages
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    assert not [h for h in headers if h.lower().startswith("access-control-")]
