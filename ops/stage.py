"""A deployed stage as an operator sees it: its CloudFormation stack and the stack's outputs,
and AWS clients in its region (the default credential chain; `AWS_ENDPOINT_URL`, when set,
points every client at a local cloud instead of AWS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError

PROJECT = Path(__file__).resolve().parent.parent


class StageNotFound(SystemExit):
    """The stage's stack cannot be read: not deployed, another region, or no permission."""


def service_name() -> str:
    with (PROJECT / "serverless.yml").open() as stream:
        return yaml.safe_load(stream)["service"]


@dataclass
class Stage:
    name: str
    region: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def stack_name(self) -> str:
        return f"{service_name()}-{self.name}"

    def client(self, service: str) -> Any:
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
