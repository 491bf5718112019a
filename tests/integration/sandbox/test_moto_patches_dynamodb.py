"""sandbox.dynamodb_fast_paths (installed by sandbox.moto_patches): moto's DynamoDB answers, unchanged, without
copying tables or picking members.

Two kinds of test: what DynamoDB's transactions and queries promise (a cancelled transaction changes nothing,
cancellation reasons name the item, pages follow LastEvaluatedKey), and every answer of a long exchange
compared byte for byte with the answer moto gives as it is (its own transaction and serializer put back for
the duration).
"""

from __future__ import annotations

import contextlib
import enum
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from botocore.config import Config

from sandbox import Sandbox, moto_patches

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
STRING = "S"
RANGED = "ranged"  # a partition key and a sort key, as a pool of numbers is kept
HASH_ONLY = "hash-only"


def create_table(dynamodb: Any, name: str, kind: str = RANGED, stream: bool = False) -> str:
    keys = [("pk", "HASH")] + ([("sk", "RANGE")] if kind == RANGED else [])
    extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if stream else {}
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": STRING} for a, _ in keys],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    return name


def key(kind: str, pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}} if kind == RANGED else {"pk": {"S": f"{pk}/{sk}"}}


def item(kind: str, pk: str, sk: str, **attributes: dict[str, Any]) -> dict[str, Any]:
    return {**key(kind, pk, sk), **attributes}


def scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table, in moto's order (the order is part of what a rollback must keep)."""
    return list(dynamodb.scan(TableName=table, ConsistentRead=True)["Items"])


def cancellation(call: Callable[[], Any]) -> tuple[str, list[dict[str, Any]]]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response.get("CancellationReasons", [])


@pytest.fixture
def dynamodb(sandbox: Sandbox) -> Any:
    return sandbox.client("dynamodb", config=NO_RETRY)


@contextlib.contextmanager
def moto_as_is() -> Iterator[None]:
    """moto's own TransactWriteItems and serializer for the duration (the fast paths must be installed)."""
    from moto.core.serialize import BaseJSONSerializer  # noqa: PLC0415 - moto loads lazily
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415

    patched = [(DynamoDBBackend, "transact_write_items"), (BaseJSONSerializer, "_serialize_type_structure")]
    fast = [getattr(owner, name) for owner, name in patched]
    assert all(getattr(f, "_sandbox_patch", None) == moto_patches._SPEED_PATCH for f in fast)
    for (owner, name), f in zip(patched, fast, strict=True):
        setattr(owner, name, f.__wrapped__)
    try:
        yield
    finally:
        for (owner, name), f in zip(patched, fast, strict=True):
            setattr(owner, name, f)


# --- transactions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [RANGED, HASH_ONLY])
def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb: Any, unique: str, kind: str) -> None:
    # GIVEN a table of five items (a stream on it records every change)
    table = create_table(dynamodb, f"undo-{kind}-{unique}", kind, stream=kind == RANGED)
    for n in range(5):
        dynamodb.put_item(TableName=table, Item=item(kind, "p", f"s#{n}", holder={"S": f"i-{n}"}, n={"N": str(n)}))
    before = scan(dynamodb, table)
    records_before = stream_records(dynamodb, table) if kind == RANGED else []
    # WHEN one transaction overwrites an item, changes one in place, deletes one, adds two (one by an Update)
    # and then fails a condition
    writes = [
        {"Put": {"TableName": table, "Item": item(kind, "p", "s#0", holder={"S": "i-new"})}},
        {
            "Update": {
                "TableName": table,
                "Key": key(kind, "p", "s#1"),
                "UpdateExpression": "SET holder = :h, extra = :m ADD n :one REMOVE gone",
                "ExpressionAttributeValues": {":h": {"S": "i-changed"}, ":one": {"N": "1"}, ":m": {"M": {}}},
            }
        },
        {"Delete": {"TableName": table, "Key": key(kind, "p", "s#2")}},
        {"Put": {"TableName": table, "Item": item(kind, "p", "s#9", holder={"S": "i-9"})}},
        {
            "Update": {
                "TableName": table,
                "Key": key(kind, "p", "s#8"),
                "UpdateExpression": "SET holder = :h",
                "ExpressionAttributeValues": {":h": {"S": "i-8"}},
            }
        },
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": key(kind, "p", "s#3"),
                "ConditionExpression": "holder = :other",
                "ExpressionAttributeValues": {":other": {"S": "i-someone-else"}},
            }
        },
    ]
    code, reasons = cancellation(lambda: dynamodb.transact_write_items(TransactItems=writes))
    # THEN it is cancelled for that condition alone, and every item is as it was, in the same order
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in reasons] == ["None", "None", "None", "None", "None", "ConditionalCheckFailed"]
    assert scan(dynamodb, table) == before
    # AND the stream holds no record of it
    if kind == RANGED:
        assert stream_records(dynamodb, table) == records_before


def stream_records(dynamodb: Any, table: str) -> list[str]:
    """The table's stream, as event names with their keys, oldest first."""
    streams = dynamodb_streams(dynamodb)
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [f"{r['eventName']} {r['dynamodb']['Keys']['sk']['S']}" for r in records]


def dynamodb_streams(dynamodb: Any) -> Any:
    import boto3  # noqa: PLC0415 - the same endpoint and credentials as the DynamoDB client

    return boto3.client(
        "dynamodbstreams",
        endpoint_url=dynamodb.meta.endpoint_url,
        region_name=dynamodb.meta.region_name,
        config=NO_RETRY,
    )


def test_a_claim_on_a_taken_number_names_its_holder_and_writes_nothing(dynamodb: Any, unique: str) -> None:
    # GIVEN a pool where number 1 is held (a number item and its holder's item)
    table = create_table(dynamodb, f"claims-{unique}")

    def claim(number: int, holder: str) -> list[dict[str, Any]]:
        """The two conditional puts of one claim: the number, and the holder's item pointing at it."""
        return [
            {
                "Put": {
                    "TableName": table,
                    "Item": item(RANGED, "pool", f"s#{number}", holder={"S": holder}),
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            },
            {
                "Put": {
                    "TableName": table,
                    "Item": item(RANGED, "pool", f"h#{holder}", slot={"N": str(number)}),
                    "ConditionExpression": "attribute_not_exists(sk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]

    dynamodb.transact_write_items(TransactItems=claim(1, "i-a"))
    before = scan(dynamodb, table)
    # WHEN i-b and i-c claim 2 and 1 in one block, and then i-a claims 3 although it holds 1
    taken = cancellation(lambda: dynamodb.transact_write_items(TransactItems=claim(2, "i-b") + claim(1, "i-c")))
    held = cancellation(lambda: dynamodb.transact_write_items(TransactItems=claim(3, "i-a")))
    # THEN the first is cancelled by number 1's condition, the second by i-a's holder item, which it returns
    assert [r["Code"] for r in taken[1]] == ["None", "None", "ConditionalCheckFailed", "None"]
    assert [r["Code"] for r in held[1]] == ["None", "ConditionalCheckFailed"]
    assert held[1][1]["Item"] == item(RANGED, "pool", "h#i-a", slot={"N": "1"})
    assert held[1][1]["Message"] == "The conditional request failed"
    # AND neither wrote anything
    assert scan(dynamodb, table) == before


def test_two_operations_on_one_item_are_refused_and_undo_what_ran_before(dynamodb: Any, unique: str) -> None:
    # GIVEN an empty table
    table = create_table(dynamodb, f"twice-{unique}")
    first = {"Put": {"TableName": table, "Item": item(RANGED, "p", "a")}}
    twice = {"Put": {"TableName": table, "Item": item(RANGED, "p", "b")}}
    # WHEN a transaction writes one item, then another item twice
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[first, twice, twice])
    # THEN it is refused as moto refuses it, and the first write is undone
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "multiple operations on one item" in raised.value.response["Error"]["Message"]
    assert scan(dynamodb, table) == []


def test_a_transaction_that_passes_writes_every_item(dynamodb: Any, unique: str) -> None:
    # GIVEN two items
    table = create_table(dynamodb, f"commit-{unique}")
    for sk in ("a", "b"):
        dynamodb.put_item(TableName=table, Item=item(RANGED, "p", sk, n={"N": "1"}))
    # WHEN a transaction adds one, changes one, deletes one, and checks a condition that holds
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": item(RANGED, "p", "c"),
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            },
            {
                "Update": {
                    "TableName": table,
                    "Key": key(RANGED, "p", "a"),
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": table, "Key": key(RANGED, "p", "b")}},
        ]
    )
    # THEN all three writes are there
    assert scan(dynamodb, table) == [item(RANGED, "p", "a", n={"N": "2"}), item(RANGED, "p", "c")]


# --- queries --------------------------------------------------------------------------------------------


def test_a_consistent_query_pages_through_a_partition_with_limit(dynamodb: Any, unique: str) -> None:
    # GIVEN a partition of eight numbers (and another partition beside it)
    table = create_table(dynamodb, f"pages-{unique}")
    for n in range(8):
        dynamodb.put_item(TableName=table, Item=item(RANGED, "p", f"s#{n}", holder={"S": f"i-{n}"}))
        dynamodb.put_item(TableName=table, Item=item(RANGED, "other", f"s#{n}"))

    def query(values: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        return dict(
            dynamodb.query(
                TableName=table,
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={":p": {"S": "p"}, ":s": {"S": "s#"}, **(values or {})},
                ConsistentRead=True,
                **extra,
            )
        )

    whole = query()
    # WHEN it is read three numbers a page, following LastEvaluatedKey
    pages, start = [], None
    while True:
        page = query(Limit=3, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    # THEN the pages are the partition in order, each counted, each full page ending at its last item's key
    assert [item["sk"]["S"] for item in whole["Items"]] == [f"s#{n}" for n in range(8)]
    assert (whole["Count"], whole["ScannedCount"]) == (8, 8)
    assert [len(p["Items"]) for p in pages] == [3, 3, 2]
    assert [i for p in pages for i in p["Items"]] == whole["Items"]
    assert all(p["Count"] == p["ScannedCount"] == len(p["Items"]) for p in pages)
    assert [p.get("LastEvaluatedKey") for p in pages[:2]] == [key(RANGED, "p", "s#2"), key(RANGED, "p", "s#5")]
    # AND a filter counts what it kept apart from what it read
    kept = query({":a": {"S": "i-1"}, ":b": {"S": "i-6"}}, FilterExpression="holder IN (:a, :b)")
    assert ([i["sk"]["S"] for i in kept["Items"]], kept["Count"], kept["ScannedCount"]) == (["s#1", "s#6"], 2, 8)


# --- byte for byte --------------------------------------------------------------------------------------


class Answers:
    """Every answer a client received, as it came off the wire: operation, HTTP status, body."""

    def __init__(self, client: Any) -> None:
        self.received: list[tuple[str, int, bytes]] = []
        client.meta.events.register("before-parse.dynamodb", self._keep)

    def _keep(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        self.received.append((operation_model.name, response_dict["status_code"], response_dict["body"]))


RICH = {
    "s": {"S": 'a "quoted" \\ back\nslash, é ü \U0001f680'},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["b", "a"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"\x00"]},
    "m": {
        "M": {
            "inner": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}, {"BOOL": False}, {"M": {}}, {"L": []}]},
            "dotted.name": {"B": b"\x01"},
        }
    },
    "l": {"L": []},
    "nul": {"NULL": True},
    "t": {"BOOL": True},
}


def exchange(dynamodb: Any, ranged: str, hash_only: str) -> None:
    """Every kind of request the fast paths answer, failures included; the answers are what is compared."""

    def query(**extra: Any) -> Any:
        values = {":p": {"S": "p"}, ":s": {"S": "s#"}, **extra.pop("values", {})}
        condition = "pk = :p AND begins_with(sk, :s)"
        return dynamodb.query(
            TableName=ranged, KeyConditionExpression=condition, ExpressionAttributeValues=values, **extra
        )

    def transact(*writes: dict[str, Any]) -> Any:
        return dynamodb.transact_write_items(TransactItems=list(writes))

    def put(table: str, kind: str, sk: str, condition: str | None = None, **attributes: Any) -> dict[str, Any]:
        write = {"TableName": table, "Item": item(kind, "p", sk, **attributes)}
        if condition:
            write |= {"ConditionExpression": condition, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        return {"Put": write}

    def update(table: str, kind: str, sk: str, expression: str, **values: Any) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": table,
                "Key": key(kind, "p", sk),
                "UpdateExpression": expression,
                "ExpressionAttributeValues": values,
            }
        }

    def delete(table: str, kind: str, sk: str) -> dict[str, Any]:
        return {"Delete": {"TableName": table, "Key": key(kind, "p", sk)}}

    failing_check = {
        "ConditionCheck": {
            "TableName": ranged,
            "Key": key(RANGED, "p", "s#3"),
            "ConditionExpression": "attribute_not_exists(holder)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    one, taken, absent = {":one": {"N": "1"}}, "attribute_not_exists(sk)", "attribute_not_exists(pk)"
    calls: list[Callable[[], Any]] = [
        lambda: dynamodb.put_item(TableName=ranged, Item=item(RANGED, "p", "rich", **RICH)),
        *[
            lambda n=n: dynamodb.put_item(
                TableName=ranged,
                Item=item(RANGED, "p", f"s#{n}", holder={"S": f"i-{n}"}, claimed_at={"N": f"{1700000000 + n}.125"}),
            )
            for n in range(7)
        ],
        *[lambda n=n: dynamodb.put_item(TableName=hash_only, Item=item(HASH_ONLY, "p", f"s#{n}")) for n in range(5)],
        lambda: dynamodb.get_item(TableName=ranged, Key=key(RANGED, "p", "rich"), ConsistentRead=True),
        lambda: dynamodb.get_item(TableName=ranged, Key=key(RANGED, "p", "missing")),
        lambda: dynamodb.get_item(
            TableName=ranged,
            Key=key(RANGED, "p", "rich"),
            ProjectionExpression="#m.inner[2], ss, b",
            ExpressionAttributeNames={"#m": "m"},
            ReturnConsumedCapacity="TOTAL",
        ),
        lambda: dynamodb.batch_get_item(
            RequestItems={ranged: {"Keys": [key(RANGED, "p", k) for k in ("rich", "s#1", "missing")]}}
        ),
        lambda: query(ConsistentRead=True),
        lambda: query(Limit=2),
        lambda: query(Limit=2, ExclusiveStartKey=key(RANGED, "p", "s#2")),
        lambda: query(Limit=3, ScanIndexForward=False),
        lambda: query(Select="COUNT"),
        lambda: query(ProjectionExpression="holder"),
        lambda: query(FilterExpression="holder = :h", values={":h": {"S": "i-4"}}, ReturnConsumedCapacity="INDEXES"),
        lambda: dynamodb.scan(TableName=hash_only, Limit=2),
        lambda: transact(
            put(ranged, RANGED, "new", taken, holder={"S": "i-new"}),
            update(ranged, RANGED, "s#0", "ADD uses :one", **one),
            delete(ranged, RANGED, "s#6"),
            {
                "ConditionCheck": {
                    "TableName": ranged,
                    "Key": key(RANGED, "p", "s#1"),
                    "ConditionExpression": "holder = :h",
                    "ExpressionAttributeValues": {":h": {"S": "i-1"}},
                }
            },
        ),
        lambda: transact(
            put(ranged, RANGED, "s#0", None, holder={"S": "i-over"}),
            update(ranged, RANGED, "s#1", "SET holder = :h ADD uses :one", **one, **{":h": {"S": "i-x"}}),
            delete(ranged, RANGED, "s#2"),
            put(ranged, RANGED, "s#9", taken),
            failing_check,
            put(ranged, RANGED, "rich", taken),
        ),
        lambda: transact(
            delete(hash_only, HASH_ONLY, "s#0"),
            update(hash_only, HASH_ONLY, "s#1", "SET n = :one", **one),
            put(hash_only, HASH_ONLY, "s#2", absent),
        ),
        lambda: transact(put(ranged, RANGED, "s#8"), put(ranged, RANGED, "s#8")),
        lambda: transact(put(ranged, RANGED, "s#8"), update(ranged, RANGED, "rich", "ADD s :one", **one)),
        lambda: transact(put(ranged, RANGED, "s#8"), put(f"{ranged}-missing", RANGED, "s#8")),
        lambda: dynamodb.scan(TableName=ranged),
        lambda: dynamodb.scan(TableName=hash_only),
    ]
    for call in calls:
        with contextlib.suppress(botocore.exceptions.ClientError):
            call()


def test_every_answer_is_the_one_moto_gives_as_it_is(dynamodb: Any, unique: str) -> None:
    answers = Answers(dynamodb)
    ranged, hash_only = f"bytes-{unique}", f"bytes-h-{unique}"

    def answered() -> list[tuple[str, int, bytes]]:
        create_table(dynamodb, ranged)
        create_table(dynamodb, hash_only, HASH_ONLY)
        answers.received.clear()  # CreateTable answers carry their creation times
        exchange(dynamodb, ranged, hash_only)
        received = list(answers.received)
        for table in (ranged, hash_only):
            dynamodb.delete_table(TableName=table)
        return received

    # GIVEN what moto as it is answers to a long exchange
    with moto_as_is():
        expected = answered()
    # WHEN the same exchange runs with the fast paths
    actual = answered()
    # THEN every answer is the same, byte for byte
    assert len(actual) == len(expected)
    for number, (got, wanted) in enumerate(zip(actual, expected, strict=True)):
        assert got == wanted, f"answer {number}"
    # AND the exchange went where the fast paths go: items rendered, transactions passed, cancelled, refused
    seen = {(operation, status) for operation, status, _ in actual}
    assert {("Query", 200), ("GetItem", 200), ("BatchGetItem", 200), ("TransactWriteItems", 200)} <= seen
    assert ("TransactWriteItems", 400) in seen
    bodies = b" ".join(body for _, _, body in actual)
    assert b"CancellationReasons" in bodies and b"multiple operations on one item" in bodies


class Colour(enum.Enum):
    RED = "red"


ODD_VALUES: dict[str, dict[str, Any]] = {
    "two members": {"a": {"S": "x", "N": "1"}},
    "a member by its alias": {"a": {"s": "lower"}},
    "an unnamed attribute": {"": {"S": "x"}},
    "an unnamed map entry": {"a": {"M": {"": {"S": "x"}}}},
    "a dict subclass": {"a": OrderedDict(S="x")},
    "members that are None": {"a": {"S": None, "N": "1"}, "b": None},
    "None in a list": {"a": {"L": [None, {"S": "x"}]}},
    "None in a map": {"a": {"M": {"k": None, "j": {"BOOL": False}}}},
    "an enum": {"a": {"S": Colour.RED}},
    "a number that is an int": {"a": {"N": 5}, "b": {"NS": [1, "2"]}},
    "empty containers as strings": {"a": {"S": {}}, "b": {"N": []}},
    "binary sets": {"a": {"BS": [b"\x00", b"y"]}, "b": {"B": b""}},
}


@pytest.mark.parametrize("value", ODD_VALUES.values(), ids=ODD_VALUES.keys())
def test_a_value_outside_the_plain_shape_is_rendered_as_moto_renders_it(
    sandbox: Sandbox, value: dict[str, Any]
) -> None:
    # GIVEN an answer holding an attribute value moto's conversion never makes (the sandbox has the fast paths)
    # WHEN rendered with the fast paths and by moto as it is
    # THEN the bodies (or the failures) are the same
    fast = rendered({"Item": value})
    with moto_as_is():
        assert rendered({"Item": value}) == fast


def rendered(result: dict[str, Any]) -> str:
    """A GetItem answer as moto's serializer renders it for the wire, or the failure it raises."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class  # noqa: PLC0415
    from moto.core.utils import get_service_model  # noqa: PLC0415

    operation = get_service_model("dynamodb").operation_model("GetItem")
    serializer = get_serializer_class("dynamodb", "json")(
        operation_model=operation, pretty_print=False, value_picker=XFormedAttributePicker()
    )
    try:
        return str(serializer.serialize(result)["body"])
    except Exception as error:  # noqa: BLE001 - a failure is an outcome to compare too
        return f"failed: {error!r}"
