"""Account erasure (DELETE /me and `python -m ops erase-user`): afterwards nothing of the
account is stored (listed: object versions, records, index entries, uploads, quota counters,
the pool user), another user's photos are untouched, and an erasure stopped half-way is
finished by running it again."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from ops import __main__ as ops_main
from ops import erase_user
from ops.stage import Stage
from tests.api import call, user
from tests.test_photos_api import _record, _remains, _upload
from tests.test_workflow import control


def _library(stack, sub: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    return table.query(
        KeyConditionExpression="userId = :u", ExpressionAttributeValues={":u": sub}, ConsistentRead=True
    )["Items"]


def _traces(stack, sub: str, recorded: list[dict[str, Any]]) -> list[str]:
    """Everything of the account still stored, listed."""
    found = [f"record {item['photoId']}" for item in _library(stack, sub)]
    for item in recorded:
        found += _remains(stack, sub, item)
    s3 = boto3.client("s3")
    uploads = s3.list_objects_v2(Bucket=stack.outputs["UploadBucketName"], Prefix=f"uploads/{sub}/")
    found += [f"upload {o['Key']}" for o in uploads.get("Contents", [])]
    counters = boto3.client("dynamodb").scan(
        TableName=stack.outputs["UploadQuotaTableName"],
        FilterExpression="begins_with(quotaKey, :u)",
        ExpressionAttributeValues={":u": {"S": f"{sub}#"}},
    )
    found += [f"counter {c['quotaKey']['S']}" for c in counters["Items"]]
    return found


def _waiting_upload(cloud, stack, sub: str) -> str:
    """An upload the workflow has not taken up (its S3 event is dropped)."""
    key = f"uploads/{sub}/{uuid.uuid4().hex}-waiting.jpg"
    control(cloud, "faults", {"drop": key, "times": 1}, "POST")
    boto3.client("s3").put_object(Bucket=stack.outputs["UploadBucketName"], Key=key, Body=b"\xff\xd8\xff waiting")
    return key


def _in_pool(stack, username: str) -> bool:
    idp = boto3.client("cognito-idp")
    try:
        idp.admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=username)
    except idp.exceptions.UserNotFoundException:
        return False
    return True


def test_delete_me_erases_the_whole_account_and_nothing_of_anyone_else(cloud, stack, pipeline, unique):
    me, other = user(cloud, stack, f"leaving-{unique}"), user(cloud, stack, f"staying-{unique}")
    _upload(cloud, stack, pipeline, me, "one.jpg", 41)
    _upload(cloud, stack, pipeline, me, "two.jpg", 42)
    _upload(cloud, stack, pipeline, other, "theirs.jpg", 43)
    _waiting_upload(cloud, stack, me.sub)
    recorded = [_record(stack, me.sub, item["photoId"]) for item in _library(stack, me.sub)]
    assert len(recorded) == 2 and all(item.get("uniquenessIndex") for item in recorded)
    before = _traces(stack, me.sub, recorded)
    assert sum(t.startswith("counter") for t in before) == 1 and sum(t.startswith("upload") for t in before) == 1

    answer = call(cloud, stack, "DELETE", "me", me)
    assert answer.status == 200, answer.body
    assert answer.body == {"done": True, "photos": 2, "uploads": 1}
    assert _traces(stack, me.sub, recorded) == []
    assert not _in_pool(stack, me.username)
    [theirs] = call(cloud, stack, "GET", "photos", other).body["photos"]
    assert call(cloud, stack, "GET", f"photos/{theirs['id']}", other).status == 200


def test_the_operators_erasure_finishes_one_that_stopped_half_way(cloud, stack, pipeline, unique, monkeypatch):
    me = user(cloud, stack, f"gone-{unique}")
    for seed in (51, 52, 53):
        _upload(cloud, stack, pipeline, me, f"p{seed}.jpg", seed)
    recorded = [_record(stack, me.sub, item["photoId"]) for item in _library(stack, me.sub)]
    for variable in erase_user.SETTINGS:  # the command sets them from the stack's outputs: restored after
        monkeypatch.setenv(variable, "")
    stage = Stage(stack.name.rsplit("-", 1)[1])
    calls = iter([True, False])  # a crash after the first photo: the next check says stop
    args = ops_main.parser().parse_args(["erase-user", me.username, "--stage", stage.name])
    assert erase_user.run(args, stage, keep_going=lambda: next(calls, False)) == 1
    assert len(_library(stack, me.sub)) == 2 and _in_pool(stack, me.username)

    assert ops_main.main(["erase-user", me.username, "--stage", stage.name]) == 0
    assert _traces(stack, me.sub, recorded) == []
    assert not _in_pool(stack, me.username)
    # Again, by the sub of a user no longer in the pool: nothing left to do, and it says so.
    assert ops_main.main(["erase-user", me.sub, "--stage", stage.name]) == 0
    with pytest.raises(SystemExit):
        ops_main.main(["erase-user", f"nobody-{unique}", "--stage", stage.name])
