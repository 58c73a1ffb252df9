"""AWS clients bound to a local cloud, from the environment LocalCloud.client_environment()
describes (the same variables a user exports to point the AWS CLI at it); an empty one means
the default credential chain and endpoints (a deployed stage: `pytest -m e2e --stage dev`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import boto3.session

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient


# Each service with type stubs (requirements-dev.txt) gets its own client type; any other is Any.
@overload
def aws_client(cloud_env: dict[str, str], service: Literal["s3"]) -> S3Client: ...
@overload
def aws_client(cloud_env: dict[str, str], service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def aws_client(cloud_env: dict[str, str], service: Literal["stepfunctions"]) -> SFNClient: ...
@overload
def aws_client(cloud_env: dict[str, str], service: Literal["cloudformation"]) -> CloudFormationClient: ...
@overload
def aws_client(cloud_env: dict[str, str], service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
@overload
def aws_client(cloud_env: dict[str, str], service: str) -> Any: ...
def aws_client(cloud_env: dict[str, str], service: str) -> Any:
    if not cloud_env:
        return client_of(service)
    return client_of(
        service,
        endpoint_url=cloud_env["AWS_ENDPOINT_URL"],
        region_name=cloud_env["AWS_REGION"],
        aws_access_key_id=cloud_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=cloud_env["AWS_SECRET_ACCESS_KEY"],
    )


def client_of(service: str, session: boto3.session.Session | None = None, **options: Any) -> Any:
    """A client of a service named at run time, made by `session` (boto3's default one if None):
    boto3's stubs type a client only for a literal service name."""
    make: Callable[..., Any] = session.client if session else boto3.client
    return make(service, **options)
