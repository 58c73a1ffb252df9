"""IAM enforced in the local cloud (localcloud/services/iam): each function and the state machine call AWS
as their deployed roles, and a permission taken away makes the matching workflow path fail
with AccessDenied, as it would on AWS."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from tests import images as pictures
from tests.photo_checks import stored_outputs
from tests.test_workflow import control

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def roles(stack) -> dict[str, str]:
    """Logical id -> role name, for every role of the deployed stack."""
    resources = boto3.client("cloudformation").describe_stack_resources(StackName=stack.name)["StackResources"]
    # (moto leaves a blank row for each resource type it skips)
    return {
        r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("ResourceType") == "AWS::IAM::Role"
    }


def as_role(role_name: str, service: str):
    """A client signed with a session of the role, as `aws sts assume-role` gives one."""
    arn = f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    session = boto3.client("sts").assume_role(RoleArn=arn, RoleSessionName="tester")
    credentials = session["Credentials"]
    return boto3.client(
        service,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@contextlib.contextmanager
def policy_edited(role_name: str, edit: Callable[[list[dict]], list[dict]]) -> Iterator[None]:
    """The role's policy as CloudFormation created it, with `edit` applied to its statements,
    through the IAM API; the deployed policy is put back afterwards."""
    iam = boto3.client("iam")
    [name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    deployed = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
    changed = dict(deployed, Statement=edit(json.loads(json.dumps(deployed["Statement"]))))
    assert changed != deployed, "the edit changed nothing"
    iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(changed))
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(deployed))


def without(action: str, resource_part: str = "") -> Callable[[list[dict]], list[dict]]:
    """Removes the statements granting `action` (on a resource containing `resource_part`)."""

    def edit(statements: list[dict]) -> list[dict]:
        def grants(s: dict) -> bool:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            return action in actions and resource_part in json.dumps(s["Resource"])

        return [s for s in statements if not grants(s)]

    return edit


@pytest.fixture
def upload(pipeline, s3, unique):
    def put(data: bytes, name: str = "photo.jpg"):
        key = f"{pipeline.upload_prefix}iam-{unique}/{name}"
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=data)
        [outcome] = pipeline.wait({key: name}, timeout=90)
        return outcome

    return put


# -- a permission removed from one role: the matching path fails as on AWS --------------
def test_resize_without_put_object_on_the_destination_fails_with_access_denied(upload, roles, stack, s3):
    destination = stack.outputs["DestinationBucketName"]
    with policy_edited(roles["ResizeImageIamRoleLambdaExecution"], without("s3:PutObject", destination)):
        outcome = upload(pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(61)))
    assert outcome.status == "FAILED"
    assert outcome.path[-4:] == ["CheckOutputs", "DiscardOutputs", "WhichStepFailed", "QuitResize"]
    role = roles["ResizeImageIamRoleLambdaExecution"]
    assert "AccessDenied" in outcome.error and "s3:PutObject" in outcome.error, outcome.error
    assert f"assumed-role/{role}/{stack.name}-resizeImage is not authorized" in outcome.error
    assert f"arn:aws:s3:::{destination}/png/" in outcome.error
    # the other branches could write: their outputs were discarded, the upload is kept
    assert s3.list_objects_v2(Bucket=stack.outputs["UploadBucketName"], Prefix=outcome.key)["KeyCount"] == 1
    user = outcome.key.split("/")[1]
    assert stored_outputs(s3, stack.outputs, user) == []


def test_the_state_machine_role_is_checked_for_each_lambda_task(upload, roles, stack):
    thumbnail_function = f"function:{stack.name}-makeThumbnail"

    def drop_thumbnail(statements: list[dict]) -> list[dict]:
        for statement in statements:
            if statement["Action"] == ["lambda:InvokeFunction"]:
                statement["Resource"] = [r for r in statement["Resource"] if thumbnail_function not in r]
        return statements

    with policy_edited(roles["ImageWorkflowRole"], drop_thumbnail):
        outcome = upload(pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(62)))
    assert outcome.status == "FAILED" and outcome.path[-1] == "QuitThumbnail"
    assert outcome.error.startswith("Lambda.AWSLambdaException"), outcome.error
    denied = f"lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:{ACCOUNT}:{thumbnail_function} "
    assert f"assumed-role/{roles['ImageWorkflowRole']}/" in outcome.error and denied in outcome.error
    assert "(Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException;" in outcome.error


def test_the_state_machine_role_is_checked_for_sns_publish(upload, roles):
    with policy_edited(roles["ImageWorkflowRole"], without("sns:Publish")):
        outcome = upload(b"not a photo", name="notes.jpg")
    assert outcome.status == "FAILED"
    assert outcome.path[-3:] == ["CheckFileType", "NotifyRejected", "QuitMain"]
    assert outcome.error.startswith("SNS.AuthorizationErrorException"), outcome.error
    assert "is not authorized to perform: SNS:Publish on resource: arn:aws:sns:" in outcome.error


def without_resource(action: str, resource_part: str) -> Callable[[list[dict]], list[dict]]:
    """Takes the resources containing `resource_part` out of the statements granting `action`,
    leaving the statements' other resources granted."""

    def edit(statements: list[dict]) -> list[dict]:
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if action in actions:
                statement["Resource"] = [r for r in resources if resource_part not in r]
        return [s for s in statements if s["Resource"]]

    return edit


def test_the_photo_and_its_index_entries_are_written_together_or_not_at_all(upload, roles, stack, s3):
    """WriteToDynamoDb's transaction needs dynamodb:PutItem on both tables: without it on the
    uniqueness table, the photo's item is not written either, and the run fails cleanly."""
    index = stack.outputs["UniquenessTableName"]
    with policy_edited(roles["WriteToDynamoDBIamRoleLambdaExecution"], without_resource("dynamodb:PutItem", index)):
        outcome = upload(pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(63)))
    assert outcome.status == "FAILED"
    assert outcome.path[-4:] == ["WriteToDynamoDb", "DiscardOutputs", "WhichStepFailed", "QuitMain"]
    assert "AccessDenied" in outcome.error and "dynamodb:PutItem" in outcome.error, outcome.error
    assert f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{index} " in outcome.error
    user = outcome.key.split("/")[1]
    photos = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    assert photos.query(KeyConditionExpression="userId = :u", ExpressionAttributeValues={":u": user})["Count"] == 0
    assert stored_outputs(s3, stack.outputs, user) == []
    assert s3.list_objects_v2(Bucket=stack.outputs["UploadBucketName"], Prefix=outcome.key)["KeyCount"] == 1


def test_the_near_duplicate_lookup_needs_query_on_the_uniqueness_table(upload, roles, stack):
    index = stack.outputs["UniquenessTableName"]
    with policy_edited(roles["CheckDuplicateIamRoleLambdaExecution"], without("dynamodb:Query", index)):
        outcome = upload(pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(64)))
    assert outcome.status == "FAILED" and outcome.path[-2:] == ["CheckForDuplicate", "QuitMain"]
    assert f"dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{index} " in outcome.error
    assert outcome.outputs == []


def test_logs_are_written_only_if_the_role_may_write_them(roles, stack):
    logs, function = boto3.client("logs"), f"{stack.name}-deleteFile"
    group = f"/aws/lambda/{function}"

    def streams() -> int:
        pages = logs.get_paginator("describe_log_streams").paginate(logGroupName=group)
        return sum(len(page["logStreams"]) for page in pages)

    boto3.client("lambda").invoke(FunctionName=function, Payload=b"{}")
    before = streams()
    with policy_edited(roles["DeleteFileIamRoleLambdaExecution"], without("logs:PutLogEvents")):
        boto3.client("lambda").invoke(FunctionName=function, Payload=b"{}")
        assert streams() == before
    boto3.client("lambda").invoke(FunctionName=function, Payload=b"{}")
    assert streams() == before + 1


def test_a_destination_the_role_may_not_send_to_gets_nothing(cloud, roles, stack, unique):
    """Lambda sends a failed asynchronous event to its destination with the function's role:
    without sqs:SendMessage on the queue, the record is dropped (and the denial recorded)."""
    from tests.test_moto_adapter import failure_queue_records, wait_for_delivery

    function = f"{stack.name}-startWorkflow"
    event = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": f"uploads/denied/{unique}.jpg"}}}]}
    control(cloud, "async")
    with policy_edited(roles["StartWorkflowIamRoleLambdaExecution"], without("sqs:SendMessage")):
        control(cloud, "faults", {"function": function, "error": "Boom", "times": 3}, "POST")
        try:
            boto3.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event))
            _, delivery = wait_for_delivery(cloud, function)
        finally:
            control(cloud, "faults", method="DELETE")
    assert delivery["delivered"] is False and "AccessDenied" in delivery["error"]
    assert "sqs:SendMessage" in delivery["error"] and f"{stack.name}-failed-events" in delivery["error"]
    assert not [r for r in failure_queue_records(stack) if r["requestPayload"] == event]


def test_the_sqs_answer_to_a_role_without_the_permission(roles, stack):
    queue = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{stack.name}-failed-events"
    role = roles["GetFileTypeIamRoleLambdaExecution"]
    sqs = error_of(lambda: as_role(role, "sqs").send_message(QueueUrl=queue, MessageBody="x"))
    assert sqs["Error"]["Code"] == "AccessDenied" and sqs["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"sqs:SendMessage on resource: arn:aws:sqs:us-east-1:{ACCOUNT}:{stack.name}-failed-events " in str(sqs)


def test_publishing_to_the_operations_topic_needs_its_key_too(roles, stack):
    """The operations topic is encrypted with the stack's own key, whose policy leaves its use to
    IAM: a publisher needs kms:GenerateDataKey* and kms:Decrypt on it, not only sns:Publish."""
    role, topic = roles["ReconcileIamRoleLambdaExecution"], stack.outputs["OperationsTopicArn"]
    assert as_role(role, "sns").publish(TopicArn=topic, Message="test: the reconciler may publish")["MessageId"]
    with policy_edited(role, without("kms:GenerateDataKey*")):
        refused = error_of(lambda: as_role(role, "sns").publish(TopicArn=topic, Message="test"))
    assert (refused["Error"]["Code"], refused["ResponseMetadata"]["HTTPStatusCode"]) == ("KMSAccessDenied", 400)
    assert f"kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:{ACCOUNT}:key/" in refused["Error"]["Message"]


# -- each service's answer to a role that lacks the permission ---------------------------
def error_of(call: Callable[[], object]) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response


def test_a_denied_call_gets_each_services_own_access_denied(roles, stack, pipeline):
    role = roles["GetFileTypeIamRoleLambdaExecution"]  # may only read uploads
    principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/tester"
    destination, table = stack.outputs["DestinationBucketName"], stack.outputs["PhotosTableName"]

    s3 = error_of(lambda: as_role(role, "s3").put_object(Bucket=destination, Key="png/x.png", Body=b"x"))
    assert (s3["Error"]["Code"], s3["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert s3["Error"]["Message"] == (
        f"User: {principal} is not authorized to perform: s3:PutObject on resource:"
        f' "arn:aws:s3:::{destination}/png/x.png" because no identity-based policy allows the s3:PutObject action'
    )
    item = {"photoId": {"S": "x"}}
    dynamodb = error_of(lambda: as_role(role, "dynamodb").put_item(TableName=table, Item=item))
    assert dynamodb["Error"]["Code"] == "AccessDeniedException"
    assert f"dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table} " in str(dynamodb)
    query = error_of(
        lambda: as_role(role, "dynamodb").query(
            TableName=table,
            IndexName="byUser",
            KeyConditionExpression="userId = :u",
            ExpressionAttributeValues={":u": {"S": "x"}},
        )
    )
    assert f"dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}/index/byUser " in str(query)
    machine = stack.outputs["ImageWorkflowArn"]
    sfn = error_of(lambda: as_role(role, "stepfunctions").start_execution(stateMachineArn=machine, input="{}"))
    assert sfn["Error"]["Code"] == "AccessDeniedException" and f"states:StartExecution on resource: {machine} " in str(
        sfn
    )
    topic = stack.outputs["NotificationsTopicArn"]
    sns = error_of(lambda: as_role(role, "sns").publish(TopicArn=topic, Message="x"))
    assert sns["Error"]["Code"] == "AuthorizationError" and f"SNS:Publish on resource: {topic} " in str(sns)
    invoke = error_of(lambda: as_role(role, "lambda").invoke(FunctionName=f"{stack.name}-deleteFile", Payload=b"{}"))
    assert (invoke["Error"]["Code"], invoke["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    # what the role grants goes through; GetCallerIdentity needs no permission
    listed = as_role(role, "s3").list_objects_v2(Bucket=pipeline.upload_bucket, Prefix="none/")
    assert listed["KeyCount"] == 0
    assert as_role(role, "sts").get_caller_identity()["Arn"] == principal


def test_a_missing_upload_is_a_404_only_for_a_role_that_may_list_the_bucket(roles, pipeline):
    def head(role: str) -> int:
        response = error_of(lambda: as_role(role, "s3").head_object(Bucket=pipeline.upload_bucket, Key="uploads/gone"))
        return response["ResponseMetadata"]["HTTPStatusCode"]

    assert head(roles["GetFileTypeIamRoleLambdaExecution"]) == 404  # s3:GetObject and s3:ListBucket
    assert head(roles["ResizeImageIamRoleLambdaExecution"]) == 403  # s3:GetObject only


def test_a_delete_on_condition_of_the_etag_needs_get_object_too(cloud, roles, pipeline, s3):
    """As S3 documents: a conditional delete by ETag reads the object's ETag, so it needs
    s3:GetObject as well as s3:DeleteObject (DeleteSourceFile's role has both)."""
    role, key = roles["DeleteFileIamRoleLambdaExecution"], f"{pipeline.upload_prefix}iam/conditional-delete.txt"
    # Its S3 event is dropped: otherwise the workflow rejects the upload and deletes it first.
    control(cloud, "faults", {"drop": key, "times": 1}, "POST")
    etag = s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=b"x")["ETag"]

    def delete_only(statements: list[dict]) -> list[dict]:
        listed = [(s, s["Action"] if isinstance(s["Action"], list) else [s["Action"]]) for s in statements]
        kept = [(s, [a for a in actions if a != "s3:GetObject"]) for s, actions in listed]
        return [s | {"Action": actions} for s, actions in kept if actions]

    with policy_edited(role, delete_only):
        refused = error_of(
            lambda: as_role(role, "s3").delete_object(Bucket=pipeline.upload_bucket, Key=key, IfMatch=etag)
        )
    assert refused["Error"]["Code"] == "AccessDenied" and "s3:GetObject" in refused["Error"]["Message"]
    as_role(role, "s3").delete_object(Bucket=pipeline.upload_bucket, Key=key, IfMatch=etag)
    assert "Contents" not in s3.list_objects_v2(Bucket=pipeline.upload_bucket, Prefix=key)


def test_the_deployer_and_users_are_not_checked(s3, stack):
    bucket, key = stack.outputs["DestinationBucketName"], "admin/untouched.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")  # no role grants this: the deployer is an admin
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key=key)


def test_a_call_the_local_cloud_cannot_map_is_refused_by_name(roles):
    iam = as_role(roles["GetFileTypeIamRoleLambdaExecution"], "iam")
    response = error_of(lambda: iam.list_roles())
    assert "localcloud cannot tell which IAM action" in str(response)
    assert "localcloud/services/iam/requests.py" in str(response)


def test_a_presigned_post_is_made_as_the_role_that_signed_it(roles, pipeline):
    """S3 authorises a browser upload as its signer: the upload function may only write uploads/."""
    signer = as_role(roles["UploadIamRoleLambdaExecution"], "s3")

    def post(key: str) -> requests.Response:
        form = signer.generate_presigned_post(pipeline.upload_bucket, key)
        return requests.post(form["url"], data=form["fields"], files={"file": ("x.txt", b"x")}, timeout=30)

    outside = post("elsewhere/x.txt")
    assert outside.status_code == 403 and "<Code>AccessDenied</Code>" in outside.text
    assert f'"arn:aws:s3:::{pipeline.upload_bucket}/elsewhere/x.txt"' in outside.text
    assert post("uploads/presigned/x.txt").status_code in (200, 204)
