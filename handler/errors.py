"""Why a record or an instance stops where it does: what to skip, what to wait for, what to give up on.

Errors AWS answers are sorted in fleet.py (TransientAwsError: retry; ActionNotActive: acknowledge); these
are the handler's own decisions about an instance, shared by the queue path and the sweep.
"""

from __future__ import annotations


class NotReady(Exception):
    """A condition that time may fix: no private IP yet, or EC2 does not see the instance yet."""


class InstanceGone(Exception):
    """Terminated, or unknown to EC2 long after launch: nothing will ever be named. Skip."""


class PermanentNamingFailure(Exception):
    """The template cannot produce a valid name for this instance (a missing tag, an invalid name): the
    failure policy decides the lifecycle result."""


class Rejected(Exception):
    """The message claims what AWS contradicts (an instance outside the group it names, a hook the group
    does not have or that notifies another queue): never acted on. Skip, loudly."""
