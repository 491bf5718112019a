"""One request as AWS's front door sees it: which service, action and Region it is for.

The server identifies every request once; the fault controls, the call journal and the moto patches
all read the same :class:`ApiCall`. This module imports nothing else of the sandbox, so any of them
can depend on it without a circle.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

DEFAULT_REGION = "us-east-1"
#: moto's default account: every request to the sandbox acts in it.
ACCOUNT_ID = "123456789012"
# Services that speak a JSON protocol (X-Amz-Target header) rather than the query protocol.
_JSON_TARGET_PREFIXES = {
    "AmazonSQS": "sqs",
    "Logs_20140328": "logs",
    "GraniteServiceVersion20100801": "monitoring",
    "AWSEvents": "events",
}


@dataclass(frozen=True)
class ApiCall:
    """One request as the fault controls and the call journal see it."""

    service: str
    action: str
    region: str
    json_protocol: bool
    params: dict[str, list[str]] = field(default_factory=dict, compare=False)


def identify(environ: Mapping[str, Any], body: bytes) -> ApiCall:
    """Works out service, action and region from the signed request, as AWS's front door does."""
    service, region = "unknown", DEFAULT_REGION
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            region, service = scope[2], scope[3]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, action = target.partition(".")
        return ApiCall(_JSON_TARGET_PREFIXES.get(prefix, service), action, region, True)
    params: dict[str, list[str]] = {}
    if environ.get("REQUEST_METHOD") == "POST" and body:
        with contextlib.suppress(UnicodeDecodeError):
            params = parse_qs(body.decode("utf-8"))
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (params.get("Action") or query.get("Action") or [""])[0]
    return ApiCall(service, action or environ.get("PATH_INFO", ""), region, False, params)


def tagged_resources(call: ApiCall) -> tuple[str, ...]:
    """ResourceId.N of an EC2 CreateTags / DeleteTags request, in order (empty for any other call)."""
    return _numbered(call, "ResourceId.{}")


def tag_keys(call: ApiCall) -> tuple[str, ...]:
    """Tag.N.Key of an EC2 CreateTags / DeleteTags request, in order (empty for any other call)."""
    return _numbered(call, "Tag.{}.Key")


def _numbered(call: ApiCall, pattern: str) -> tuple[str, ...]:
    """The values of a query-protocol list parameter (``ResourceId.1``, ``ResourceId.2``, ...) of a tag call."""
    if call.service != "ec2" or call.action not in ("CreateTags", "DeleteTags"):
        return ()
    prefix, _, suffix = pattern.partition("{}")
    numbered: list[tuple[int, str]] = []
    for key, values in call.params.items():
        index = key[len(prefix) : len(key) - len(suffix)] if key.startswith(prefix) and key.endswith(suffix) else ""
        if index.isdigit():
            numbered += [(int(index), value) for value in values]
    return tuple(value for _, value in sorted(numbered, key=lambda pair: pair[0]))


@dataclass(frozen=True)
class Rejection:
    """An answer the sandbox gives instead of moto's: an AWS error (status, code) or a reset connection."""

    status: int
    code: str
    message: str
    reset_connection: bool = False
