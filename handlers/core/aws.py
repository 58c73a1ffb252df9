"""S3, DynamoDB and Step Functions access for the handlers: the only module that uses boto3.

Clients are created once per process (warm Lambda invocations reuse them) through the
standard SDK configuration, so `AWS_ENDPOINT_URL` points them at an emulator without any
branch here. Missing objects and conditional-write conflicts become named errors.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .errors import DuplicatePhoto, SourceObjectMissing

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


@cache
def _client(service: str) -> Any:
    return boto3.client(service)


def _is_missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES


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


def presigned_post(bucket: str, key: str, max_bytes: int, expiry_seconds: int) -> dict[str, Any]:
    return _client("s3").generate_presigned_post(
        bucket,
        key,
        Conditions=[["content-length-range", 1, max_bytes], {"Content-Type": "image/jpeg"}],
        Fields={"Content-Type": "image/jpeg"},
        ExpiresIn=expiry_seconds,
    )


def get_item(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    item = _client("dynamodb").get_item(TableName=table, Key=_marshal(key)).get("Item")
    return _unmarshal(item) if item else None


def query_index(table: str, index: str, partition: str, value: str, fields: list[str]) -> list[dict[str, Any]]:
    paginator = _client("dynamodb").get_paginator("query")
    pages = paginator.paginate(
        TableName=table,
        IndexName=index,
        KeyConditionExpression="#p = :v",
        ExpressionAttributeNames={"#p": partition, **{f"#f{i}": f for i, f in enumerate(fields)}},
        ExpressionAttributeValues={":v": {"S": value}},
        ProjectionExpression=", ".join(f"#f{i}" for i in range(len(fields))),
    )
    return [_unmarshal(item) for page in pages for item in page.get("Items", [])]


def put_new_item(table: str, item: dict[str, Any], key_attribute: str) -> None:
    """Writes an item only if its key is not there yet; raises DuplicatePhoto otherwise,
    which makes the uniqueness of a photo race-free across concurrent executions."""
    try:
        _client("dynamodb").put_item(
            TableName=table,
            Item=_marshal(item),
            ConditionExpression="attribute_not_exists(#k)",
            ExpressionAttributeNames={"#k": key_attribute},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise DuplicatePhoto(f"{key_attribute} {item[key_attribute]} is already recorded") from None
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
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
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
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


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
