"""What every command shares: the AWS session (honouring --region, --profile and AWS_ENDPOINT_URL) and errors."""

from __future__ import annotations

import argparse
import os
from typing import Any

import boto3
from botocore.config import Config

from handler.fleet import Fleet

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure the operator can act on; the message is one line that says what to do next."""

    exit_code = EXIT_FAILURES


class UsageError(CliError):
    exit_code = EXIT_USAGE


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS Region (default: the profile's or AWS_DEFAULT_REGION)")
    parser.add_argument("--profile", help="named profile from ~/.aws/config")


class Aws:
    """boto3 clients for one command run; AWS_ENDPOINT_URL (the sandbox) is honoured by boto3 itself."""

    def __init__(self, region: str | None = None, profile: str | None = None) -> None:
        try:
            self.session = boto3.session.Session(profile_name=profile, region_name=region)
        except Exception as error:  # botocore's ProfileNotFound and friends
            raise UsageError(
                f"cannot use profile {profile!r}: {error}; check ~/.aws/config or drop --profile"
            ) from error
        if self.session.region_name is None:
            raise UsageError("no AWS Region: pass --region or set AWS_DEFAULT_REGION")
        self._config = Config(retries={"mode": "adaptive", "max_attempts": 10})
        self._clients: dict[str, Any] = {}
        self._fleet: Fleet | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Aws:
        return cls(getattr(args, "region", None), getattr(args, "profile", None))

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    @property
    def endpoint_url(self) -> str | None:
        return os.environ.get("AWS_ENDPOINT_URL")

    def fleet(self) -> Fleet:
        """EC2 and Auto Scaling reads and writes through the same code the Lambda runs, with this session."""
        if self._fleet is None:
            self._fleet = Fleet(
                self._config, make_client=lambda service, config: self.session.client(service, config=config)
            )
        return self._fleet

    def _client_with(self, service: str, config: Config) -> Any:
        return self.session.client(service, config=config)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self._config)
        return self._clients[service]
