"""The packaged artifacts that `sls deploy` produced: template, definition, layer."""

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests import serverless_yml
from tests.workflow_states import tasks


@pytest.fixture(scope="module")
def template(stack) -> dict:
    return json.loads((stack.package_dir / "cloudformation-template-update-stack.json").read_text())


@pytest.fixture(scope="module")
def definition(template) -> dict:
    machine = template["Resources"]["ImageWorkflow"]["Properties"]
    body, variables = machine["DefinitionString"]["Fn::Sub"]
    assert all(set(value) & {"Fn::GetAtt", "Ref"} for value in variables.values())
    return json.loads(body)


def test_states_and_transitions_follow_the_article(definition):
    states = definition["States"]
    assert definition["StartAt"] == "GetFileType"
    assert states["GetFileType"]["Next"] == "CheckFileType"
    assert states["CheckFileType"]["Type"] == "Choice"
    assert states["CheckFileType"]["Choices"][0]["Next"] == "CheckForDuplicate"
    assert states["CheckFileType"]["Default"] == "NotifyRejected"
    assert [c["Next"] for c in states["IsDuplicate"]["Choices"]] == ["NotifyDuplicate", "KeepUpload"]
    assert states["IsDuplicate"]["Default"] == "ProcessFile"  # whatever is not a duplicate is processed
    assert states["ProcessFile"]["Type"] == "Parallel"
    branches = [branch["StartAt"] for branch in states["ProcessFile"]["Branches"]]
    assert branches == ["CopyToDestination", "ResizeImage", "MakeThumbnail"]
    assert states["ProcessFile"]["Next"] == "CheckOutputs"
    assert states["ProcessFile"]["ResultSelector"] == {"original.$": "$[0]", "png.$": "$[1]", "thumbnail.$": "$[2]"}
    assert states["WriteToDynamoDb"]["Next"] == "DeleteSourceFile"
    assert states["CheckOutputs"]["Type"] == "Choice"
    assert states["NotifyRejected"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["NotifyRejected"]["Next"] == "DeleteSourceFile"
    assert states["NotifyDuplicate"]["Next"] == "KeepUpload"
    keep = states["KeepUpload"]
    assert (keep["Choices"][0]["Next"], keep["Default"]) == ("UploadKept", "DeleteSourceFile")
    assert states["UploadKept"]["Type"] == "Succeed"
    assert states["DeleteSourceFile"]["End"] is True
    assert states["QuitMain"]["Type"] == "Fail"


def test_every_task_has_the_retry_policy_and_a_catch(definition):
    found = tasks(definition["States"])
    assert set(found) == set(tasks(serverless_yml.definition()["States"]))  # none lost in packaging
    policy = serverless_yml.task_retry()
    assert policy[0] == {"ErrorEquals": ["InvalidImage", "SourceObjectMissing", "DuplicatePhoto"], "MaxAttempts": 0}
    assert policy[-1]["ErrorEquals"] == ["States.ALL"]  # the first matching retrier wins: the catch-all last
    for name, task in found.items():
        assert task["Retry"] == policy, name
        assert task["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
        if "TimeoutSeconds" in task:
            assert 15 <= task["TimeoutSeconds"] <= 60


def test_catches_lead_to_the_articles_fail_states(definition):
    states = definition["States"]
    branches = {b["StartAt"]: b["States"] for b in states["ProcessFile"]["Branches"]}
    for task, recorded in (
        ("CopyToDestination", "CopyFailed"),
        ("ResizeImage", "ResizeFailed"),
        ("MakeThumbnail", "ThumbnailFailed"),
    ):
        assert branches[task][task]["Catch"][0] == {"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": recorded}
        assert (branches[task][recorded]["Type"], branches[task][recorded]["End"]) == ("Pass", True)  # never a Fail
    assert states["ProcessFile"]["Next"] == "CheckOutputs"
    assert states["CheckOutputs"]["Choices"][0]["Next"] == "DiscardOutputs"
    assert states["CheckOutputs"]["Default"] == "WriteToDynamoDb"
    assert states["ProcessFile"]["Catch"][0]["Next"] == "DiscardOutputs"
    assert states["DiscardOutputs"]["Next"] == "WhichStepFailed"
    assert [c["Next"] for c in states["WhichStepFailed"]["Choices"]] == ["QuitCopy", "QuitResize", "QuitThumbnail"]
    assert states["WhichStepFailed"]["Default"] == "QuitMain"
    assert {states[name]["Type"] for name in ("QuitCopy", "QuitResize", "QuitThumbnail", "QuitMain")} == {"Fail"}
    assert [c["Next"] for c in states["WriteToDynamoDb"]["Catch"]] == ["DiscardDuplicateOutputs", "DiscardOutputs"]
    # A photo recorded meanwhile by a concurrent run: the policy decides again, and never loops.
    assert states["DiscardDuplicateOutputs"]["Next"] == "RecheckDuplicate"
    assert states["RecheckDuplicate"]["Next"] == "IsRecordedDuplicate"
    assert [c["Next"] for c in states["IsRecordedDuplicate"]["Choices"]] == ["NotifyDuplicate", "KeepUpload"]
    assert states["IsRecordedDuplicate"]["Default"] == "QuitMain"
    assert states["GetFileType"]["Catch"][0]["Next"] == "QuitMain"


def test_lambda_timeouts_fit_inside_task_timeouts(template, definition):
    resources = template["Resources"]
    for task in tasks(definition["States"]).values():
        variable = re.fullmatch(r"\$\{(\w+)\}", task["Resource"])
        if not variable:
            continue
        function = template["Resources"]["ImageWorkflow"]["Properties"]["DefinitionString"]["Fn::Sub"][1][
            variable.group(1)
        ]["Fn::GetAtt"][0]
        assert resources[function]["Properties"]["Timeout"] < task["TimeoutSeconds"]


def packaged_functions(template: dict, stack) -> dict[str, dict]:
    """The template's functions by their name in serverless.yml."""
    found = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    return {serverless_yml.function_name(function, stack.name): function for function in found}


def test_one_role_per_function_with_scoped_actions(template, stack):
    functions = packaged_functions(template, stack)
    assert set(functions) == set(serverless_yml.functions())  # every function serverless.yml declares, no other
    roles = {json.dumps(f["Properties"]["Role"]) for f in functions.values()}
    assert len(roles) == len(functions)  # each its own
    for role_id in (json.loads(r)["Fn::GetAtt"][0] for r in roles):
        statements = [
            s
            for p in template["Resources"][role_id]["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]
        ]
        actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
        assert not any(a == "*" or a.endswith(":*") for a in actions)
        assert {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} <= set(actions)  # active tracing
        for statement in statements:  # only X-Ray (which has no resources) may name every resource
            if statement["Resource"] == "*":
                assert {a.split(":")[0] for a in statement["Action"]} == {"xray"}


def test_validation_is_on_and_resources_are_secured(template):
    resources = template["Resources"]
    buckets = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket" and "BucketName" in r["Properties"]]
    assert len(buckets) >= 2
    for bucket in buckets:
        properties = bucket["Properties"]
        if "ServerlessDeploymentBucket" in json.dumps(properties.get("BucketName")):
            continue
        assert properties["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
        assert "BucketEncryption" in properties
    upload_bucket = next(r for r in buckets if "uploads" in json.dumps(r["Properties"]["BucketName"]))
    for rule in upload_bucket["Properties"]["LifecycleConfiguration"]["Rules"]:
        # A failed run's upload is the only copy of the photo; a backfill's staged copy is not.
        assert "ExpirationInDays" not in rule or rule["Prefix"] == "backfill/staged/"
    policies = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert sum("aws:SecureTransport" in json.dumps(p) for p in policies) >= 2
    table = resources["PhotosTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    machine = resources["ImageWorkflow"]["Properties"]
    assert machine["TracingConfiguration"]["Enabled"] is True
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"
    assert all(r["Properties"].get("RetentionInDays") for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup")


def role_statements(template: dict, role: str) -> list[dict]:
    return [s for p in template["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def grants(template: dict, role: str) -> dict[str, list[str]]:
    """Action -> resources (as written), without the logs and X-Ray statements every role has."""
    found: dict[str, list[str]] = {}
    for statement in role_statements(template, role):
        for action in statement["Action"]:
            if not action.startswith(("logs:", "xray:")):
                found.setdefault(action, []).append(json.dumps(statement["Resource"]))
    return found


def test_start_workflow_retries_then_hands_failed_events_to_an_encrypted_long_lived_queue(template):
    resources = template["Resources"]
    config = resources["StartWorkflowLambdaEvConf"]["Properties"]
    assert config["FunctionName"] == {"Ref": "StartWorkflowLambdaFunction"} and config["Qualifier"] == "$LATEST"
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 3600)
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}}
    queue = resources["FailedEventsQueue"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 1209600 and queue["KmsMasterKeyId"] == "alias/aws/sqs"
    assert queue["VisibilityTimeout"] > resources["ReconcileLambdaFunction"]["Properties"]["Timeout"]
    # Lambda sends to the destination with the function's role: that queue only
    starter = grants(template, "StartWorkflowIamRoleLambdaExecution")
    assert starter["sqs:SendMessage"] == [json.dumps({"Fn::GetAtt": ["FailedEventsQueue", "Arn"]})]
    assert set(starter) == {"states:StartExecution", "s3:GetObject", "s3:ListBucket", "sqs:SendMessage"}
    assert starter["s3:GetObject"] == ['"arn:aws:s3:::image-converter-test-uploads-123456789012/uploads/*"']


def test_the_failure_queue_has_an_alarm_to_the_operations_topic_with_dotenv_thresholds(template):
    alarm = template["Resources"]["FailedEventsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "image-converter-test-failed-events"}]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"], alarm["Period"]) == ("1", "3", 300)  # .env.example
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}] == alarm["OKActions"]
    assert alarm["TreatMissingData"] == "notBreaching"


def test_the_reconciler_runs_on_a_schedule_with_only_what_it_uses(template):
    resources = template["Resources"]
    [rule] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert rule["ScheduleExpression"] == "rate(10 minutes)" and rule["State"] == "ENABLED"
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["ReconcileLambdaFunction", "Arn"]}
    function = resources["ReconcileLambdaFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert (variables["RECONCILE_AFTER_MINUTES"], variables["RECONCILE_MAX_ATTEMPTS"]) == ("15", "3")
    assert variables["FAILED_EVENTS_QUEUE_URL"].endswith("/123456789012/image-converter-test-failed-events")
    assert resources["ReconcileLambdaEvConf"]["Properties"]["MaximumRetryAttempts"] == 0  # the next run retries
    assert grants(template, "ReconcileIamRoleLambdaExecution") == {
        "s3:ListBucket": ['"arn:aws:s3:::image-converter-test-uploads-123456789012"'],
        "s3:GetObject": ['"arn:aws:s3:::image-converter-test-uploads-123456789012/uploads/*"'],
        "s3:PutObject": ['"arn:aws:s3:::image-converter-test-uploads-123456789012/poison/*"'],
        "s3:DeleteObject": ['"arn:aws:s3:::image-converter-test-uploads-123456789012/poison/*"'],
        "states:ListExecutions": [
            '"arn:aws:states:us-east-1:123456789012:stateMachine:image-converter-test-image-workflow"'
        ],
        "states:StartExecution": [
            '"arn:aws:states:us-east-1:123456789012:stateMachine:image-converter-test-image-workflow"'
        ],
        "states:DescribeExecution": [
            '"arn:aws:states:us-east-1:123456789012:execution:image-converter-test-image-workflow:*"'
        ],
        "sqs:ReceiveMessage": [json.dumps({"Fn::GetAtt": ["FailedEventsQueue", "Arn"]})],
        "sqs:DeleteMessage": [json.dumps({"Fn::GetAtt": ["FailedEventsQueue", "Arn"]})],
        "sns:Publish": ['"arn:aws:sns:us-east-1:123456789012:image-converter-test-operations"'],
        # the operations topic's own key, whose policy leaves its use to IAM
        "kms:GenerateDataKey*": [json.dumps({"Fn::GetAtt": ["OperationsTopicKey", "Arn"]})],
        "kms:Decrypt": [json.dumps({"Fn::GetAtt": ["OperationsTopicKey", "Arn"]})],
    }
    assert resources["OperationsTopic"]["Properties"]["TopicName"] == "image-converter-test-operations"


def test_outputs_name_every_resource(stack):
    """Every output serverless.yml declares reaches the deployed stack, with a value."""
    declared = set(serverless_yml.serverless()["resources"]["Outputs"])
    # among them, those the local cloud's tools and ops/ look a stage up by
    assert {"UploadBucketName", "DestinationBucketName", "PhotosTableName", "ImageWorkflowArn"} <= declared
    missing = {name for name in declared if not stack.outputs.get(name)}
    assert not missing, missing


def test_cfn_lint_finds_no_errors(template):
    from cfnlint.api import lint
    from cfnlint.helpers import REGIONS

    # Every region of the `aws` partition, the only one the template's ARNs name
    # (custom.partition); Cognito user pools do not exist in the China regions.
    regions = [r for r in REGIONS if not r.startswith(("cn-", "us-gov-", "us-iso", "eu-isoe", "eusc-"))]
    matches = lint(json.dumps(template), regions=regions)
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


_X86_64 = 62  # ELF e_machine
# The test stage is built for the machine the local cloud runs on (custom.architecture in
# serverless.yml); the arm64 build of the other stages is checked by tests/test_parity.py.
_TEST_STAGE_CPU = "x86_64"


def _wheel_tags(layer: zipfile.ZipFile, distribution: str) -> list[str]:
    names = layer.namelist()
    wheel = next(n for n in names if re.fullmatch(rf"python/{distribution}-[\d.]+\.dist-info/WHEEL", n))
    return [line.split(": ")[1] for line in layer.read(wheel).decode().splitlines() if line.startswith("Tag")]


def test_layer_is_built_for_the_lambda_runtime_not_this_machine(stack):
    with zipfile.ZipFile(stack.package_dir / "pythonRequirements.zip") as layer:
        names = layer.namelist()
        extension = [n for n in names if re.fullmatch(r"python/PIL/_imaging\.cpython-.*\.so", n)]
        assert extension == [f"python/PIL/_imaging.cpython-313-{_TEST_STAGE_CPU}-linux-gnu.so"]
        tags = _wheel_tags(layer, "pillow")
        assert tags and all(t.startswith("cp313-cp313-manylinux") and t.endswith(_TEST_STAGE_CPU) for t in tags)
        assert not any("boto3/" in n for n in names)  # the runtime provides it


def test_the_heif_decoder_in_the_layer_is_for_the_lambda_runtime_too(stack):
    """pillow-heif's extension module and the libraries its wheel bundles (libheif,
    libde265, x265) are CPython 3.13 files for the stage's CPU, like Pillow's."""
    with zipfile.ZipFile(stack.package_dir / "pythonRequirements.zip") as layer:
        names = layer.namelist()
        extension = [n for n in names if re.fullmatch(r"python/_pillow_heif\.cpython-.*\.so", n)]
        assert extension == [f"python/_pillow_heif.cpython-313-{_TEST_STAGE_CPU}-linux-gnu.so"]
        tags = _wheel_tags(layer, "pillow_heif")
        assert tags and all(t.startswith("cp313-cp313-manylinux") and t.endswith(_TEST_STAGE_CPU) for t in tags)
        bundled = [n for n in names if n.startswith("python/pillow_heif.libs/") and ".so" in n]
        assert {name.split("/")[-1].split("-")[0] for name in bundled} >= {"libheif", "libde265", "libx265"}
        for name in [*extension, *bundled]:
            head = layer.read(name)[:20]
            assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == _X86_64, name


def test_the_venv_has_the_layers_versions_and_pins_live_in_one_place(stack):
    """Pillow and pillow-heif are pinned only in layers/pillow/requirements.txt; the layer that
    was built and the venv the local runtime and `sls invoke local` use have those versions."""
    from importlib.metadata import version

    root = Path(__file__).resolve().parent.parent
    pins = _pins(root / "layers" / "pillow" / "requirements.txt")
    assert set(pins) == {"pillow", "pillow-heif"}
    assert not set(pins) & set(_pins(root / "requirements.txt")), "pinned in two places"
    with zipfile.ZipFile(stack.package_dir / "pythonRequirements.zip") as layer:
        for name, pinned in pins.items():
            tags = [
                n
                for n in layer.namelist()
                if re.fullmatch(rf"python/{name.replace('-', '_')}-[^/]+\.dist-info/METADATA", n)
            ]
            [metadata] = tags
            built = re.search(r"^Version: (\S+)$", layer.read(metadata).decode(), re.M).group(1)
            assert built == pinned == version(name), name
    for name, pinned in _pins(root / "requirements.txt").items():
        assert version(name) == pinned, name


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {line.split("==")[0].lower(): line.split("==")[1] for line in lines if "==" in line}


def _handler_imports_pillow(handler: str) -> bool:
    """Whether importing the handler's module imports Pillow (in a fresh interpreter)."""
    module = handler.rsplit(".", 1)[0].replace("/", ".")
    code = f"import sys, {module}; print(any(m in sys.modules for m in ('PIL', 'pillow_heif')))"
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return result.stdout.strip() == "True"


def test_exactly_the_functions_that_import_pillow_have_the_pillow_layer(template, stack):
    resources = template["Resources"]
    [layer_id] = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    layer = resources[layer_id]["Properties"]
    assert layer["CompatibleRuntimes"] == [template_runtime(template)] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == [_TEST_STAGE_CPU]
    assert layer["LicenseInfo"] and "Pillow" in layer["Description"]
    functions = {name: f["Properties"] for name, f in packaged_functions(template, stack).items()}
    with_layer = {name for name, f in functions.items() if {"Ref": layer_id} in f.get("Layers", [])}
    importing = {name for name, f in functions.items() if _handler_imports_pillow(f["Handler"])}
    assert with_layer == importing == serverless_yml.functions_with_layer(layer_id)
    assert importing  # the image functions
    assert all(len(f.get("Layers", [])) <= 1 for f in functions.values())


def template_runtime(template: dict) -> str:
    return next(
        r["Properties"]["Runtime"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    )


def test_the_function_package_holds_its_requirements_and_no_pillow(stack):
    """Every function's package (one zip for all) carries Powertools, built for the runtime,
    and nothing of Pillow: the functions without the layer have none."""
    with zipfile.ZipFile(stack.package_dir / "image-converter.zip") as package:
        names = package.namelist()
    tops = {name.split("/")[0] for name in names}
    assert "aws_lambda_powertools" in tops and "handlers" in tops
    assert not tops & {"PIL", "pillow_heif", "pillow.libs", "pillow_heif.libs"}
    # The only compiled module is pydantic-core's (the photos API's models), built for the runtime.
    compiled = [name for name in names if name.endswith(".so")]
    assert compiled == [f"pydantic_core/_pydantic_core.cpython-313-{_TEST_STAGE_CPU}-linux-gnu.so"], compiled
    assert not any("__pycache__" in name for name in names)


def test_every_environment_setting_is_documented():
    root = Path(__file__).resolve().parent.parent
    used = set(re.findall(r"env:([A-Z_]+)", (root / "serverless.yml").read_text()))
    # a setting without one default (LAMBDA_ARCHITECTURE: per stage) is shown commented out
    documented = set(re.findall(r"^(?:# )?([A-Z_]+)=", (root / ".env.example").read_text(), re.M))
    assert used and used == documented


# -- checkov (in .venv-checkov: `make checkov`; its pins clash with requirements-dev.txt) ------
CHECKOV = Path(__file__).resolve().parent.parent / ".venv-checkov" / "bin" / "checkov"
CHECKOV_CONFIG = CHECKOV.parent.parent.parent / ".checkov.yaml"


def checkov(stack, *options: str) -> dict:
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed: `make checkov` (make test does it)")
        pytest.skip("checkov is not installed here: `make checkov`")
    template = stack.package_dir / "cloudformation-template-update-stack.json"
    command = [str(CHECKOV), "-f", str(template), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    # (run away from the project root, where checkov would read .checkov.yaml by itself)
    result = subprocess.run([*command, *options], capture_output=True, text=True, timeout=300, cwd=template.parent)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    return json.loads(result.stdout)


def _failed(report: dict) -> list[str]:
    return sorted(f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"])


def test_checkov_passes_with_the_projects_skips(stack):
    report = checkov(stack, "--config-file", str(CHECKOV_CONFIG))
    assert report["summary"]["failed"] == 0, _failed(report)
    assert report["summary"]["passed"] > 100


def test_every_checkov_skip_is_justified_and_still_needed(stack):
    lines = CHECKOV_CONFIG.read_text().splitlines()
    skips = yaml.safe_load("\n".join(lines))["skip-check"]
    for check in skips:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"- {check}")
        assert lines[at - 1].strip().startswith("#"), f"{check} has no comment saying why it is skipped"
    failing = {c["check_id"] for c in checkov(stack)["results"]["failed_checks"]}
    assert sorted(set(skips) - failing) == [], "skipped, yet no resource fails them any more: remove the skip"


def test_the_deployment_bucket_is_private_encrypted_and_tls_only(template):
    resources = template["Resources"]
    bucket = resources["ServerlessDeploymentBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    policy = resources["ServerlessDeploymentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] is False for s in policy)


def test_uploads_need_an_id_token_of_the_stages_user_pool_and_app_client(template, stack):
    resources = template["Resources"]
    method = resources["ApiGatewayMethodUploadPost"]["Properties"]
    assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert method["AuthorizerId"] == {"Ref": "UploadAuthorizer"} and "AuthorizationScopes" not in method
    found = resources["UploadAuthorizer"]["Properties"]
    assert found["Type"] == "COGNITO_USER_POOLS"
    assert found["ProviderARNs"] == [{"Fn::GetAtt": ["UserPool", "Arn"]}]
    assert found["IdentitySource"] == "method.request.header.Authorization"
    assert found["IdentityValidationExpression"] == {"Ref": "UserPoolClient"}  # tokens of this app client only
    pool = resources["UserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    client = resources["UserPoolClient"]["Properties"]
    assert client["UserPoolId"] == {"Ref": "UserPool"} and client["GenerateSecret"] is False
    assert template["Outputs"]["UserPoolId"]["Value"] == {"Ref": "UserPool"}
    assert template["Outputs"]["UserPoolClientId"]["Value"] == {"Ref": "UserPoolClient"}
    assert stack.outputs["UserPoolId"].startswith("us-east-1_") and stack.outputs["UserPoolClientId"]


def cors_origins(template) -> str:
    preflight = template["Resources"]["ApiGatewayMethodUploadOptions"]["Properties"]["Integration"]
    [response] = preflight["IntegrationResponses"]
    return response["ResponseParameters"]["method.response.header.Access-Control-Allow-Origin"]


def test_cors_allows_the_configured_origins_not_every_origin(template):
    assert cors_origins(template) == "'http://localhost:3000'"  # the default of .env.example
    preflight = template["Resources"]["ApiGatewayMethodUploadOptions"]["Properties"]["Integration"]
    headers = preflight["IntegrationResponses"][0]["ResponseParameters"]
    assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]
    function = template["Resources"]["UploadLambdaFunction"]["Properties"]
    assert function["Environment"]["Variables"]["ALLOWED_ORIGINS"] == "http://localhost:3000"
    assert "'*'" not in json.dumps(template)


def stage_throttling(template) -> dict:
    [deployment] = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Deployment"]
    return deployment["Properties"]["StageDescription"]


def test_the_api_stage_is_throttled(template):
    assert stage_throttling(template) == {"ThrottlingRateLimit": 10, "ThrottlingBurstLimit": 20}


def test_the_quota_is_counted_in_a_table_with_a_ttl_and_only_the_upload_function_writes_it(template):
    from handlers.core import quota

    resources = template["Resources"]
    table = resources["UploadQuotaTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": quota.EXPIRES_AT, "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "quotaKey", "KeyType": "HASH"}]
    assert table["SSESpecification"]["SSEEnabled"] is True
    writers = {
        name: s
        for name, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        for p in r["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if "upload-quota" in json.dumps(s["Resource"])
    }
    assert sorted(writers) == ["EraseAccountIamRoleLambdaExecution", "UploadIamRoleLambdaExecution"]
    assert writers["UploadIamRoleLambdaExecution"]["Action"] == ["dynamodb:UpdateItem"]
    # Account erasure (DELETE /me) removes the user's counters, and may do nothing else to them.
    assert writers["EraseAccountIamRoleLambdaExecution"]["Action"] == ["dynamodb:DeleteItem"]


def test_limits_and_origins_come_from_the_stages_dotenv(cloud, tmp_path):
    """`.env.<stage>` sets a stage's throttling, origins and quota; a limit that is not a
    number fails the build with a clear message."""
    from localcloud.tools.deploy import PROJECT, package

    stage = "dotenvcheck"
    dotenv = PROJECT / f".env.{stage}"
    assert not dotenv.exists()
    try:
        dotenv.write_text(
            "API_RATE_LIMIT=3\nAPI_BURST_LIMIT=7\nDAILY_UPLOAD_QUOTA=5\n"
            "ALLOWED_ORIGINS=https://photos.example,https://admin.example\n"
            "RECONCILE_SCHEDULE=cron(0/5 * * * ? *)\nRECONCILE_AFTER_MINUTES=30\n"
            "FAILED_EVENTS_ALARM_THRESHOLD=5\nFAILED_EVENTS_ALARM_PERIODS=2\n"
        )
        built = json.loads(
            (
                package(cloud.client_environment(), stage, tmp_path / "ok")
                / "cloudformation-template-update-stack.json"
            ).read_text()
        )
        assert stage_throttling(built) == {"ThrottlingRateLimit": 3, "ThrottlingBurstLimit": 7}
        variables = built["Resources"]["UploadLambdaFunction"]["Properties"]["Environment"]["Variables"]
        assert variables["DAILY_UPLOAD_QUOTA"] == "5"
        assert variables["ALLOWED_ORIGINS"] == "https://photos.example,https://admin.example"
        template = built["Resources"]["ApiGatewayMethodUploadOptions"]["Properties"]["Integration"]
        vtl = template["IntegrationResponses"][0]["ResponseTemplates"]["application/json"]
        assert 'matches("https://photos[.]example")' in vtl and 'matches("https://admin[.]example")' in vtl
        [rule] = [r["Properties"] for r in built["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
        assert rule["ScheduleExpression"] == "cron(0/5 * * * ? *)"
        reconcile = built["Resources"]["ReconcileLambdaFunction"]["Properties"]["Environment"]["Variables"]
        assert reconcile["RECONCILE_AFTER_MINUTES"] == "30"
        alarm = built["Resources"]["FailedEventsAlarm"]["Properties"]
        assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == ("5", "2")
        dotenv.write_text("API_BURST_LIMIT=lots\n")
        with pytest.raises(RuntimeError, match=r"custom.apiThrottling.burstLimit must be a whole number.*'lots'"):
            package(cloud.client_environment(), stage, tmp_path / "bad")
    finally:
        dotenv.unlink(missing_ok=True)


def test_a_regenerating_backfill_skips_the_duplicate_verdict_and_nothing_else(definition):
    states = definition["States"]
    assert states["CheckForDuplicate"]["Next"] == "IsRegeneration"
    [rule] = states["IsRegeneration"]["Choices"]
    assert rule["Next"] == "ProcessFile" and states["IsRegeneration"]["Default"] == "IsDuplicate"
    assert {"Variable": "$.backfill.mode", "StringEquals": "regenerate"} in rule["And"]


def test_the_backfill_is_a_distributed_map_of_image_workflow_executions(template):
    from handlers.core import keys

    machine = template["Resources"]["BackfillWorkflow"]["Properties"]
    body, _ = machine["DefinitionString"]["Fn::Sub"]
    states = json.loads(body)["States"]
    maps = {name: state for name, state in states.items() if state["Type"] == "Map"}
    readers = {name: (m["ItemReader"]["Resource"], m["ItemReader"].get("ReaderConfig", {})) for name, m in maps.items()}
    assert readers == {
        "FromListing": ("arn:aws:states:::s3:listObjectsV2", {}),
        "FromJsonManifest": ("arn:aws:states:::s3:getObject", {"InputType": "JSON"}),
        "FromCsvManifest": ("arn:aws:states:::s3:getObject", {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}),
    }
    for state in maps.values():
        assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
        assert state["MaxConcurrencyPath"] and state["ToleratedFailurePercentagePath"]
        assert state["ResultWriter"]["Parameters"]["Prefix"] == "backfill/reports"
        [child] = [s for s in state["ItemProcessor"]["States"].values() if "startExecution" in s["Resource"]]
        assert child["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
        assert child["Parameters"]["StateMachineArn"].endswith(":stateMachine:image-converter-test-image-workflow")
    assert machine["RoleArn"] == {"Fn::GetAtt": ["BackfillWorkflowRole", "Arn"]}
    # The staging function reads only original copies in the destination bucket (keys.py's layout).
    role = template["Resources"]["StageBackfillItemIamRoleLambdaExecution"]["Properties"]["Policies"][0]
    reads = next(s["Resource"] for s in role["PolicyDocument"]["Statement"] if s["Action"] == ["s3:GetObject"])
    assert any(isinstance(r, str) and r.endswith(f"/{keys.ORIGINALS_PREFIX}*") for r in reads)
