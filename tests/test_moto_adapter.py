"""Each gap localcloud/services/adapters.py closes, shown closed (the modules' docstrings name these)."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.services.cloudformation.adapter import substitute
from localcloud.services.s3.adapter import notification_from_template, post_policy_violation
from localcloud.services.stepfunctions.adapter import RetryClock
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


def test_a_template_linted_ahead_is_not_linted_again(monkeypatch):
    """A redeploy's template differs from the last packaged one in its artifact folder only:
    linted ahead (in the background), it is not linted again when ValidateTemplate asks."""
    from localcloud.services.cloudformation import adapter as cloudformation

    linted: list[str] = []
    monkeypatch.setattr(cloudformation, "validate_template_cfn_lint", lambda t: linted.append(t) or [])
    monkeypatch.setattr(cloudformation, "_linted", {})
    folder = "serverless/image-converter/dev/{}-2026-12-04T23:16:00.787Z/image-converter.zip"
    code = {"S3Key": folder.format(1796426160787)}
    packaged = json.dumps({"Resources": {"F": {"Properties": {"Code": code}}, "ApiGatewayDeployment1796426160787": {}}})
    deployed = json.dumps(json.loads(packaged.replace("1796426160787", "1796426999999")), indent=2)
    cloudformation.prelint(packaged)
    assert cloudformation._lint(deployed).result(timeout=30) == [] and linted == [packaged]
    other = deployed.replace('"F"', '"G"')  # another resource: linted
    assert cloudformation._lint(other).result(timeout=30) == [] and linted == [packaged, other]


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


def _role_stack(name: str, actions: list[str]) -> str:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:*"}]}
    role = {
        "RoleName": name,
        "AssumeRolePolicyDocument": trust,
        "Policies": [{"PolicyName": "p", "PolicyDocument": policy}],
    }
    return json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": role}}})


def test_a_template_role_policy_reads_back_as_json(cloud, unique):
    boto3.client("cloudformation").create_stack(
        StackName=f"r-{unique}", TemplateBody=_role_stack(unique, ["s3:GetObject"])
    )
    document = boto3.client("iam").get_role_policy(RoleName=unique, PolicyName="p")["PolicyDocument"]
    assert document["Statement"][0]["Action"] == ["s3:GetObject"]  # boto3 decodes JSON only


def test_a_stack_update_replaces_a_role_policy(cloud, unique):
    client = boto3.client("cloudformation")
    client.create_stack(StackName=f"r-{unique}", TemplateBody=_role_stack(unique, ["s3:GetObject"]))
    client.update_stack(StackName=f"r-{unique}", TemplateBody=_role_stack(unique, ["s3:PutObject"]))
    document = boto3.client("iam").get_role_policy(RoleName=unique, PolicyName="p")["PolicyDocument"]
    assert document["Statement"][0]["Action"] == ["s3:PutObject"]


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
    described = sfn.describe_execution(executionArn=arn)
    assert described["error"] == "SourceObjectMissing"
    assert uuid.UUID(described["name"])  # started without a name: AWS names it with a UUID


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
    control(cloud, "async")
    control(cloud, "faults", {"function": f"{stack.name}-startWorkflow", "error": "Throttled", "times": 2}, "POST")
    try:
        key = f"{pipeline.upload_prefix}async-{unique}/photo.jpg"
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=b"not a photo")
        [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=60)
        assert outcome.status == "SUCCEEDED" and str(outcome.result) == "rejected: not-an-image"
        assert control(cloud, "async")["waits"] == [60, 120]  # about 1 and then 2 minutes, not waited here
    finally:
        control(cloud, "faults", method="DELETE")


def post_form(conditions: list, expires: datetime, **fields: str) -> dict[str, str]:
    policy = {"expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"), "conditions": conditions}
    return {"policy": base64.b64encode(json.dumps(policy).encode()).decode(), "x-amz-signature": "s", **fields}


def test_post_policy_conditions_as_s3_reads_them():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = now + timedelta(minutes=5)
    conditions = [
        {"bucket": "b"},
        {"key": "uploads/u/a.jpg"},
        ["starts-with", "$Content-Type", "image/"],
        ["content-length-range", 1, 100],
    ]
    good = post_form(conditions, later, key="uploads/u/a.jpg", **{"Content-Type": "image/jpeg"})
    assert post_policy_violation(good, "b", 50, now) is None
    assert post_policy_violation(good, "b", 50, later)[2] == "Invalid according to Policy: Policy expired."
    assert post_policy_violation(good | {"key": "uploads/v/a.jpg"}, "b", 50, now)[:2] == (403, "AccessDenied")
    assert "Policy Condition failed" in post_policy_violation(good, "other-bucket", 50, now)[2]
    assert post_policy_violation(good | {"Content-Type": "text/html"}, "b", 50, now)[0] == 403
    assert post_policy_violation(good, "b", 101, now)[:2] == (400, "EntityTooLarge")
    assert post_policy_violation(good, "b", 0, now)[:2] == (400, "EntityTooSmall")
    assert "Extra input fields: acl" in post_policy_violation(good | {"acl": "public-read"}, "b", 50, now)[2]
    assert post_policy_violation(good | {"x-ignore-note": "x"}, "b", 50, now) is None  # S3 ignores these
    assert post_policy_violation({"key": "uploads/u/a.jpg"}, "b", 50, now)[:2] == (403, "AccessDenied")
    assert post_policy_violation(good | {"policy": "not base64!"}, "b", 50, now)[1] == "InvalidPolicyDocument"


@pytest.mark.parametrize("versioned", [False, True])
def test_a_deleted_or_overwritten_object_lets_go_of_its_bytes(cloud, versioned):
    """What S3 no longer holds, the local cloud no longer keeps: objects over moto's 5 MB
    buffer sit in temporary files, which an overwrite or a delete (of every version) closes."""
    from moto.s3.models import FakeKey

    s3, bucket = boto3.client("s3"), f"let-go-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def buffers() -> list:
        return [key._value_buffer for key in FakeKey.instances_tracked if key.bucket_name == bucket]

    s3.put_object(Bucket=bucket, Key="big", Body=bytes(6 << 20))
    [first] = buffers()
    assert first._rolled  # on disk, not in memory
    s3.put_object(Bucket=bucket, Key="big", Body=bytes(6 << 20))
    gc.collect()
    stored = buffers()
    assert len(stored) == (2 if versioned else 1) and first.closed != versioned  # the overwritten one
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key="big", VersionId=version["VersionId"])
    gc.collect()
    assert first.closed and all(buffer.closed for buffer in stored) and not buffers()


def test_listing_versions_copies_no_bytes(cloud, monkeypatch):
    """moto copied every stored byte of the bucket to list its versions (FakeKey.__getstate__
    reads a key's whole value); the listing is the same without reading any."""
    from moto.s3.models import FakeKey

    s3, bucket = boto3.client("s3"), f"listing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    bodies = [bytes(6 << 20), b"later"]
    for body in bodies:
        s3.put_object(Bucket=bucket, Key="photo", Body=body)
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    reads: list[str] = []
    original = FakeKey.__getstate__
    monkeypatch.setattr(FakeKey, "__getstate__", lambda key: reads.append(key.name) or original(key))
    versions = s3.list_object_versions(Bucket=bucket, Prefix="photo")["Versions"]
    assert not reads
    assert [(v["IsLatest"], v["Size"]) for v in versions] == [(True, len(bodies[1])), (False, len(bodies[0]))]
    assert [v["ETag"].strip('"') for v in versions] == [hashlib.md5(b).hexdigest() for b in reversed(bodies)]
    assert s3.get_object(Bucket=bucket, Key="photo", VersionId=versions[1]["VersionId"])["Body"].read() == bodies[0]


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


def test_an_event_invoke_config_comes_from_the_template(stack):
    config = boto3.client("lambda").get_function_event_invoke_config(FunctionName=f"{stack.name}-startWorkflow")
    queue = f"arn:aws:sqs:us-east-1:123456789012:{stack.name}-failed-events"
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 3600)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue
    reconcile = boto3.client("lambda").get_function_event_invoke_config(FunctionName=f"{stack.name}-reconcile")
    assert reconcile["MaximumRetryAttempts"] == 0


def wait_for_delivery(cloud, function: str, timeout: float = 90) -> tuple[list[float], dict]:
    """The retry waits and the destination delivery of the next asynchronous event of `function`
    to be given up on (or to succeed)."""
    waits: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        taken = control(cloud, "async")
        waits += taken["waits"]
        found = [d for d in taken["deliveries"] if d["function"] == function]
        if found:
            return waits, found[0]
        time.sleep(0.2)
    raise AssertionError(f"no destination delivery for {function} in {timeout} s")


def failure_queue_records(stack) -> list[dict]:
    """The failure queue's messages, read without receiving them."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"]["us-east-1"].queues[f"{stack.name}-failed-events"]
    return [json.loads(m.body) for m in list(queue._messages)]


def test_async_retries_wait_as_lambda_and_the_destination_gets_lambdas_record(cloud, stack, unique):
    """An Event invoke answers 202 before the function runs; a failing event is tried 3 times,
    1 and 2 minutes apart (recorded, not waited), then sent to the on-failure queue."""
    function = f"{stack.name}-startWorkflow"
    control(cloud, "async")
    control(cloud, "faults", {"function": function, "error": "Boom", "message": "always", "times": 3}, "POST")
    event = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": f"uploads/x/{unique}.jpg"}}}]}
    try:
        answer = boto3.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event))
        assert answer["StatusCode"] == 202 and answer["Payload"].read() == b""
        waits, delivery = wait_for_delivery(cloud, function)
    finally:
        control(cloud, "faults", method="DELETE")
    assert waits == [60, 120]
    assert delivery["condition"] == "RetriesExhausted" and delivery["delivered"] is True
    [record] = [r for r in failure_queue_records(stack) if r["requestPayload"] == event]
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorType"] == "Boom"
    assert "always (fault injected by localcloud)" in record["responsePayload"]["errorMessage"]


def test_an_event_too_old_to_retry_goes_to_the_destination_at_once(cloud, stack, unique):
    client = boto3.client("lambda")
    function = f"{stack.name}-startWorkflow"
    deployed = client.get_function_event_invoke_config(FunctionName=function)
    settings = {name: deployed[name] for name in ("MaximumRetryAttempts", "DestinationConfig")}
    client.put_function_event_invoke_config(FunctionName=function, MaximumEventAgeInSeconds=60, **settings)
    control(cloud, "async")
    control(cloud, "faults", {"function": function, "error": "Boom", "times": 3}, "POST")
    event = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": f"uploads/old/{unique}.jpg"}}}]}
    try:
        assert client.get_function_event_invoke_config(FunctionName=function)["MaximumEventAgeInSeconds"] == 60
        client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event))
        waits, delivery = wait_for_delivery(cloud, function)
    finally:
        control(cloud, "faults", method="DELETE")
        client.put_function_event_invoke_config(
            FunctionName=function, MaximumEventAgeInSeconds=deployed["MaximumEventAgeInSeconds"], **settings
        )
    # a minute's wait would take it past 60 s: no retry
    assert waits == [] and delivery["condition"] == "EventAgeExceeded"
    [record] = [r for r in failure_queue_records(stack) if r["requestPayload"] == event]
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1


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
    assert rest_api(stack)["binaryMediaTypes"] == ["image/*", "application/octet-stream", "multipart/form-data"]


def upload_post_method(stack) -> tuple[str, dict]:
    client = boto3.client("apigateway")
    api_id = rest_api(stack)["id"]
    upload = next(r for r in client.get_resources(restApiId=api_id)["items"] if r["path"] == "/upload")
    return api_id, client.get_method(restApiId=api_id, resourceId=upload["id"], httpMethod="POST")


def test_the_upload_method_has_the_templates_cognito_authorizer(stack):
    api_id, method = upload_post_method(stack)
    assert method["authorizationType"] == "COGNITO_USER_POOLS" and method["authorizerId"]
    found = boto3.client("apigateway").get_authorizer(restApiId=api_id, authorizerId=method["authorizerId"])
    pool = boto3.client("cognito-idp").describe_user_pool(UserPoolId=stack.outputs["UserPoolId"])["UserPool"]
    assert found["type"] == "COGNITO_USER_POOLS" and found["providerARNs"] == [pool["Arn"]]
    assert found["identitySource"] == "method.request.header.Authorization"
    assert found["identityValidationExpression"] == stack.outputs["UserPoolClientId"]


def test_the_stage_has_the_templates_throttling(stack):
    stage = stack.name.rsplit("-", 1)[1]
    settings = boto3.client("apigateway").get_stage(restApiId=rest_api(stack)["id"], stageName=stage)
    assert settings["methodSettings"]["*/*"] == {"throttlingRateLimit": 10.0, "throttlingBurstLimit": 20}


# -- Cognito -----------------------------------------------------------------------------------


def test_the_user_pool_and_client_come_from_the_template(stack):
    idp = boto3.client("cognito-idp")
    pool = idp.describe_user_pool(UserPoolId=stack.outputs["UserPoolId"])["UserPool"]
    assert pool["Name"] == f"{stack.name}-users"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    client = idp.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=stack.outputs["UserPoolClientId"])
    assert client["UserPoolClient"]["ClientName"] == f"{stack.name}-uploads"
    assert "ALLOW_USER_PASSWORD_AUTH" in client["UserPoolClient"]["ExplicitAuthFlows"]


# -- DynamoDB ----------------------------------------------------------------------------------


def new_table(client, prefix: str, hash_key: str, range_key: str | None = None) -> str:
    """A new on-demand table with string keys; returns its name."""
    table = f"{prefix}-{uuid.uuid4().hex[:8]}"
    keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
    )
    return table


def test_a_table_query_reads_only_its_partition(cloud, monkeypatch):
    from localcloud.services.dynamodb import adapter as dynamodb

    client = boto3.client("dynamodb")
    table = new_table(client, "partitions", "p", "s")
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


def test_attribute_values_of_every_type_come_back_as_written(cloud):
    """The wire-form values that skip moto's serializer, and the others, read back exactly."""
    client = boto3.client("dynamodb")
    table = new_table(client, "types", "p")
    scalars = {
        "s": {"S": "été / 東京"},
        "empty": {"S": ""},
        "n": {"N": "-12.5e3"},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "null": {"NULL": True},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "b": {"B": b"\x00\xff"},
        "bs": {"BS": [b"\x01", b"\x02"]},
    }
    item = {"p": {"S": "all"}, **scalars, "m": {"M": {**scalars, "l": {"L": list(scalars.values())}}}}
    client.put_item(TableName=table, Item=item)

    def normalised(value):  # sets come back in any order
        if isinstance(value, dict):
            return {k: sorted(v) if k in ("SS", "NS", "BS") else normalised(v) for k, v in value.items()}
        return [normalised(v) for v in value] if isinstance(value, list) else value

    got = client.get_item(TableName=table, Key={"p": {"S": "all"}})["Item"]
    [queried] = client.query(
        TableName=table, KeyConditionExpression="p = :p", ExpressionAttributeValues={":p": {"S": "all"}}
    )["Items"]
    assert normalised(got) == normalised(queried) == normalised(item)


def test_concurrent_conditional_writes_and_transactions_are_atomic(cloud):
    """Many threads write one item on a condition at once, as concurrent workflow runs do:
    exactly one transaction wins and stays written, a counter never passes its limit, and no
    request fails (a client without retries: moto answered 500 when a transaction copied a
    table that another request was writing)."""
    client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    table = new_table(client, "races", "k")
    for start in range(0, 2000, 25):  # a table of some size: moto's transaction snapshots all of it
        puts = [{"PutRequest": {"Item": {"k": {"S": f"filler-{n}"}}}} for n in range(start, start + 25)]
        client.batch_write_item(RequestItems={table: puts})

    def record(n: int) -> bool:
        claim = {"k": {"S": "photo"}, "run": {"N": str(n)}}
        entry = {"k": {"S": f"entry-{n}"}}
        condition = {"ConditionExpression": "attribute_not_exists(k)"}
        try:
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": entry}},
                    {"Put": {"TableName": table, "Item": claim, **condition}},
                ]
            )
            return True
        except client.exceptions.TransactionCanceledException:
            return False

    def count(_: int) -> bool:
        try:
            client.update_item(
                TableName=table,
                Key={"k": {"S": "counter"}},
                UpdateExpression="ADD c :one",
                ConditionExpression="attribute_not_exists(c) OR c < :limit",
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": "5"}},
            )
            return True
        except client.exceptions.ConditionalCheckFailedException:
            return False

    with ThreadPoolExecutor(12) as pool:
        recorded = list(pool.map(record, range(12)))
        counted = list(pool.map(count, range(12)))
    [winner] = [n for n, won in enumerate(recorded) if won]
    item = client.get_item(TableName=table, Key={"k": {"S": "photo"}}, ConsistentRead=True)["Item"]
    assert item["run"]["N"] == str(winner)  # no cancelled transaction undid the winner's write
    entries = [
        k for n in range(12) if "Item" in client.get_item(TableName=table, Key={"k": {"S": (k := f"entry-{n}")}})
    ]
    assert entries == [f"entry-{winner}"]
    assert counted.count(True) == 5
    assert client.get_item(TableName=table, Key={"k": {"S": "counter"}})["Item"]["c"]["N"] == "5"
