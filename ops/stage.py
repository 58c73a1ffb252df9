"""A deployed stage as an operator sees it: its CloudFormation stack and the stack's outputs,
AWS clients in its region (the default credential chain; `AWS_ENDPOINT_URL`, when set,
points every client at a local cloud instead of AWS) and its REST API."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    # boto3's type stubs (requirements-dev.txt), for the type checker only.
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

PROJECT = Path(__file__).resolve().parent.parent


class StageNotFound(SystemExit):
    """The stage's stack cannot be read: not deployed, another region, or no permission."""


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: bytes
    headers: dict[str, str]


def service_name() -> str:
    with (PROJECT / "serverless.yml").open() as stream:
        name: str = yaml.safe_load(stream)["service"]
    return name


@dataclass
class Stage:
    name: str
    region: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def stack_name(self) -> str:
        return f"{service_name()}-{self.name}"

    # One overload per service used: each call site gets that service's typed client.
    @overload
    def client(self, service: Literal["cloudformation"]) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["cognito-idp"]) -> CognitoIdentityProviderClient: ...
    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: Literal["stepfunctions"]) -> SFNClient: ...
    def client(
        self, service: Literal["cloudformation", "cognito-idp", "dynamodb", "s3", "sns", "sqs", "stepfunctions"]
    ) -> Any:
        """One client per service, in the stage's region (the default region when unset)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    @cached_property
    def outputs(self) -> dict[str, str]:
        """The stack's outputs (`UploadBucketName`, `ImageWorkflowArn`, ...)."""
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
        except (ClientError, BotoCoreError) as error:
            raise StageNotFound(f"cannot read stack {self.stack_name}: {error}") from None
        return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise StageNotFound(
                f"stack {self.stack_name} has no output {name}: is it deployed from this project?"
            ) from None

    def call_api(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, timeout: float = 60
    ) -> ApiAnswer:
        """A request to the stage's REST API at its execute-api URL (the `ServiceEndpoint`
        output, e.g. `path="/upload"`). With `AWS_ENDPOINT_URL` set, the very same request
        (path, `Host` header) goes to that address instead, as `curl --connect-to` sends it:
        the local cloud routes it by its host name, as API Gateway does."""
        url = urlsplit(self.output("ServiceEndpoint").rstrip("/") + path)
        headers = dict(headers or {})
        target = url.geturl()
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            headers["Host"] = url.netloc
            target = endpoint.rstrip("/") + url.path + (f"?{url.query}" if url.query else "")
        request = urllib.request.Request(target, data=body or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return ApiAnswer(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as error:
            return ApiAnswer(error.code, error.read(), dict(error.headers))


def aws_error(error: Exception) -> str:
    """What an AWS call's failure says, for an operator: the operation, AWS's error code and
    message (an AccessDenied message names the principal, the action and the resource)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = details.get("Message") or ""
        return f"{error.operation_name} got {code}" + (f": {message}" if message else "")
    return str(error)
