"""An instance's final name and its writing: no two live instances with one name, one CreateTags per change.

Shared by the queue path and the sweep. One NameWriter serves one batch (or one sweep): the names it is
about to write are checked in shared rounds, one DescribeInstances (a tag filter) for all of them, not one
per instance; templates with {slot} get their number from the slot allocator first (handler/slots.py).
Templates without {slot} make no DynamoDB call and need no table.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools.metrics import EphemeralMetrics

from handler.config import FAILURE_TAG_KEY, Settings
from handler.errors import NotReady, PermanentNamingFailure
from handler.fleet import Fleet, InstanceNotVisible, InstanceRecord
from handler.naming import MAX_HOST_LABEL_LENGTH, MAX_NAME_LENGTH, InvalidName, NeedsSlot
from handler.observability import Metric, count, logger
from handler.rounds import SharedRounds
from handler.slots import SlotAllocator

SUFFIX_LENGTH = 4


class NameWriter:
    """Decides the name to write (ON_COLLISION) and writes it with the instance's attached resources."""

    def __init__(self, settings: Settings, fleet: Fleet, metrics: EphemeralMetrics, alive: Iterable[str] = ()) -> None:
        """``alive``: instances known to be live (the batch's own), whose slots need no liveness check."""
        self._settings = settings
        self._fleet = fleet
        self._metrics = metrics
        self._holders: SharedRounds[str, frozenset[str]] = SharedRounds(self._holders_of)
        self._slots = (
            SlotAllocator(fleet, settings.slot_table, settings.gone_after_seconds) if settings.slot_table else None
        )

    def known_alive(self, instance_ids: Iterable[str]) -> None:
        """Instances just described as live (the batch's own): their slots need no liveness check."""
        if self._slots is not None:
            self._slots.known_alive(instance_ids)

    def prefetch(self, rendered: Iterable[tuple[str, str | NeedsSlot]]) -> None:
        """Before the records need it: the slot numbers of the instances of each pool, claimed together (in the
        order given: launch order), then who holds each name, the numbered ones included (one call)."""
        names: set[str] = set()
        pools: dict[str, list[tuple[str, NeedsSlot]]] = {}
        for instance_id, item in rendered:
            if isinstance(item, NeedsSlot):
                pools.setdefault(item.pool, []).append((instance_id, item))
            else:
                names.add(item)
        if pools and self._slots is not None:
            self._slots.prepare(pools)
            for pool, members in pools.items():
                self._slots.claim_block(pool, [instance_id for instance_id, _ in members])
                names |= _numbered_names(self._slots, pool, members)
        if names:
            self._holders.seed(names, self._holders_of(names))

    def final_name(self, instance: InstanceRecord, rendered: str | NeedsSlot) -> str:
        """The rendered name (with its slot claimed), unless another live instance already carries it: then
        suffixed, or a permanent failure (ON_COLLISION)."""
        name = self._with_slot(instance, rendered) if isinstance(rendered, NeedsSlot) else rendered
        holders = self._holders.known(name) if self._holders.answered(name) else self._holders.ask(name)
        others = sorted((holders or frozenset()) - {instance.instance_id})
        if not others:
            return name
        count(self._metrics, Metric.NAME_COLLISIONS)
        if self._settings.on_collision == "fail":
            raise PermanentNamingFailure(f"live instance {others[0]} already carries the name {name!r}")
        suffixed = with_suffix(name, instance.instance_id, self._settings.hostname_safe)
        logger.warning(
            "name already taken by another live instance; suffixed",
            extra={"instance_name": suffixed, "taken_name": name, "taken_by": others[:5]},
        )
        return suffixed

    def write(self, instance: InstanceRecord, name: str) -> bool:
        """CreateTags when the name differs (False when it was already right); clears an old failure tag."""
        if instance.tags.get(self._settings.name_tag_key) == name:
            return False
        resources = [instance.instance_id]
        if self._settings.tag_attached:
            resources += [*instance.volume_ids, *instance.network_interface_ids]
        try:
            self._fleet.create_tags(resources, {self._settings.name_tag_key: name})
            if FAILURE_TAG_KEY in instance.tags:
                self._fleet.delete_tags([instance.instance_id], [FAILURE_TAG_KEY])
        except InstanceNotVisible as error:
            raise NotReady(str(error)) from error
        return True

    def _with_slot(self, instance: InstanceRecord, rendered: NeedsSlot) -> str:
        if self._slots is None:
            raise PermanentNamingFailure("the template uses {slot}, which needs SLOT_TABLE (the stack creates it)")
        name = rendered.name_for(self._slots.slot_for(rendered.pool, instance.instance_id))
        if isinstance(name, InvalidName):
            raise PermanentNamingFailure(name.reason)
        return name

    def _holders_of(self, names: set[str]) -> dict[str, frozenset[str]]:
        return self._fleet.instances_named(self._settings.name_tag_key, names)


def _numbered_names(slots: SlotAllocator, pool: str, members: list[tuple[str, NeedsSlot]]) -> set[str]:
    """The names a block's claimed numbers give (a number still unsettled is left to its record)."""
    names = set()
    for instance_id, rendered in members:
        slot = slots.held_by(pool, instance_id)
        name = rendered.name_for(slot) if slot is not None else None
        if isinstance(name, str):
            names.add(name)
    return names


def with_suffix(name: str, instance_id: str, hostname_safe: bool) -> str:
    """``name-XXXX``: the last four characters of the instance id make it unique among live instances."""
    suffix = "-" + instance_id[-SUFFIX_LENGTH:]
    limit = MAX_HOST_LABEL_LENGTH if hostname_safe else MAX_NAME_LENGTH
    if len(name) + len(suffix) > limit:
        raise PermanentNamingFailure(
            f"the name {name!r} is taken and {name + suffix!r} would be over {limit} characters"
        )
    return name + suffix
