"""Each gap localcloud/moto_adapter closes, shown closed (the modules' docstrings name these)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.moto_adapter.cloudformation import substitute
from localcloud.moto_adapter.s3 import notification_from_template
from localcloud.moto_adapter.stepfunctions import RetryClock
from tests.test_workflow import control

# -- CloudFormation ----------------------------------------------------------------------------


def test_validate_template_rejects_errors_only(cloud):
    client = boto3.client("cloudformation")
    # W3005: B's DependsOn on A is redundant (B already refers to A); AWS accepts it.
    warned = {
        "Resources": {
            "A": {"Type": "AWS::SNS::Topic"},
            "B": {
                "Type": "AWS::SNS::Topic",
                "DependsOn": "A",
                "Properties": {"TopicName": {"Fn::GetAtt": ["A", "TopicName"]}},
            },
        }
    }
    client.validate_template(TemplateBody=json.dumps(warned))
    broken = {"Resources": {"A": {"Type": "AWS::SNS::Topic", "Properties": {"NoSuchProperty": 1}}}}
    with pytest.raises(ClientError):
        client.validate_template(TemplateBody=json.dumps(broken))


def test_fn_sub_variables_are_substituted_whatever_their_name():
    template = '{"A":"${8db699dd}","B":"${AWS::Region}","C":"${!Literal}"}'
    assert substitute(template, {"8db699dd": "arn:fn"}) == '{"A":"arn:fn","B":"${AWS::Region}","C":"${!Literal}"}'


def test_the_deployed_definition_names_the_deployed_functions(stack):
    machine = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack.outputs["ImageWorkflowArn"])
    resource = json.loads(machine["definition"])["States"]["GetFileType"]["Resource"]
    assert resource == f"arn:aws:lambda:us-east-1:123456789012:function:{stack.name}-getFileType"


def test_a_deployed_stack_has_its_outputs(stack):
    expected = {"UploadBucketName", "DestinationBucketName", "PhotosTableName", "ImageWorkflowArn"}
    assert expected <= set(stack.outputs)


# -- Step Functions ----------------------------------------------------------------------------


def test_the_deployed_state_machine_executes(stack, pipeline):
    """An execution of a photo that is not there runs GetFileType for real and fails with the
    function's named error (moto's non-executing backend would leave it RUNNING for ever)."""
    state = {"s3": {"bucket": {"name": pipeline.upload_bucket}, "object": {"key": f"uploads/x/{uuid.uuid4()}.jpg"}}}
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack.outputs["ImageWorkflowArn"], input=json.dumps(state))[
        "executionArn"
    ]
    [outcome] = pipeline.wait({state["s3"]["object"]["key"]: "missing"}, timeout=60)
    assert outcome.execution_arn == arn and outcome.status == "FAILED"
    assert sfn.describe_execution(executionArn=arn)["error"] == "SourceObjectMissing"


def test_the_retry_clock_records_waits_and_scales_them():
    clock = RetryClock(scale=0)
    clock.sleep(5)
    clock.sleep(10)
    assert clock.take() == [5, 10] and clock.take() == []


# -- S3 ----------------------------------------------------------------------------------------


def test_template_notifications_become_s3_api_notifications():
    config = {
        "LambdaConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Function": "arn:fn",
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}},
            }
        ]
    }
    converted = notification_from_template(config)
    assert converted["CloudFunctionConfiguration"] == [
        {
            "CloudFunction": "arn:fn",
            "Event": ["s3:ObjectCreated:*"],
            "Filter": {"S3Key": {"FilterRule": [{"Name": "prefix", "Value": "uploads/"}]}},
        }
    ]


def test_s3_events_carry_a_sequencer(pipeline, s3, unique):
    key = f"{pipeline.upload_prefix}seq-{unique}/photo.jpg"
    s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=b"not a photo")
    [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=60)
    state = json.loads(boto3.client("stepfunctions").describe_execution(executionArn=outcome.execution_arn)["input"])
    assert len(state["s3"]["object"]["sequencer"]) >= 16


def test_a_failed_s3_invocation_is_retried_as_lambda_retries_async_events(cloud, stack, pipeline, s3, unique):
    """S3 invokes asynchronously: Lambda queues the event and retries a failure twice."""
    control(cloud, "faults", {"function": f"{stack.name}-startWorkflow", "error": "Throttled", "times": 2}, "POST")
    try:
        key = f"{pipeline.upload_prefix}async-{unique}/photo.jpg"
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=b"not a photo")
        [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=60)
        assert outcome.status == "SUCCEEDED" and str(outcome.result) == "rejected: not-an-image"
    finally:
        control(cloud, "faults", method="DELETE")


# -- Lambda ------------------------------------------------------------------------------------


def test_invoke_runs_the_deployed_code(stack, pipeline):
    answer = boto3.client("lambda").invoke(
        FunctionName=f"{stack.name}-getFileType",
        Payload=json.dumps(
            {"s3": {"bucket": {"name": pipeline.upload_bucket}, "object": {"key": "uploads/x/none.jpg"}}}
        ),
    )
    assert answer.get("FunctionError") == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "SourceObjectMissing"


# -- API Gateway -------------------------------------------------------------------------------


def rest_api(stack) -> dict:
    service, stage = stack.name.rsplit("-", 1)
    client = boto3.client("apigateway")
    return next(api for api in client.get_rest_apis()["items"] if api["name"] == f"{stage}-{service}")


def test_the_cors_preflight_method_is_created(stack):
    resources = boto3.client("apigateway").get_resources(restApiId=rest_api(stack)["id"])["items"]
    upload = next(r for r in resources if r["path"] == "/upload")
    assert {"POST", "OPTIONS"} <= set(upload["resourceMethods"])


def test_the_rest_api_keeps_its_binary_media_types(stack):
    assert rest_api(stack)["binaryMediaTypes"] == ["image/*", "application/octet-stream"]


# -- DynamoDB ----------------------------------------------------------------------------------


def test_a_table_query_reads_only_its_partition(cloud, monkeypatch):
    from localcloud.moto_adapter import dynamodb

    client = boto3.client("dynamodb")
    table = f"partitions-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "p", "AttributeType": "S"},
            {"AttributeName": "s", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "s", "KeyType": "RANGE"}],
    )
    items = [("wanted", f"{n:03d}") for n in range(30)] + [(f"other-{n}", "x") for n in range(60)]
    for start in range(0, len(items), 25):
        puts = [{"PutRequest": {"Item": {"p": {"S": p}, "s": {"S": s}}}} for p, s in items[start : start + 25]]
        client.batch_write_item(RequestItems={table: puts})
    looked_at: list[str] = []
    every_item = dynamodb._every_item
    monkeypatch.setattr(dynamodb, "_every_item", lambda t: looked_at.append(t.name) or every_item(t))

    pages = client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="p = :p AND s >= :from",
        ExpressionAttributeValues={":p": {"S": "wanted"}, ":from": {"S": "005"}},
        ScanIndexForward=False,
        PaginationConfig={"PageSize": 7},
    )
    found = [item["s"]["S"] for page in pages for item in page["Items"]]
    assert found == [f"{n:03d}" for n in range(29, 4, -1)]  # moto's order, range condition and paging
    assert (
        client.query(TableName=table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": {"S": "none"}})[
            "Items"
        ]
        == []
    )
    assert looked_at == []  # no other partition's item was looked at
    assert len(client.scan(TableName=table)["Items"]) == 90 and looked_at == [table]  # a Scan still reads all
