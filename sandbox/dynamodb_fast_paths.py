"""moto's DynamoDB without two costs AWS does not have; every answer stays the one moto gives, byte for byte.

Measured through the sandbox over HTTP on moto 5.2.5 (docs/benchmarks.md), under the lock every request shares:

- **A transaction deep-copies every table it names, once per item.** ``TransactWriteItems`` backs each table up
  with ``copy.deepcopy`` for a rollback it rarely needs, again for every item naming it: 50 puts into a
  2000-item table took 2 s (14 ms now). :func:`transact_write_items` replaces the backup with an undo log:
  the touched tables' containers copied (item references, not items), the items an Update is about to change
  in place copied deeply, the stream records kept; a rollback puts exactly that back. The writes, the
  condition checks, the cancellation reasons and when moto rolls back (and when not) are moto's, line by line.
- **Answers are serialized member by member.** moto renders every ``AttributeValue`` through its generic
  botocore-model serializer, which looks each of the ten possible members up through a chain of attribute
  aliases: about 85 % of a ``Query`` of 1000 items (0.35 s; 43 ms now). An ``AttributeValue`` that is the
  plain ``{type: value}`` dict moto's own conversion makes is rendered directly, member by member in the
  model's order with the same conversions (strings, base64 blobs, booleans, lists, maps); anything else
  takes moto's path.

What stays slow: moto's ``Query`` itself reads every item of the table, sorts the partition and deep-copies
each item it returns (docs/benchmarks.md). ``sandbox.moto_patches`` installs both replacements (each is made
from moto's original, which stays its ``__wrapped__``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from enum import Enum
from typing import Any

MAX_TRANSACTION_ITEMS = 100  # moto's (and DynamoDB's) limit, checked before anything is read


# --------------------------------------------------------------------------------------------- transactions


class _TableUndo:
    """One table as a transaction found it: its containers copied (the items themselves are shared, since a
    Put or a Delete replaces or removes an item and leaves it whole), deep copies of the items an Update
    changes in place, and its stream records."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._ranged = table.range_key_attr is not None
        self._items = {h: dict(part) if self._ranged else part for h, part in table.items.items()}
        shard = table.stream_shard
        self._stream = list(shard.items) if shard is not None else None

    def keep(self, item: Any) -> None:
        """Before an Update changes ``item`` in place: its copy is what a rollback puts back."""
        container = self._items.get(item.hash_key) if self._ranged else self._items
        key = item.range_key if self._ranged else item.hash_key
        if container is not None and container.get(key) is item:  # else: not there when the transaction began
            container[key] = copy.deepcopy(item)

    def restore(self) -> None:
        self.table.items.clear()
        self.table.items.update(self._items)
        if self._stream is not None:
            self.table.stream_shard.items = self._stream


def transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with the undo log in place of its table copies."""
    from moto.dynamodb.comparisons import get_filter_expression  # noqa: PLC0415 - moto loads lazily
    from moto.dynamodb.exceptions import (  # noqa: PLC0415
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > MAX_TRANSACTION_ITEMS:
            raise TooManyTransactionsException()
        # moto backs up each table named (by name) that exists, before anything runs
        undo: dict[str, _TableUndo] = {}
        for item in transact_items:
            _, op = next(iter(item.items()))
            table_name = op.get("TableName")
            if table_name and table_name in self.tables and table_name not in undo:
                undo[table_name] = _TableUndo(self.tables[table_name])
        undo_by_table = {id(u.table): u for u in undo.values()}

        def roll_back() -> None:
            for table_undo in undo.values():
                table_undo.restore()

        target_items: set[tuple[str, str]] = set()
        errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException  # outside moto's try: no rollback, as in moto
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                unique = (str(table_name), str(dict(sorted(key.items()))))
                if unique in target_items:
                    raise MultipleTransactionsException()
                target_items.add(unique)

                current = self.get_item(table_name, key)
                if condition_expression is not None:
                    condition = get_filter_expression(condition_expression, names, values)
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)

                expressions = {
                    "condition_expression": condition_expression,
                    "expression_attribute_names": names,
                    "expression_attribute_values": values,
                }
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], **expressions)
                elif op_type == "Delete":
                    self.delete_item(table_name, key, **expressions)
                elif op_type == "Update":
                    table_undo = undo_by_table.get(id(self.get_table(table_name)))
                    if table_undo is not None and current is not None:
                        table_undo.keep(current)
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"], **expressions)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                roll_back()
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), original_item))
            except Exception as e:  # as moto: any other failure is this item's cancellation reason
                errors.append((type(e).__name__, str(e), original_item))

        if any(code is not None for code, _, _ in errors):
            roll_back()
            raise TransactionCanceledException(errors)

    return transact_write_items


# --------------------------------------------------------------------------------------------- answers


class _NotPlain(Exception):
    """A value moto's own serializer must render (not the {type: value} shape this module renders)."""


def serialize_type_structure(original: Callable[..., None]) -> Callable[..., None]:
    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        dynamodb = self.service_model.service_name == "dynamodb"
        if key and value is not None and shape.name == "AttributeValue" and dynamodb:
            try:
                rendered = _attribute_value(self, value, shape)
            except _NotPlain:
                pass
            else:
                self._default_serialize(serialized, rendered, shape, key)
                return
        original(self, serialized, value, shape, key)

    return _serialize_type_structure


def _attribute_value(serializer: Any, value: Any, shape: Any) -> dict[str, Any]:
    """What moto's JSON serializer makes of a ``{type: value}`` dict: the members present and not None, in the
    model's order (its attribute picker finds a dict's members by their own names and none by an alias)."""
    members = shape.members
    if type(value) is not dict or not value.keys() <= members.keys():  # a subclass could answer to an alias
        raise _NotPlain
    return {
        name: _rendered(serializer, value[name], member)
        for name, member in members.items()
        if value.get(name) is not None
    }


def _rendered(serializer: Any, value: Any, shape: Any) -> Any:
    """One member's value as BaseJSONSerializer renders it (the types an AttributeValue holds)."""
    kind = shape.type_name
    if kind == "string":
        if isinstance(value, Enum):
            value = value.value
        return str(value) if value not in [None, {}, []] else value
    if kind == "blob":
        return serializer._base64(value)
    if kind == "boolean":
        return value
    if kind == "list":
        member = shape.member
        if member.type_name == "structure":  # a None element stays None, as moto appends it unrendered
            return [None if element is None else _attribute_value(serializer, element, member) for element in value]
        return [_rendered(serializer, element, member) for element in value]
    if kind == "map":
        if shape.value.type_name != "structure" or not all(value):  # moto writes an unnamed member's in place
            raise _NotPlain
        return {k: _attribute_value(serializer, v, shape.value) for k, v in value.items() if v is not None}
    raise _NotPlain
