"""S3, DynamoDB, Step Functions, SQS and SNS access for the handlers: the only module that
uses boto3.

Clients are created once per process (warm Lambda invocations reuse them) through the
standard SDK configuration, so `AWS_ENDPOINT_URL` points them at an emulator without any
branch here. Missing objects and conditional-write conflicts become named errors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import quote

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import ConfigurationError, DuplicatePhoto, SourceObjectMissing

if TYPE_CHECKING:
    # boto3's type stubs (requirements-dev.txt) for the type checker only: the Lambda runtime
    # and the function packages (requirements.txt) do without them.
    from botocore.model import OperationModel
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef, ExecutionListItemTypeDef

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_PRECONDITION_FAILED = {"PreconditionFailed", "412"}  # a conditional write or delete refused
_REQUESTS: Counter[str] = Counter()  # API calls made by this process, e.g. "s3.HeadObject"


# One overload per service used: each call site gets that service's typed client.
@overload
def _client(service: Literal["s3"]) -> S3Client: ...
@overload
def _client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def _client(service: Literal["stepfunctions"]) -> SFNClient: ...
@overload
def _client(service: Literal["sqs"]) -> SQSClient: ...
@overload
def _client(service: Literal["sns"]) -> SNSClient: ...
@overload
def _client(service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
@cache
def _client(service: Literal["s3", "dynamodb", "stepfunctions", "sqs", "sns", "cognito-idp"]) -> Any:
    # The SDK's standard retry mode (3 tries, short backoff) rather than the legacy one (5, up to
    # ~15 s): a throttled call fails within the function's timeout, and Lambda's own retries
    # (and the failure queue) take over.
    client = boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 3}))
    client.meta.events.register("before-call", _count)
    return client


def _count(model: OperationModel, **_: Any) -> None:
    _REQUESTS[f"{model.service_model.service_name}.{model.name}"] += 1


def requests_made() -> dict[str, int]:
    """API calls this process has made so far, by service and operation (what a run cost)."""
    return dict(_REQUESTS)


def _code(error: ClientError) -> str | None:
    """The error code AWS answered with (S3 answers a HEAD with the HTTP status only)."""
    return error.response.get("Error", {}).get("Code")


def _is_missing(error: ClientError) -> bool:
    return _code(error) in _MISSING_CODES


def download(bucket: str, key: str, path: Path) -> None:
    try:
        _client("s3").download_file(bucket, key, str(path))
    except ClientError as error:
        if _is_missing(error):
            raise SourceObjectMissing(f"s3://{bucket}/{key} no longer exists") from None
        raise


def upload(path: Path, bucket: str, key: str, content_type: str, metadata: dict[str, str]) -> None:
    _client("s3").upload_file(
        str(path),
        bucket,
        key,
        ExtraArgs={"ContentType": content_type, "Metadata": metadata},
    )


def put_bytes(bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> None:
    _client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata)


def copy(source_bucket: str, source_key: str, bucket: str, key: str) -> None:
    try:
        _client("s3").copy_object(CopySource={"Bucket": source_bucket, "Key": source_key}, Bucket=bucket, Key=key)
    except ClientError as error:
        if _is_missing(error):
            raise SourceObjectMissing(f"s3://{source_bucket}/{source_key} no longer exists") from None
        raise


def delete(bucket: str, key: str) -> None:
    """Deletes one object; deleting an object that is already gone succeeds, as on S3."""
    _client("s3").delete_object(Bucket=bucket, Key=key)


def delete_if_unchanged(bucket: str, key: str, etag: str | None) -> bool:
    """Deletes the object if it is still the version with `etag` (S3's conditional delete):
    False if another upload has replaced it since (that one is left for its own run). Gone
    already, or no ETag known (a backfill's staged copy): deleted as by `delete`."""
    if not etag:
        delete(bucket, key)
        return True
    try:
        _client("s3").delete_object(Bucket=bucket, Key=key, IfMatch=f'"{etag.strip(chr(34))}"')
    except ClientError as error:
        if _code(error) in _PRECONDITION_FAILED:
            return False
        if not _is_missing(error):
            raise
    return True


def presigned_post(bucket: str, key: str, max_bytes: int, expiry_seconds: int) -> dict[str, Any]:
    return _client("s3").generate_presigned_post(
        bucket,
        key,
        Conditions=[["content-length-range", 1, max_bytes], {"Content-Type": "image/jpeg"}],
        Fields={"Content-Type": "image/jpeg"},
        ExpiresIn=expiry_seconds,
    )


def get_item(table: str, key: dict[str, Any], consistent: bool = False) -> dict[str, Any] | None:
    """One item by its key. `consistent` reads what every finished write left (an eventually
    consistent read costs half and may miss a write of the last second)."""
    item = _client("dynamodb").get_item(TableName=table, Key=_marshal(key), ConsistentRead=consistent).get("Item")
    return _unmarshal(item) if item else None


def query_partition(
    table: str, partition: str, value: str, fields: list[str], limit: int, consistent: bool = False
) -> tuple[list[dict[str, Any]], bool]:
    """At most `limit` items of one partition of the table (one request; `consistent` as
    for get_item): the read can never grow with the table. Returns them and whether the
    partition held more."""
    response = _client("dynamodb").query(
        TableName=table,
        ConsistentRead=consistent,
        KeyConditionExpression="#p = :v",
        ExpressionAttributeNames={"#p": partition, **{f"#f{i}": f for i, f in enumerate(fields)}},
        ExpressionAttributeValues={":v": {"S": value}},
        ProjectionExpression=", ".join(f"#f{i}" for i in range(len(fields))),
        Limit=limit,
    )
    return [_unmarshal(item) for item in response.get("Items", [])], "LastEvaluatedKey" in response


@dataclass(frozen=True)
class Put:
    """One item of an all-or-nothing write; `condition` (with its names and values) must
    hold for the whole write to happen."""

    table: str
    item: dict[str, Any]
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def request(self) -> TransactWriteItemTypeDef:
        put: PutTypeDef = {"TableName": self.table, "Item": _marshal(self.item)}
        if self.condition:
            put["ConditionExpression"] = self.condition
            put["ExpressionAttributeNames"] = self.names
            if self.values:
                put["ExpressionAttributeValues"] = _marshal(self.values)
        return {"Put": put}


def put_together(puts: list[Put]) -> None:
    """Writes every item or none (TransactWriteItems). A condition that does not hold
    raises DuplicatePhoto, which makes a photo's uniqueness race-free across concurrent
    executions; a conflict with another transaction is an ordinary (retried) error."""
    try:
        _client("dynamodb").transact_write_items(TransactItems=[put.request() for put in puts])
    except ClientError as error:
        reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons") or []]
        failed = [put.item for put, code in zip(puts, reasons, strict=False) if code == "ConditionalCheckFailed"]
        if failed:
            raise DuplicatePhoto(f"already recorded: {', '.join(_describe_key(item) for item in failed)}") from None
        raise


def update_item(
    table: str, key: dict[str, Any], values: dict[str, Any], if_absent: dict[str, Any], remove: list[str]
) -> None:
    """One update of an item (created if missing): `values` set, `if_absent` set only where the
    item has none yet, `remove` attributes removed."""
    names: dict[str, str] = {}
    marshalled: dict[str, Any] = {}

    def placeholders(prefix: str, fields: dict[str, Any]) -> list[tuple[str, str]]:
        found = []
        for number, (name, value) in enumerate(fields.items()):
            names[f"#{prefix}{number}"] = name
            marshalled[f":{prefix}{number}"] = value
            found.append((f"#{prefix}{number}", f":{prefix}{number}"))
        return found

    assignments = [f"{n} = {v}" for n, v in placeholders("s", values)]
    assignments += [f"{n} = if_not_exists({n}, {v})" for n, v in placeholders("k", if_absent)]
    removed = [f"#r{number}" for number in range(len(remove))]
    names.update({f"#r{number}": name for number, name in enumerate(remove)})
    expression = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removed) if removed else "")
    _client("dynamodb").update_item(
        TableName=table,
        Key=_marshal(key),
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=_marshal(marshalled),
    )


def add_if_below(table: str, key: dict[str, Any], counter: str, limit: int, extra: dict[str, Any]) -> int | None:
    """Adds 1 to a counter item (creating it, with `extra` attributes) in one atomic update,
    unless the counter has reached `limit`: the new count, or None when it had. Concurrent
    callers can never take the counter past the limit."""
    assignments = ", ".join(f"#e{i} = :e{i}" for i in range(len(extra)))
    try:
        answer = _client("dynamodb").update_item(
            TableName=table,
            Key=_marshal(key),
            UpdateExpression="ADD #c :one" + (f" SET {assignments}" if assignments else ""),
            ConditionExpression="attribute_not_exists(#c) OR #c < :limit",
            ExpressionAttributeNames={"#c": counter, **{f"#e{i}": name for i, name in enumerate(extra)}},
            ExpressionAttributeValues=_marshal(
                {":one": 1, ":limit": limit, **{f":e{i}": value for i, value in enumerate(extra.values())}}
            ),
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as error:
        if _code(error) == "ConditionalCheckFailedException":
            return None
        raise
    return int(_unmarshal(answer["Attributes"])[counter])


def subtract_one(table: str, key: dict[str, Any], counter: str) -> None:
    """Takes 1 off a counter item that exists (never creates one)."""
    try:
        _client("dynamodb").update_item(
            TableName=table,
            Key=_marshal(key),
            UpdateExpression="ADD #c :minus",
            ConditionExpression="#c > :zero",
            ExpressionAttributeNames={"#c": counter},
            ExpressionAttributeValues=_marshal({":minus": -1, ":zero": 0}),
        )
    except ClientError as error:
        if _code(error) != "ConditionalCheckFailedException":
            raise


def _describe_key(item: dict[str, Any]) -> str:
    return " ".join(f"{name}={item[name]}" for name in ("userId", "photoId", "entry") if name in item)


@dataclass(frozen=True)
class StoredObject:
    """An object as S3 holds it (HeadObject or a listing)."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime


def head(bucket: str, key: str) -> StoredObject | None:
    """The object as stored now, or None if there is none (the caller must be allowed to list
    the bucket: S3 answers 403 instead of 404 otherwise, which is raised)."""
    try:
        answer = _client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _is_missing(error):
            return None
        raise
    return StoredObject(bucket, key, answer["ContentLength"], answer["ETag"], answer["LastModified"])


def list_objects(bucket: str, prefix: str, max_pages: int) -> tuple[list[StoredObject], bool]:
    """The objects under `prefix`, at most `max_pages` pages of 1,000 (one request each); and
    whether that was all of them."""
    pages = _client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found: list[StoredObject] = []
    for number, page in enumerate(pages, start=1):
        found += [
            StoredObject(bucket, item["Key"], item["Size"], item["ETag"], item["LastModified"])
            for item in page.get("Contents", [])
        ]
        if number == max_pages and page.get("IsTruncated"):
            return found, False
    return found, True


def put_new_object(bucket: str, key: str, body: bytes, content_type: str) -> bool:
    """Writes an object only if there is none under that key (S3's conditional write): True if
    this call wrote it, False if one was there already, whoever wrote it and when."""
    try:
        _client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*")
    except ClientError as error:
        if _code(error) in _PRECONDITION_FAILED:
            return False
        raise
    return True


def list_executions(
    state_machine_arn: str, until: Callable[[datetime], bool], max_pages: int
) -> tuple[list[ExecutionListItemTypeDef], bool]:
    """Executions newest first (as ListExecutions returns them: name, status, startDate, ...),
    stopping before the first for which `until(startDate)` holds, or after `max_pages` pages of
    1,000; and whether the listing got that far (False: it stopped at the page limit)."""
    pages = (
        _client("stepfunctions")
        .get_paginator("list_executions")
        .paginate(stateMachineArn=state_machine_arn, PaginationConfig={"PageSize": 1000})
    )
    found: list[ExecutionListItemTypeDef] = []
    try:
        for number, page in enumerate(pages, start=1):
            for execution in page["executions"]:
                if until(execution["startDate"]):
                    return found, True
                found.append(execution)
            if number == max_pages and page.get("nextToken"):
                return found, False
    except ClientError as error:
        if _code(error) != "StateMachineTypeNotSupported":
            raise
        raise ConfigurationError(
            f"{state_machine_arn} is an Express workflow, which keeps no executions to list:"
            " reconciliation needs WORKFLOW_TYPE=STANDARD"
        ) from None
    return found, True


def describe_execution(execution_arn: str) -> DescribeExecutionOutputTypeDef:
    return _client("stepfunctions").describe_execution(executionArn=execution_arn)


def receive_messages(queue_url: str, max_messages: int) -> Iterator[MessageTypeDef]:
    """Messages waiting in a queue, up to `max_messages` (10 per request, no long polling).
    Each stays invisible to other readers for the queue's visibility timeout; a message that
    is not deleted comes back after it."""
    client = _client("sqs")
    taken = 0
    while taken < max_messages:
        batch = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, max_messages - taken), WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return
        taken += len(batch)
        yield from batch


def delete_messages(queue_url: str, receipt_handles: list[str]) -> None:
    """Deletes handled messages, 10 per request."""
    client = _client("sqs")
    for start in range(0, len(receipt_handles), 10):
        chunk = receipt_handles[start : start + 10]
        answer = client.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
        )
        if answer.get("Failed"):
            raise RuntimeError(f"SQS could not delete {len(answer['Failed'])} message(s): {answer['Failed'][0]}")


def publish(topic_arn: str, subject: str, message: str) -> None:
    _client("sns").publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)


def start_execution(state_machine_arn: str, name: str, payload: dict[str, Any]) -> tuple[str, bool]:
    """Starts an execution; returns its ARN and whether this call started it. An execution
    of that name that already exists means this event was already handled."""
    client = _client("stepfunctions")
    try:
        response = client.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
        return response["executionArn"], True
    except client.exceptions.ExecutionAlreadyExists:
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return arn, False


_SERIALIZER, _DESERIALIZER = TypeSerializer(), TypeDeserializer()


def _marshal(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}


def _unmarshal(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


# -- the photos API: a user's library, downloads, erasure ---------------------------------
def query_page(
    table: str,
    index: str | None,
    key_condition: str,
    names: dict[str, str],
    values: dict[str, Any],
    limit: int,
    start: dict[str, Any] | None,
    newest_first: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page (one Query request) of at most `limit` items: the items and the key to start
    the next page from (None: there is none)."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": key_condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": _marshal(values),
        "Limit": limit,
        "ScanIndexForward": not newest_first,
    }
    if index:
        request["IndexName"] = index
    if start:
        request["ExclusiveStartKey"] = _marshal(start)
    answer = _client("dynamodb").query(**request)
    following = answer.get("LastEvaluatedKey")
    return [_unmarshal(item) for item in answer.get("Items", [])], _unmarshal(following) if following else None


def get_items(table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of up to 100 keys (BatchGetItem, asked again for any DynamoDB left unread),
    in no particular order; keys without an item are left out."""
    found: list[dict[str, Any]] = []
    waiting: dict[str, Any] = {table: {"Keys": [_marshal(k) for k in keys]}} if keys else {}
    while waiting:
        answer = _client("dynamodb").batch_get_item(RequestItems=waiting)
        found += [_unmarshal(item) for item in answer.get("Responses", {}).get(table, [])]
        waiting = answer.get("UnprocessedKeys") or {}
    return found


def delete_item(table: str, key: dict[str, Any]) -> None:
    """Deletes one item; an item that is already gone is no error (as in DynamoDB)."""
    _client("dynamodb").delete_item(TableName=table, Key=_marshal(key))


@cache
def _presigner() -> S3Client:
    # SigV4 (boto3 would presign a GET with the deprecated SigV2 here, which newer regions refuse).
    return boto3.client("s3", config=Config(signature_version="s3v4"))


def presigned_get(bucket: str, key: str, expiry_seconds: int, download_name: str) -> str:
    """A URL that GETs this one object until it expires, with `download_name` as the file name
    a browser saves it under (S3 answers with that Content-Disposition)."""
    disposition = f"attachment; filename=\"{download_name}\"; filename*=UTF-8''{quote(download_name)}"
    return _presigner().generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": disposition},
        ExpiresIn=expiry_seconds,
        HttpMethod="GET",
    )


def object_versions(bucket: str, key: str) -> list[ObjectIdentifierTypeDef]:
    """Every stored version and delete marker of exactly this key ({Key, VersionId})."""
    found: list[ObjectIdentifierTypeDef] = []
    pages = _client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
    for page in pages:
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if entry["Key"] == key:
                found.append({"Key": key, "VersionId": entry["VersionId"]})
    return found


def delete_versions(bucket: str, versions: list[ObjectIdentifierTypeDef]) -> None:
    """Deletes object versions for good (DeleteObjects, 1,000 per request); raises if S3
    could not delete one."""
    for start in range(0, len(versions), 1000):
        chunk = versions[start : start + 1000]
        answer = _client("s3").delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise RuntimeError(f"S3 could not delete {len(answer['Errors'])} version(s): {first}")


def first_keys(bucket: str, prefix: str, limit: int) -> list[str]:
    """At most `limit` (up to 1,000) keys under `prefix`: one ListObjectsV2 request."""
    answer = _client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=limit)
    return [item["Key"] for item in answer.get("Contents", [])]


def delete_pool_user(pool_id: str, username: str) -> bool:
    """Deletes a user of a Cognito user pool: False if there was none of that name."""
    client = _client("cognito-idp")
    try:
        client.admin_delete_user(UserPoolId=pool_id, Username=username)
    except client.exceptions.UserNotFoundException:
        return False
    return True


def put_item(table: str, item: dict[str, Any]) -> None:
    _client("dynamodb").put_item(TableName=table, Item=_marshal(item))


def find_execution(state_machine_arn: str, name: str) -> DescribeExecutionOutputTypeDef | None:
    """The execution of that name (DescribeExecution), or None if there is none (or it cannot
    be described: an Express workflow's)."""
    client = _client("stepfunctions")
    arn = state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    try:
        return client.describe_execution(executionArn=arn)
    except (client.exceptions.ExecutionDoesNotExist, client.exceptions.InvalidArn):
        return None
