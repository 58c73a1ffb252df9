"""Deploying with a policy, not an admin (deploy/deployer.yml, docs/deploying.md).

An administrator deploys deploy/deployer.yml once per stage; a CI role with only its DeployerPolicy
then deploys the stage with `sls package` + `sls deploy` (CLOUDFORMATION_ROLE=true), the local cloud
checking every call the Framework makes against that policy (localcloud/iam), and every resource
CloudFormation creates against the stage's CloudFormation role (localcloud/moto_adapter/cloudformation.py),
as AWS does. Taking one needed statement away from either fails the deploy, naming the permission."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml

from localcloud.deploy import PROJECT, deploy

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


def test_a_stage_deploys_with_exactly_the_deployer_policy(cloud):
    ARTIFACTS.mkdir(exist_ok=True)
    shell = cloud.client_environment() | set_up_stage("dpl")
    stack = deploy(shell, "dpl", log=ARTIFACTS / "deploy-dpl.log")
    assert stack.outputs["UploadBucketName"].startswith("image-converter-dpl-uploads-")
    described = boto3.client("cloudformation").describe_stacks(StackName=stack.name)["Stacks"][0]
    assert described["RoleARN"].endswith(":role/deployer-image-converter-dpl-cloudformation")
    denied = [d for d in cloud.iam.denials if "/ci-dpl/" in d.principal or "-dpl-" in d.principal]
    assert sorted({(d.action, d.resource) for d in denied}) == []


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
