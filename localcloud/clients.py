"""AWS clients bound to a local cloud, from the environment LocalCloud.client_environment()
describes (the same variables a user exports to point the AWS CLI at it); an empty one means
the default credential chain and endpoints (a deployed stage: `pytest -m e2e --stage dev`)."""

from __future__ import annotations

from typing import Any

import boto3


def aws_client(cloud_env: dict[str, str], service: str) -> Any:
    if not cloud_env:
        return boto3.client(service)
    return boto3.client(
        service,
        endpoint_url=cloud_env["AWS_ENDPOINT_URL"],
        region_name=cloud_env["AWS_REGION"],
        aws_access_key_id=cloud_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=cloud_env["AWS_SECRET_ACCESS_KEY"],
    )
