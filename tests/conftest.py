"""One local cloud for the whole session, with the project deployed into it by `sls deploy`.
Handler tests call the handlers in-process against the same emulated services.

`pytest -m e2e --stage dev` runs the end-to-end tests marked `e2e` against a deployed stage
instead (public APIs only: its stack's outputs, the default AWS credentials, and a local cloud
only if AWS_ENDPOINT_URL points at one); every other test is skipped there as local-only."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localcloud.cloud import LocalCloud
from localcloud.tools.deploy import Stack, deploy
from localcloud.tools.pipeline import Pipeline
from ops.stage import Stage

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def deployed_stage(config: pytest.Config) -> str | None:
    """The stage given with --stage: the e2e tests then run against it."""
    return config.getoption("--stage")


@pytest.fixture(scope="session")
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    if deployed_stage(request.config):
        pytest.skip("local-only: it needs the local cloud itself")
    # Schedules fire only when a test fires them (localcloud/services/events/scheduler.py), never mid-test.
    with LocalCloud(retry_scale=0, fire_schedules=False) as local:
        saved = dict(os.environ)
        os.environ.update(local.client_environment())
        yield local
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Stack:
    stage = deployed_stage(request.config)
    if stage:  # deployed already: its outputs, read from CloudFormation
        deployed = Stage(stage)
        return Stack(deployed.stack_name, deployed.outputs, 0.0, ARTIFACTS.parent / "build" / stage)
    cloud = request.getfixturevalue("cloud")
    ARTIFACTS.mkdir(exist_ok=True)
    return deploy(cloud.client_environment(), "test", log=ARTIFACTS / "deploy.log")


@pytest.fixture(scope="session")
def pipeline(request: pytest.FixtureRequest, stack: Stack) -> Pipeline:
    if deployed_stage(request.config):
        return Pipeline({}, stack.outputs)  # the default credential chain
    return Pipeline(request.getfixturevalue("cloud").client_environment(), stack.outputs)


@pytest.fixture(scope="session")
def s3(request: pytest.FixtureRequest) -> Any:
    if not deployed_stage(request.config):
        request.getfixturevalue("cloud")  # its endpoint in the environment
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that judge what the whole session did (RUN_LAST in their module: the
    unused-permission report) run after every other test."""
    items.sort(key=lambda item: bool(getattr(getattr(item, "module", None), "RUN_LAST", False)))
    # The arm64 parity check takes minutes under emulation: only when selected (`make parity`).
    if "parity" not in (config.getoption("markexpr") or ""):
        slow = pytest.mark.skip(reason="arm64 under emulation: `make parity` runs it")
        for item in items:
            if "parity" in item.keywords:
                item.add_marker(slow)
    if deployed_stage(config):
        local_only = pytest.mark.skip(reason="local-only: not marked e2e (it uses the local cloud's internals)")
        for item in items:
            if "e2e" not in item.keywords:
                item.add_marker(local_only)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stage",
        metavar="STAGE",
        help="run the tests marked e2e against this deployed stage (skip the others)",
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's clouds are stopped; what the process still holds (moto's in-memory state of
    every stage, the workers' logs) is freed by exiting. Frozen, it is left out of the interpreter's
    last garbage collection, which otherwise walks all of it for minutes after the summary."""
    gc.freeze()
