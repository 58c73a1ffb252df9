"""What a `verify` run left in a stage, looked up independently of `ops/verify.py` (with the
deployer's clients): objects (every version) under its users' folders, photos items of its
users and their uniqueness index entries, the temporary user, its quota counters, the notice
queue and its subscription."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ops.verify import CHECKS
from tests.photo_checks import output_folders

RUN = re.compile(r"verify (verify-\d{8}-[0-9a-f]{6}): stage")
SUB = re.compile(r"POST /upload as verify-\d{8}-[0-9a-f]{6} \(sub ([0-9a-f-]{36})\)")


def check_line(name: str) -> str:
    """How verify announces one of its checks: `check 5/9 processed`."""
    names = [check.name for check in CHECKS]
    return f"check {names.index(name) + 1}/{len(names)} {name}"


def all_ok_line() -> str:
    """verify's verdict when every check passed."""
    return f"{len(CHECKS)} checks: {len(CHECKS)} ok; the stage works as designed."


def run_of(output: str) -> tuple[str, str | None]:
    """The run id and the temporary user's sub, as verify printed them."""
    run = RUN.search(output)
    assert run, output[-3000:]
    sub = SUB.search(output)
    return run.group(1), sub.group(1) if sub else None


def leftovers(client: Callable[[str], Any], outputs: dict[str, str], run_id: str, sub: str | None) -> list[str]:
    s3, found = client("s3"), []
    users = [run_id] + ([sub] if sub else [])
    folders = [(outputs["UploadBucketName"], f"uploads/{user}/") for user in users]
    folders += [
        (outputs["DestinationBucketName"], f"{folder}/{user}/") for folder in output_folders(outputs) for user in users
    ]
    for bucket, folder in folders:
        listed = s3.list_object_versions(Bucket=bucket, Prefix=folder)
        found += [f"s3://{bucket}/{v['Key']}" for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
    dynamodb = client("dynamodb")
    items = [
        i
        for page in dynamodb.get_paginator("scan").paginate(TableName=outputs["PhotosTableName"])
        for i in page["Items"]
    ]
    found += [f"photos item of {i['userId']['S']}" for i in items if i.get("userId", {}).get("S") in users]
    entries = [
        i
        for page in dynamodb.get_paginator("scan").paginate(TableName=outputs["UniquenessTableName"])
        for i in page["Items"]
    ]
    for entry in entries:  # a band entry names its photo `<user>/<hash>`; a content claim has a userId
        user = entry["userId"]["S"] if "userId" in entry else entry["photo"]["S"].split("/")[0]
        found += [f"uniqueness index entry {entry['entry']['S']} of {user}"] if user in users else []
    if sub:
        counters = dynamodb.scan(TableName=outputs["UploadQuotaTableName"])["Items"]
        found += [f"quota counter {c['quotaKey']['S']}" for c in counters if c["quotaKey"]["S"].startswith(f"{sub}#")]
    queues = client("sqs").list_queues(QueueNamePrefix="image-converter-").get("QueueUrls", [])
    found += [f"queue {url}" for url in queues if run_id in url]
    subscriptions = client("sns").list_subscriptions_by_topic(TopicArn=outputs["NotificationsTopicArn"])
    found += [f"subscription {s['Endpoint']}" for s in subscriptions["Subscriptions"] if run_id in s["Endpoint"]]
    users_in_pool = client("cognito-idp").list_users(UserPoolId=outputs["UserPoolId"])["Users"]
    found += [f"user {u['Username']}" for u in users_in_pool if u["Username"] == run_id]
    return found
