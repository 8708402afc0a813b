"""What the DynamoDB stores share: one table shape (pk, sk) and write-once items."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem, as DynamoDB allows
PAGE_LIMIT = 1000  # keys read at a time for a delete


def client(region: str, endpoint_url: str | None) -> Any:
    import boto3

    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)


def ensure_table(dynamodb: Any, table: str, *, ttl_attribute: str | None = None) -> None:
    """Create a pk/sk table (on demand) when missing: local stand-ins; production tables come from IaC."""
    if table in dynamodb.list_tables()["TableNames"]:
        return
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.get_waiter("table_exists").wait(TableName=table)
    if ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
        )


def put_new(dynamodb: Any, table: str, item: dict[str, Any]) -> bool:
    """Write the item unless its key exists; whether it was written (the first writer wins)."""
    try:
        dynamodb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def add_once(
    dynamodb: Any, table: str, key: dict[str, Any], counts: dict[str, int], mark: str, expires: int
) -> bool:
    """Add `counts` to the counter item at `key` unless `mark` is in its `marks` already (then nothing
    changes), and set its TTL `expiresAt` to `expires`; whether it added. One UpdateItem: no
    transaction (two appends in one hour would conflict), and safe to repeat."""
    names = {f"#c{n}": name for n, name in enumerate(counts)}
    values = {f":c{n}": {"N": str(count)} for n, count in enumerate(counts.values())}
    adds = ", ".join([*(f"#c{n} :c{n}" for n in range(len(counts))), "#marks :marks"])
    try:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=f"ADD {adds} SET #e = :e",
            ConditionExpression="NOT contains(#marks, :mark)",
            ExpressionAttributeNames={**names, "#marks": "marks", "#e": "expiresAt"},
            ExpressionAttributeValues={
                **values,
                ":marks": {"SS": [mark]},
                ":mark": {"S": mark},
                ":e": {"N": str(expires)},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def delete_partition(dynamodb: Any, table: str, pk: str) -> int:
    """Delete every item under a partition key (a page of keys at a time); how many there were.

    Safe to repeat: a delete stopped halfway is finished by the next one.
    """
    deleted = 0
    while page := delete_some(dynamodb, table, pk, limit=PAGE_LIMIT):
        deleted += page
    return deleted


def delete_some(dynamodb: Any, table: str, pk: str, *, limit: int, workers: int = 1) -> int:
    """Delete up to `limit` items under a partition key, BATCH_WRITE_LIMIT a call and `workers`
    calls at once; how many (0: none was left).

    The keys are read consistently, so that 0 means none is left, not none seen yet.
    """
    page = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": pk}},
        ProjectionExpression="pk, sk",
        Limit=limit,
        ConsistentRead=True,
    )
    keys = [{"pk": item["pk"], "sk": item["sk"]} for item in page["Items"]]
    batches = [
        [{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_WRITE_LIMIT]]
        for start in range(0, len(keys), BATCH_WRITE_LIMIT)
    ]

    def write(batch: list[dict[str, Any]]) -> None:
        unprocessed: dict[str, Any] = {table: batch}
        while unprocessed:
            unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems") or {}

    if workers == 1 or len(batches) <= 1:
        for batch in batches:
            write(batch)
    else:  # boto3's clients are thread-safe; each call waits on the network, not on the GIL
        with ThreadPoolExecutor(min(workers, len(batches))) as pool:
            list(pool.map(write, batches))
    return len(keys)
