"""What serverless.yml declares, read from it, for tests to compare the packaged template and
the deployed stage with: its functions (with their layers and handlers) and its state
machines' definitions. Tests take names and counts from here rather than typing them, so
that a function or a Task added to serverless.yml changes only the tests that check it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SERVERLESS_YML = Path(__file__).resolve().parent.parent / "serverless.yml"


@cache
def serverless() -> dict[str, Any]:
    with SERVERLESS_YML.open() as stream:
        return yaml.safe_load(stream)


def setting_default(name: str) -> str:
    """The default serverless.yml gives a setting (`${env:NAME, 'default'}`)."""
    [default] = set(re.findall(rf"\$\{{env:{name}, '([^']*)'\}}", SERVERLESS_YML.read_text()))
    return default


def functions() -> dict[str, dict[str, Any]]:
    """Every function, by its name in serverless.yml (`getFileType`), with its settings."""
    return serverless()["functions"]


def functions_with_layer(layer_ref: str) -> set[str]:
    """The functions serverless.yml attaches the layer `{Ref: layer_ref}` to."""
    return {name for name, function in functions().items() if {"Ref": layer_ref} in function.get("layers", [])}


def handlers() -> set[str]:
    """The handlers the functions run (`handlers/upload.handler`): some functions share one."""
    return {function["handler"] for function in functions().values()}


def function_name(function_resource: dict[str, Any], stack_name: str) -> str:
    """A packaged function's name in serverless.yml (`getFileType` of `<stack>-getFileType`)."""
    deployed = function_resource["Properties"]["FunctionName"]
    assert deployed.startswith(f"{stack_name}-"), deployed
    return deployed.removeprefix(f"{stack_name}-")


def definition(state_machine: str = "imageWorkflow") -> dict[str, Any]:
    """A state machine's definition as serverless.yml writes it (a Task's `Resource` is
    `{Fn::GetAtt: [function, Arn]}`, a retry policy `${self:custom.retry.task}`)."""
    return serverless()["stepFunctions"]["stateMachines"][state_machine]["definition"]


def task_retry() -> list[dict[str, Any]]:
    """The retry policy every Task of the image workflow shares (custom.retry.task)."""
    return serverless()["custom"]["retry"]["task"]
