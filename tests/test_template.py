"""The packaged artifacts that `sls deploy` produced: template, definition, layer."""

import json
import re
import zipfile
from pathlib import Path

import pytest

TASK_RETRY = [
    {"ErrorEquals": ["InvalidImage", "SourceObjectMissing", "DuplicatePhoto"], "MaxAttempts": 0},
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ],
        "IntervalSeconds": 1,
        "MaxAttempts": 3,
        "BackoffRate": 2,
    },
    {"ErrorEquals": ["States.TaskFailed", "States.Timeout"], "IntervalSeconds": 5, "MaxAttempts": 2, "BackoffRate": 2},
    {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 2, "BackoffRate": 2},
]


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


def _tasks(states: dict) -> dict:
    found = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        for branch in state.get("Branches", []):
            found |= _tasks(branch["States"])
    return found


def test_every_task_has_the_retry_policy_and_a_catch(definition):
    tasks = _tasks(definition["States"])
    assert len(tasks) == 12
    for name, task in tasks.items():
        assert task["Retry"] == TASK_RETRY, name
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
    tasks = _tasks(definition["States"])
    for task in tasks.values():
        variable = re.fullmatch(r"\$\{(\w+)\}", task["Resource"])
        if not variable:
            continue
        function = template["Resources"]["ImageWorkflow"]["Properties"]["DefinitionString"]["Fn::Sub"][1][
            variable.group(1)
        ]["Fn::GetAtt"][0]
        assert resources[function]["Properties"]["Timeout"] < task["TimeoutSeconds"]


def test_one_role_per_function_with_scoped_actions(template):
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    roles = {json.dumps(f["Properties"]["Role"]) for f in functions.values()}
    assert len(functions) == 10 and len(roles) == 10
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
        assert "ExpirationInDays" not in rule  # a failed run's upload is the only copy of the photo
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


def test_outputs_name_every_resource(stack):
    for name in (
        "UploadBucketName",
        "DestinationBucketName",
        "PhotosTableName",
        "UniquenessTableName",
        "NotificationsTopicArn",
        "ImageWorkflowArn",
    ):
        assert stack.outputs[name]


def test_cfn_lint_finds_no_errors(template):
    from cfnlint.api import lint_all

    matches = lint_all(json.dumps(template))
    assert [str(m) for m in matches if m.rule.id.startswith("E")] == []


def test_layer_is_built_for_the_lambda_runtime_not_this_machine(stack):
    with zipfile.ZipFile(stack.package_dir / "pythonRequirements.zip") as layer:
        names = layer.namelist()
        extension = [n for n in names if re.fullmatch(r"python/PIL/_imaging\.cpython-.*\.so", n)]
        assert extension == ["python/PIL/_imaging.cpython-312-aarch64-linux-gnu.so"]
        wheel = next(n for n in names if re.fullmatch(r"python/pillow-[\d.]+\.dist-info/WHEEL", n))
        tags = [line.split(": ")[1] for line in layer.read(wheel).decode().splitlines() if line.startswith("Tag")]
        assert tags and all(t.startswith("cp312-cp312-manylinux") and t.endswith("aarch64") for t in tags)
        assert not any("boto3/" in n for n in names)  # the runtime provides it


def test_local_packages_match_the_layer_pins():
    from importlib.metadata import version

    root = Path(__file__).resolve().parent.parent
    for line in (root / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, pinned = line.split("==")
            assert version(name) == pinned


def test_every_environment_setting_is_documented():
    root = Path(__file__).resolve().parent.parent
    used = set(re.findall(r"env:([A-Z_]+)", (root / "serverless.yml").read_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (root / ".env.example").read_text(), re.M))
    assert used and used == documented
