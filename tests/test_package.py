"""`sls package --stage dev` works here with no AWS credentials, into its own folder, and the
template holds the whole workflow."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from localcloud.tools.deploy import deploy
from tests import serverless_yml
from tests.conftest import ARTIFACTS
from tests.workflow_states import every_state

PROJECT = Path(__file__).resolve().parent.parent


def package_without_aws(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no credentials, no endpoint
    command = [sys.executable, "-m", "localcloud", "package", *args]
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_packaging_the_dev_stage_needs_no_aws_account_and_leaves_other_stages_alone(stack):
    """The session deployed stage `test` into build/test; packaging `dev` into its default
    folder must leave it as it was."""
    deployed = stack.package_dir / "cloudformation-template-update-stack.json"
    before = deployed.read_bytes()
    result = package_without_aws("--stage", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    # the artifacts name the local cloud's account: say so, and how to package for a real one
    assert "placeholder account 123456789012" in result.stdout
    assert "npx sls package --stage dev" in result.stdout
    assert stack.package_dir == PROJECT / "build" / "test"
    assert deployed.read_bytes() == before
    folder = PROJECT / "build" / "dev"
    template = json.loads((folder / "cloudformation-template-update-stack.json").read_text())
    assert "image-converter-test-" not in json.dumps(template)
    resources = template["Resources"]
    body = json.loads(resources["ImageWorkflow"]["Properties"]["DefinitionString"]["Fn::Sub"][0])
    assert set(every_state(body["States"])) == set(every_state(serverless_yml.definition()["States"]))
    assert resources["ImageWorkflow"]["Properties"]["StateMachineName"] == "image-converter-dev-image-workflow"
    functions = {
        serverless_yml.function_name(r, "image-converter-dev")
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert functions == set(serverless_yml.functions())
    assert {"BackfillWorkflow", "WorkflowExecutionsFailedAlarm"} <= set(resources)
    with zipfile.ZipFile(folder / "image-converter.zip") as code:
        names = code.namelist()
    assert "handlers/resize_image.py" in names and not any(n.startswith(("tests/", "localcloud/")) for n in names)
    assert (folder / "pythonRequirements.zip").stat().st_size > 1_000_000


def test_a_second_deploy_reuses_the_built_layer_and_runs_no_pip(cloud, stack):
    """The session built the layer deploying stage `test`; deploying the project again (as
    another stage, so the session's stack stays as the other tests expect it) with pip unable
    to install anything (no package index) works, and ships the same layer: nothing was built
    again."""
    environment = cloud.client_environment() | {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""}
    again = deploy(environment, "reuse", log=ARTIFACTS / "deploy-reuse.log")
    assert again.outputs["ImageWorkflowArn"].endswith("image-converter-reuse-image-workflow")
    layer = "pythonRequirements.zip"
    assert (again.package_dir / layer).read_bytes() == (stack.package_dir / layer).read_bytes()


def test_a_changed_pip_flag_builds_the_layer_anew(tmp_path):
    """The layer's cache key covers the runtime, the architecture and pip's flags, not only
    the requirements file (serverless-python-requirements alone keys on those two)."""
    script = (
        "const P = require('./plugins/python-packages.js');"
        "const sls = (args, runtime) => ({service: {provider: {runtime, architecture: 'arm64'},"
        " custom: {pythonRequirements: {fileName: 'layers/pillow/requirements.txt', pipCmdExtraArgs: args}}},"
        " serviceDir: process.cwd(), classes: {}});"
        "const key = (args, runtime) => new P(sls(args, runtime)).buildKey(null);"
        "console.log(JSON.stringify([key(['--python-version=3.12'], 'python3.12'),"
        " key(['--python-version=3.13'], 'python3.12'), key(['--python-version=3.12'], 'python3.13'),"
        " key(['--python-version=3.12'], 'python3.12')]))"
    )
    node = PROJECT / "node_modules" / ".bin" / "node"
    result = subprocess.run([str(node), "-e", script], cwd=PROJECT, capture_output=True, text=True, check=True)
    same, other_flag, other_runtime, again = json.loads(result.stdout)
    assert same == again and len({same, other_flag, other_runtime}) == 3
