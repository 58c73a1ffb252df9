"""One local cloud for the whole session, with the project deployed into it by `sls deploy`.
Handler tests call the handlers in-process against the same emulated services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.deploy import Stack, deploy
from localcloud.pipeline import Pipeline

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloud]:
    # Schedules fire only when a test fires them (localcloud/scheduler.py), never mid-test.
    with LocalCloud(retry_scale=0, fire_schedules=False) as local:
        saved = dict(os.environ)
        os.environ.update(local.client_environment())
        yield local
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def stack(cloud: LocalCloud) -> Stack:
    ARTIFACTS.mkdir(exist_ok=True)
    return deploy(cloud.client_environment(), "test", log=ARTIFACTS / "deploy.log")


@pytest.fixture(scope="session")
def pipeline(cloud: LocalCloud, stack: Stack) -> Pipeline:
    return Pipeline(cloud.client_environment(), stack.outputs)


@pytest.fixture(scope="session")
def s3(cloud: LocalCloud) -> Any:
    return boto3.client("s3")


@pytest.fixture(scope="session")
def function_env(stack: Stack) -> Any:
    """The environment a deployed function really gets, read from its configuration."""
    client = boto3.client("lambda")

    def env(function: str) -> dict[str, str]:
        name = f"{stack.name}-{function}"
        return client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]

    return env


@pytest.fixture
def as_function(monkeypatch: pytest.MonkeyPatch, function_env: Any) -> Any:
    """Sets the process environment to a deployed function's, for calling its handler."""

    def use(function: str) -> dict[str, str]:
        variables = function_env(function)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return variables

    return use


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


class FakeContext:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 30000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that judge what the whole session did (RUN_LAST in their module: the
    unused-permission report) run after every other test."""
    items.sort(key=lambda item: bool(getattr(getattr(item, "module", None), "RUN_LAST", False)))
