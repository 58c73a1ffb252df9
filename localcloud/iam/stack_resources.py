"""What CloudFormation asks IAM for when it creates a stack's resource as the stack's service
role (`sls deploy` with provider.iam.deploymentRole): the create action on the resource's ARN,
iam:PassRole for a role the resource is given (with iam:PassedToService), and reading a
function's or layer's code from S3. Checked by localcloud/moto_adapter/cloudformation.py
before moto creates the resource; a denial fails the stack as on AWS.

Only creation is checked (a new stage, or resources added to one); updates and deletions of
existing resources are not. A resource type not listed here is refused, saying so (map it here).
"""

from __future__ import annotations

from typing import Any

from .requests import Check

# type: (service, create action, ARN template ({name}: the resource's name), name property)
_CREATE: dict[str, tuple[str, str, str | None]] = {
    "AWS::S3::Bucket": ("s3:CreateBucket", "arn:aws:s3:::{name}", "BucketName"),
    "AWS::S3::BucketPolicy": ("s3:PutBucketPolicy", "arn:aws:s3:::{Bucket}", None),
    "AWS::DynamoDB::Table": ("dynamodb:CreateTable", "arn:aws:dynamodb:{region}:{account}:table/{name}", "TableName"),
    "AWS::IAM::Role": ("iam:CreateRole", "arn:aws:iam::{account}:role/{name}", "RoleName"),
    "AWS::Lambda::Function": (
        "lambda:CreateFunction",
        "arn:aws:lambda:{region}:{account}:function:{name}",
        "FunctionName",
    ),
    "AWS::Lambda::LayerVersion": (
        "lambda:PublishLayerVersion",
        "arn:aws:lambda:{region}:{account}:layer:{name}",
        "LayerName",
    ),
    "AWS::Lambda::Version": ("lambda:PublishVersion", "{FunctionName}", None),
    "AWS::Lambda::Permission": ("lambda:AddPermission", "{FunctionName}", None),
    "AWS::Lambda::EventInvokeConfig": ("lambda:PutFunctionEventInvokeConfig", "{FunctionName}", None),
    "AWS::Logs::LogGroup": ("logs:CreateLogGroup", "arn:aws:logs:{region}:{account}:log-group:{name}", "LogGroupName"),
    "AWS::SNS::Topic": ("sns:CreateTopic", "arn:aws:sns:{region}:{account}:{name}", "TopicName"),
    "AWS::SNS::Subscription": ("sns:Subscribe", "{TopicArn}", None),
    "AWS::SQS::Queue": ("sqs:CreateQueue", "arn:aws:sqs:{region}:{account}:{name}", "QueueName"),
    "AWS::StepFunctions::StateMachine": (
        "states:CreateStateMachine",
        "arn:aws:states:{region}:{account}:stateMachine:{name}",
        "StateMachineName",
    ),
    "AWS::CloudWatch::Alarm": (
        "cloudwatch:PutMetricAlarm",
        "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
        "AlarmName",
    ),
    "AWS::Events::Rule": ("events:PutRule", "arn:aws:events:{region}:{account}:rule/{name}", "Name"),
    "AWS::KMS::Key": ("kms:CreateKey", "*", None),
    "AWS::Cognito::UserPool": ("cognito-idp:CreateUserPool", "*", None),
    "AWS::Cognito::UserPoolClient": (
        "cognito-idp:CreateUserPoolClient",
        "arn:aws:cognito-idp:{region}:{account}:userpool/{UserPoolId}",
        None,
    ),
    "AWS::ApiGateway::RestApi": ("apigateway:POST", "arn:aws:apigateway:{region}::/restapis", None),
    "AWS::ApiGateway::Resource": (
        "apigateway:POST",
        "arn:aws:apigateway:{region}::/restapis/{RestApiId}/resources/*",
        None,
    ),
    "AWS::ApiGateway::Method": (
        "apigateway:PUT",
        "arn:aws:apigateway:{region}::/restapis/{RestApiId}/resources/*",
        None,
    ),
    "AWS::ApiGateway::Authorizer": (
        "apigateway:POST",
        "arn:aws:apigateway:{region}::/restapis/{RestApiId}/authorizers",
        None,
    ),
    "AWS::ApiGateway::Deployment": (
        "apigateway:POST",
        "arn:aws:apigateway:{region}::/restapis/{RestApiId}/deployments",
        None,
    ),
}
# Where a resource is given a role, and the service the role is passed to.
_PASSED_ROLES = {
    "AWS::Lambda::Function": ("Role", "lambda.amazonaws.com"),
    "AWS::StepFunctions::StateMachine": ("RoleArn", "states.amazonaws.com"),
}


class UnmappedResource(Exception):
    """The local cloud does not know what CloudFormation asks IAM for to create this type."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def create_checks(
    resource_type: str, name: str, properties: dict[str, Any], region: str, account: str
) -> list[tuple[Check, dict[str, str]]]:
    """(check, extra request context) pairs for creating one resource."""
    if resource_type not in _CREATE:
        raise UnmappedResource(resource_type)
    action, template, name_property = _CREATE[resource_type]
    name = _text(properties.get(name_property)) if name_property and properties.get(name_property) else name
    fields = {key: _text(value) for key, value in properties.items()}
    resource = template.format_map({**fields, "name": name, "region": region, "account": account})
    if resource_type.startswith("AWS::Lambda::") and not resource.startswith("arn:"):
        resource = f"arn:aws:lambda:{region}:{account}:function:{resource}"
    checks = [(Check(action, resource), {})]
    if resource_type in _PASSED_ROLES:
        key, service = _PASSED_ROLES[resource_type]
        if _text(properties.get(key)):
            checks.append((Check("iam:PassRole", properties[key]), {"iam:PassedToService": service}))
    code = properties.get("Code") or properties.get("Content") or {}
    if isinstance(code, dict) and _text(code.get("S3Bucket")):
        checks.append((Check("s3:GetObject", f"arn:aws:s3:::{code['S3Bucket']}/{code.get('S3Key', '')}"), {}))
    return checks
