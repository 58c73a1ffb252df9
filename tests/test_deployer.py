"""Deploying with a policy, not an admin (deploy/deployer.yml, docs/deploying.md).

An administrator deploys deploy/deployer.yml once per stage; a CI role with only its DeployerPolicy
then deploys the stage with `sls package` + `sls deploy` (CLOUDFORMATION_ROLE=true), the local cloud
checking every call the Framework makes against that policy (localcloud/services/iam), and every resource
CloudFormation creates against the stage's CloudFormation role (localcloud/services/cloudformation/adapter.py),
as AWS does. Taking one needed statement away from either fails the deploy, naming the permission."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml

from localcloud.tools.deploy import PROJECT, deploy

TEMPLATE = PROJECT / "deploy" / "deployer.yml"
ARTIFACTS = PROJECT / "artifacts"


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short forms (!Sub, !GetAtt, !Ref) as their long forms."""


_Loader.add_constructor("!Sub", lambda loader, node: {"Fn::Sub": loader.construct_scalar(node)})
_Loader.add_constructor("!Ref", lambda loader, node: {"Ref": loader.construct_scalar(node)})
_Loader.add_constructor("!GetAtt", lambda loader, node: {"Fn::GetAtt": loader.construct_scalar(node).split(".", 1)})


def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


def set_up_stage(stage: str, without: tuple[str, str] | None = None) -> dict[str, str]:
    """deploy/deployer.yml for `stage` deployed by an admin, optionally with one statement (policy,
    Sid) taken out; then the shell of a CI role that has only the stage's DeployerPolicy."""
    cloudformation, iam = boto3.client("cloudformation"), boto3.client("iam")
    body = template()
    if without:
        resource, sid = without
        properties = body["Resources"][resource]["Properties"]
        document = properties["PolicyDocument"] if "PolicyDocument" in properties else properties["Policies"][0]
        document = document.get("PolicyDocument", document)
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        assert len(kept) == len(document["Statement"]) - 1, f"no statement {sid} in {resource}"
        document["Statement"] = kept
    name = f"image-converter-{stage}-deployer"
    cloudformation.create_stack(
        StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
    )  # fmt: skip
    described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in described["Outputs"]}
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=f"ci-{stage}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=outputs["DeployerPolicyArn"])
    credentials = boto3.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="ci")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "CLOUDFORMATION_ROLE": "true",
    }


@pytest.fixture(scope="module")
def deployed(cloud):
    """Stage `dpl` deployed by the CI role, then deployed again with every function changed (their
    environment), as the next day's deploy would: the update path (functions updated, versions and
    the API deployment replaced) is checked too."""
    ARTIFACTS.mkdir(exist_ok=True)
    shell = cloud.client_environment() | set_up_stage("dpl")
    first = deploy(shell, "dpl", log=ARTIFACTS / "deploy-dpl.log")
    second = deploy(shell | {"LOG_LEVEL": "DEBUG"}, "dpl", log=ARTIFACTS / "deploy-dpl-again.log")
    return first, second


def test_a_stage_deploys_and_updates_with_exactly_the_deployer_policy(cloud, deployed):
    first, second = deployed
    assert first.outputs["UploadBucketName"].startswith("image-converter-dpl-uploads-")
    described = boto3.client("cloudformation").describe_stacks(StackName=second.name)["Stacks"][0]
    assert described["RoleARN"].endswith(":role/deployer-image-converter-dpl-cloudformation")
    assert described["StackStatus"] == "UPDATE_COMPLETE"
    function = boto3.client("lambda").get_function_configuration(FunctionName="image-converter-dpl-upload")
    assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"  # the update was applied
    denied = [d for d in cloud.iam.denials if "/ci-dpl/" in d.principal or "-dpl-cloudformation/" in d.principal]
    assert sorted({(d.action, d.resource) for d in denied}) == []


def test_the_deployer_policy_grants_nothing_the_deploys_did_not_use(cloud, deployed):
    iam = boto3.client("iam")
    account = boto3.client("sts").get_caller_identity()["Account"]
    arn = f"arn:aws:iam::{account}:policy/deployer-image-converter-dpl"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    granted = set()
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        granted |= {(action, resource) for action in actions for resource in resources}
    used = {(grant.action, grant.resource) for grant in cloud.iam.used_by_sessions if grant.role == "ci-dpl"}
    # the Framework keeps the last 5 deployments' artifacts: it deletes from the 6th deploy on
    used.add(("s3:DeleteObject", "arn:aws:s3:::image-converter-dpl-serverlessdeploymentbuck*/*"))
    assert sorted(granted - used) == [], "\n".join(map(str, sorted(granted - used)))


@pytest.mark.parametrize(
    ("stage", "without", "named"),
    [
        ("dpl-a", ("DeployerPolicy", "PassCloudFormationRole"), "iam:PassRole"),
        ("dpl-b", ("DeployerPolicy", "Artifacts"), "s3:PutObject"),
        ("dpl-c", ("CloudFormationRole", "Tables"), "dynamodb:CreateTable"),
    ],
)
def test_a_missing_statement_fails_the_deploy_naming_the_permission(cloud, stage, without, named):
    shell = cloud.client_environment() | set_up_stage(stage, without)
    with pytest.raises(RuntimeError) as failed:
        deploy(shell, stage, log=ARTIFACTS / f"deploy-{stage}.log", package_dir=Path(ARTIFACTS / f"build-{stage}"))
    assert f"is not authorized to perform: {named}" in str(failed.value)


def test_the_deployer_template_passes_cfn_lint_and_checkov():
    from cfnlint.api import lint

    assert [str(m) for m in lint(TEMPLATE.read_text(), regions=["us-east-1"])] == []  # warnings too
    checkov = PROJECT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed: `make checkov` (make test does it)")
        pytest.skip("checkov is not installed here: `make checkov`")
    command = [str(checkov), "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=TEMPLATE.parent)
    summary = json.loads(done.stdout)["summary"]
    assert (summary["failed"], summary["skipped"]) == (0, 0) and summary["passed"] > 10, summary


def test_a_stack_created_with_a_service_role_fails_on_what_the_role_may_not_do(cloud, unique):
    """CreateStack with RoleARN (`aws cloudformation create-stack --role-arn`): the resource the role may
    not create fails the stack, naming the permission; tagging it with the stack's tags is checked too."""
    iam, cloudformation = boto3.client("iam"), boto3.client("cloudformation")
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"}}]}
    trust["Statement"][0]["Action"] = "sts:AssumeRole"
    role = iam.create_role(RoleName=f"cfn-{unique}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    topics = f"arn:aws:sns:us-east-1:*:{unique}-allowed-*"
    allow = {"Effect": "Allow", "Action": "sns:CreateTopic", "Resource": topics}
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )

    def create(name: str, topic: str, tags: list[dict[str, str]]) -> dict:
        body = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": topic}}}}
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body), RoleARN=role["Arn"], Tags=tags)
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        return {"status": stack["StackStatus"], "failed": [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]}

    assert create(f"s-{unique}-1", f"{unique}-allowed-1", [])["status"] == "CREATE_COMPLETE"
    refused = create(f"s-{unique}-2", f"{unique}-other", [])
    assert refused["status"] == "ROLLBACK_COMPLETE"
    assert refused["failed"][0]["LogicalResourceId"] == "Topic"
    reason = refused["failed"][0]["ResourceStatusReason"]
    assert (
        f"assumed-role/cfn-{unique}/AWSCloudFormation is not authorized to perform: SNS:CreateTopic" in reason
    )  # as SNS spells it
    tagged = create(f"s-{unique}-3", f"{unique}-allowed-3", [{"Key": "STAGE", "Value": "x"}])
    assert "is not authorized to perform: SNS:TagResource" in tagged["failed"][0]["ResourceStatusReason"]
