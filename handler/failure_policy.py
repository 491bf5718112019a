"""What happens to an instance that cannot be named, and the circuit breaker that keeps ABANDON from looping.

ABANDON terminates the instance and the group launches an identical one, which fails the same way (a tag
value the template cannot use, a missing tag): capacity would never arrive. So before abandoning, the
policy looks at the group's recent activities (no state of its own): when asg-namer already abandoned
ABANDON_BREAKER launches of the group in the last hour, it completes with CONTINUE instead. Either way the
instance carries ``asg-namer:naming-failed=<reason>``, so an unnamed instance always says why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.metrics import EphemeralMetrics

from handler.config import FAILURE_TAG_KEY, Settings
from handler.fleet import Fleet, InstanceNotVisible, TransientAwsError
from handler.naming import replace_invalid_chars
from handler.observability import Metric, count, logger

BREAKER_WINDOW = timedelta(hours=1)
MAX_TAG_VALUE_LENGTH = 256


def reason_tag_value(reason: str) -> str:
    """A reason as a tag value can hold it (the characters tags allow, at most 256)."""
    return replace_invalid_chars(reason)[:MAX_TAG_VALUE_LENGTH].strip(" -") or "unknown"


class FailurePolicy:
    def __init__(self, settings: Settings, fleet: Fleet, metrics: EphemeralMetrics) -> None:
        self._settings = settings
        self._fleet = fleet
        self._metrics = metrics

    def mark(self, instance_id: str, reason: str) -> None:
        """The reason tag; best effort: the lifecycle result matters more than the tag."""
        value = reason_tag_value(reason)
        try:
            self._fleet.create_tags([instance_id], {FAILURE_TAG_KEY: value})
        except (TransientAwsError, InstanceNotVisible) as error:
            logger.warning("could not tag the naming failure", extra={"error": str(error)})

    def result(self, group: str) -> str:
        """FAILURE_RESULT, unless it is ABANDON and the breaker is open for this group."""
        result = self._settings.failure_result
        if result != "ABANDON" or self._settings.abandon_breaker == 0:
            return result
        abandoned = self.recently_abandoned(group)
        if abandoned < self._settings.abandon_breaker:
            return result
        count(self._metrics, Metric.NAMING_CIRCUIT_OPEN)
        logger.error(
            "naming circuit open: the group keeps launching instances that cannot be named; completing with"
            " CONTINUE instead of abandoning another one",
            extra={"abandoned_last_hour": abandoned, "breaker": self._settings.abandon_breaker},
        )
        return "CONTINUE"

    def recently_abandoned(self, group: str) -> int:
        """Launches of ``group`` abandoned in the last hour whose instance carries asg-namer's failure tag.

        Terminated instances stay visible to DescribeInstances for about an hour, the breaker's window.
        A throttled read raises TransientAwsError: the record is retried rather than guessed about.
        """
        instance_ids = self._fleet.abandoned_launches(group, datetime.now(UTC) - BREAKER_WINDOW)
        if not instance_ids:
            return 0
        return sum(1 for record in self._fleet.describe(instance_ids).values() if FAILURE_TAG_KEY in record.tags)
