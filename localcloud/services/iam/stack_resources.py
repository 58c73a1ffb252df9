"""What CloudFormation asks IAM for when it works on a stack's resource as the stack's service
role (`sls deploy` with provider.iam.deploymentRole). Checked by
localcloud/services/cloudformation/adapter.py before moto creates, updates or deletes the resource;
a denial fails the stack as on AWS.

For each resource type: the actions of creating, updating and deleting it on the resource's
ARN; tagging it with the stack's tags (CloudFormation passes them on, and a create call with
tags also needs the tagging action); iam:PassRole of a role the resource is given (with
iam:PassedToService); reading a function's or layer's code from S3.

Not modelled: the read calls CloudFormation makes around them (Describe*, Get*, List*: the
stage's role grants them, nothing checks them here), and an update is checked as its type's
main update action whatever property changed. A resource type not listed here is refused,
saying so (map it here).
"""

from __future__ import annotations

from typing import Any

from .requests import Check

_LAMBDA = "arn:aws:lambda:{region}:{account}:function:"
_API = "arn:aws:apigateway:{region}::/restapis/{RestApiId}"

# type: (ARN template: {name} is the resource's name, other fields its properties; the property
# that names it; create, update, delete actions)
_TYPES: dict[str, tuple[str, str | None, list[str], list[str], list[str]]] = {
    "AWS::S3::Bucket": (
        "arn:aws:s3:::{name}", "BucketName", ["s3:CreateBucket"], ["s3:PutBucketTagging"], ["s3:DeleteBucket"],
    ),
    "AWS::S3::BucketPolicy": (
        "arn:aws:s3:::{Bucket}", None, ["s3:PutBucketPolicy"], ["s3:PutBucketPolicy"], ["s3:DeleteBucketPolicy"],
    ),
    "AWS::DynamoDB::Table": (
        "arn:aws:dynamodb:{region}:{account}:table/{name}", "TableName",
        ["dynamodb:CreateTable"], ["dynamodb:UpdateTable"], ["dynamodb:DeleteTable"],
    ),
    "AWS::IAM::Role": (
        "arn:aws:iam::{account}:role/{name}", "RoleName",
        ["iam:CreateRole", "iam:PutRolePolicy"], ["iam:PutRolePolicy"], ["iam:DeleteRolePolicy", "iam:DeleteRole"],
    ),
    "AWS::Lambda::Function": (
        _LAMBDA + "{name}", "FunctionName",
        ["lambda:CreateFunction"], ["lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"],
        ["lambda:DeleteFunction"],
    ),
    "AWS::Lambda::LayerVersion": (
        "arn:aws:lambda:{region}:{account}:layer:{name}", "LayerName",
        ["lambda:PublishLayerVersion"], ["lambda:PublishLayerVersion"], ["lambda:DeleteLayerVersion"],
    ),
    "AWS::Lambda::Version": ("{FunctionName}", None, ["lambda:PublishVersion"], ["lambda:PublishVersion"], []),
    "AWS::Lambda::Permission": (
        "{FunctionName}", None, ["lambda:AddPermission"], ["lambda:AddPermission"], ["lambda:RemovePermission"],
    ),
    "AWS::Lambda::EventInvokeConfig": (
        "{FunctionName}", None, ["lambda:PutFunctionEventInvokeConfig"],
        ["lambda:UpdateFunctionEventInvokeConfig"], ["lambda:DeleteFunctionEventInvokeConfig"],
    ),
    "AWS::Logs::LogGroup": (
        "arn:aws:logs:{region}:{account}:log-group:{name}", "LogGroupName",
        ["logs:CreateLogGroup", "logs:PutRetentionPolicy"], ["logs:PutRetentionPolicy"], ["logs:DeleteLogGroup"],
    ),
    "AWS::SNS::Topic": (
        "arn:aws:sns:{region}:{account}:{name}", "TopicName",
        ["sns:CreateTopic"], ["sns:SetTopicAttributes"], ["sns:DeleteTopic"],
    ),
    "AWS::SNS::Subscription": ("{TopicArn}", None, ["sns:Subscribe"], ["sns:Subscribe"], []),
    "AWS::SQS::Queue": (
        "arn:aws:sqs:{region}:{account}:{name}", "QueueName",
        ["sqs:CreateQueue"], ["sqs:SetQueueAttributes"], ["sqs:DeleteQueue"],
    ),
    "AWS::StepFunctions::StateMachine": (
        "arn:aws:states:{region}:{account}:stateMachine:{name}", "StateMachineName",
        ["states:CreateStateMachine"], ["states:UpdateStateMachine"], ["states:DeleteStateMachine"],
    ),
    "AWS::CloudWatch::Alarm": (
        "arn:aws:cloudwatch:{region}:{account}:alarm:{name}", "AlarmName",
        ["cloudwatch:PutMetricAlarm"], ["cloudwatch:PutMetricAlarm"], ["cloudwatch:DeleteAlarms"],
    ),
    "AWS::Events::Rule": (
        "arn:aws:events:{region}:{account}:rule/{name}", "Name",
        ["events:PutRule", "events:PutTargets"], ["events:PutRule", "events:PutTargets"],
        ["events:RemoveTargets", "events:DeleteRule"],
    ),
    # created with an id the service makes: nothing to scope the creation to
    "AWS::KMS::Key": ("*", None, ["kms:CreateKey"], [], []),
    "AWS::Cognito::UserPool": ("*", None, ["cognito-idp:CreateUserPool"], [], []),
    "AWS::Cognito::UserPoolClient": (
        "arn:aws:cognito-idp:{region}:{account}:userpool/{UserPoolId}", None,
        ["cognito-idp:CreateUserPoolClient"], ["cognito-idp:UpdateUserPoolClient"],
        ["cognito-idp:DeleteUserPoolClient"],
    ),
    # the photo app's distribution and its origin access control (ids the service makes)
    "AWS::CloudFront::OriginAccessControl": (
        "arn:aws:cloudfront::{account}:origin-access-control/*", None,
        ["cloudfront:CreateOriginAccessControl"], ["cloudfront:UpdateOriginAccessControl"],
        ["cloudfront:DeleteOriginAccessControl"],
    ),
    "AWS::CloudFront::Distribution": (
        "arn:aws:cloudfront::{account}:distribution/*", None,
        ["cloudfront:CreateDistribution"], ["cloudfront:UpdateDistribution"], ["cloudfront:DeleteDistribution"],
    ),
    # API Gateway authorises HTTP methods on resource paths
    "AWS::ApiGateway::RestApi": (
        "arn:aws:apigateway:{region}::/restapis", None, ["apigateway:POST"], ["apigateway:PUT"], [],
    ),
    "AWS::ApiGateway::Resource": (_API + "/resources", None, ["apigateway:POST"], [], []),
    "AWS::ApiGateway::Method": (_API + "/resources/*", None, ["apigateway:PUT"], ["apigateway:PUT"], []),
    "AWS::ApiGateway::Authorizer": (_API + "/authorizers", None, ["apigateway:POST"], ["apigateway:PATCH"], []),
    "AWS::ApiGateway::Deployment": (
        _API + "/deployments", None, ["apigateway:POST"], ["apigateway:PATCH"], ["apigateway:DELETE"],
    ),
}  # fmt: skip
# The action that tags a resource of each type with the stack's tags.
_TAGGING = {
    "AWS::S3::Bucket": "s3:PutBucketTagging",
    "AWS::DynamoDB::Table": "dynamodb:TagResource",
    "AWS::IAM::Role": "iam:TagRole",
    "AWS::Lambda::Function": "lambda:TagResource",
    "AWS::Logs::LogGroup": "logs:TagResource",
    "AWS::SNS::Topic": "sns:TagResource",
    "AWS::SQS::Queue": "sqs:TagQueue",
    "AWS::StepFunctions::StateMachine": "states:TagResource",
    "AWS::CloudWatch::Alarm": "cloudwatch:TagResource",
    "AWS::Events::Rule": "events:TagResource",
}
# Where a resource is given a role, and the service the role is passed to.
_PASSED_ROLES = {
    "AWS::Lambda::Function": ("Role", "lambda.amazonaws.com"),
    "AWS::StepFunctions::StateMachine": ("RoleArn", "states.amazonaws.com"),
}
OPERATIONS = ("create", "update", "delete")
# Actions called only when the resource has this property.
_WHEN = {"iam:PutRolePolicy": "Policies", "logs:PutRetentionPolicy": "RetentionInDays", "events:PutTargets": "Targets"}


class UnmappedResource(Exception):
    """The local cloud does not know what CloudFormation asks IAM for to work on this type."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def checks(
    operation: str, resource_type: str, name: str, properties: dict[str, Any], tagged: bool, region: str, account: str
) -> list[tuple[Check, dict[str, str]]]:
    """(check, extra request context) pairs for creating, updating or deleting one resource
    named `name` (where its properties do not name it); `tagged`: the stack has tags."""
    if resource_type not in _TYPES:
        raise UnmappedResource(resource_type)
    template, name_property, *actions = _TYPES[resource_type]
    if name_property and _text(properties.get(name_property)):
        name = properties[name_property]
    fields = {key: _text(value) for key, value in properties.items()}
    resource = template.format_map({**fields, "name": name, "region": region, "account": account})
    if template == "{FunctionName}" and not resource.startswith("arn:"):
        resource = _LAMBDA.format(region=region, account=account) + resource
    wanted = [a for a in actions[OPERATIONS.index(operation)] if a not in _WHEN or properties.get(_WHEN[a])]
    found: list[tuple[Check, dict[str, str]]] = [(Check(action, resource), {}) for action in wanted]
    if operation == "delete":
        return found
    if tagged and resource_type in _TAGGING:
        found.append((Check(_TAGGING[resource_type], resource), {}))
    if resource_type in _PASSED_ROLES:
        key, service = _PASSED_ROLES[resource_type]
        if _text(properties.get(key)):
            found.append((Check("iam:PassRole", properties[key]), {"iam:PassedToService": service}))
    code = properties.get("Code") or properties.get("Content") or {}
    if isinstance(code, dict) and _text(code.get("S3Bucket")):
        found.append((Check("s3:GetObject", f"arn:aws:s3:::{code['S3Bucket']}/{code.get('S3Key', '')}"), {}))
    return found
