"""The embedded local AWS this project runs on: moto plus lifecycle hooks, the SQS trigger and faults."""

from sandbox.server import ACCOUNT_ID, DEFAULT_REGION, Sandbox

__all__ = ["ACCOUNT_ID", "DEFAULT_REGION", "Sandbox"]
