"""Deploys the project into the local cloud with the real Serverless CLI (`sls deploy`),
so the stack is built from the same template, function package and layer as on AWS."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from localcloud import PROJECT
from localcloud.clients import aws_client
from localcloud.services.awslambda.interpreter import machine_architecture


@dataclass(frozen=True)
class Stack:
    name: str
    outputs: dict[str, str]
    seconds: float
    package_dir: Path


def service_name() -> str:
    with (PROJECT / "serverless.yml").open() as stream:
        name: str = yaml.safe_load(stream)["service"]
    return name


def serverless_command() -> list[str]:
    local = PROJECT / "node_modules" / ".bin" / "sls"
    if not local.exists():
        raise SystemExit("the Serverless CLI is not installed: run `make setup` (npm ci) first")
    return [str(local)]


def cli_environment(cloud_env: dict[str, str]) -> dict[str, str]:
    """The Serverless CLI's environment: the cloud's endpoint, the pinned Node.js and this
    interpreter first on PATH."""
    env = dict(os.environ)
    env.update(cloud_env)
    # The Node.js that package.json pins (node_modules/.bin/node) runs the CLI, whatever the
    # machine's own Node is; this interpreter's bin folder provides the pip the layer build runs.
    bins = (PROJECT / "node_modules" / ".bin", Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([*map(str, bins), env.get("PATH", "")])
    env.update({"SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "NODE_NO_WARNINGS": "1"})
    # The Framework checks a stack's progress every 5 s; the local cloud's CloudFormation is done
    # by the time it first asks, so that wait was most of a deploy here.
    env.setdefault("SLS_AWS_MONITORING_FREQUENCY", "200")
    return env


def _serverless(cloud_env: dict[str, str], *arguments: str, log: Path | None = None) -> None:
    command = [*serverless_command(), *arguments]
    result = subprocess.run(command, cwd=PROJECT, env=cli_environment(cloud_env), capture_output=True, text=True)
    if log:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"`sls {' '.join(arguments)}` failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def package(cloud_env: dict[str, str], stage: str, folder: Path) -> Path:
    """`sls package`: it asks AWS for the account id and (because of the layer) for the
    deployed stack, so it runs against the local cloud; no AWS credentials are involved."""
    _serverless(cloud_env, "package", "--stage", stage, "--package", str(folder))
    return folder


def stage_folder(stage: str) -> Path:
    """Where a stage's artifacts go: one folder per stage, so packaging or deploying one
    stage never overwrites another's. (`sls` itself builds in `.serverless/` and moves the
    artifacts here: this cannot be inside it.)"""
    return PROJECT / "build" / stage


def deploy(
    cloud_env: dict[str, str], stage: str = "local", log: Path | None = None, package_dir: Path | None = None
) -> Stack:
    """`sls package` into the stage's folder (or `package_dir`), then `sls deploy` from it,
    so the artifacts stay put whatever else runs `sls` in the project meanwhile."""
    started = time.perf_counter()
    # Whatever the stage, the local cloud gets a build for this machine's CPU, which it runs
    # natively (serverless.yml: provider.architecture); `package` alone builds for AWS.
    cloud_env = {"LAMBDA_ARCHITECTURE": machine_architecture()} | cloud_env
    folder = package_dir or stage_folder(stage)
    package(cloud_env, stage, folder)
    _serverless(cloud_env, "deploy", "--stage", stage, "--package", str(folder), log=log)
    # The layer's unzipped requirements (~50 MB), serverless-python-requirements' working copy:
    # the layer's zip beside it is the artifact, and a folder per stage filled CI's disk.
    shutil.rmtree(folder / "requirements", ignore_errors=True)
    name = f"{service_name()}-{stage}"
    return Stack(name, stack_outputs(cloud_env, name), time.perf_counter() - started, folder)


def stack_outputs(cloud_env: dict[str, str], stack_name: str) -> dict[str, str]:
    stack = aws_client(cloud_env, "cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
