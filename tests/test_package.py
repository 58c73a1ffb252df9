"""`sls package --stage dev` works here with no AWS credentials, and the template holds the
whole workflow."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_packaging_the_dev_stage_needs_no_aws_account(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no credentials, no endpoint
    result = subprocess.run(
        [sys.executable, "-m", "localcloud", "package", "--stage", "dev", "--out", str(tmp_path)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the artifacts name the local cloud's account: say so, and how to package for a real one
    assert "placeholder account 123456789012" in result.stdout
    assert "npx sls package --stage dev" in result.stdout
    template = json.loads((tmp_path / "cloudformation-template-update-stack.json").read_text())
    resources = template["Resources"]
    body = json.loads(resources["ImageWorkflow"]["Properties"]["DefinitionString"]["Fn::Sub"][0])
    assert {"GetFileType", "ProcessFile", "WriteToDynamoDb", "DeleteSourceFile", "NotifyRejected"} <= set(
        body["States"]
    )
    assert resources["ImageWorkflow"]["Properties"]["StateMachineName"] == "image-converter-dev-image-workflow"
    assert sum(r["Type"] == "AWS::Lambda::Function" for r in resources.values()) == 10
    with zipfile.ZipFile(tmp_path / "image-converter.zip") as code:
        names = code.namelist()
    assert "handlers/resize_image.py" in names and not any(n.startswith(("tests/", "localcloud/")) for n in names)
    assert (tmp_path / "pythonRequirements.zip").stat().st_size > 1_000_000


def test_each_stage_packages_into_its_own_folder(stack):
    """The session deployed stage `test` into build/test; packaging `dev` (default folder)
    must leave it as it was."""
    deployed = stack.package_dir / "cloudformation-template-update-stack.json"
    before = deployed.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [sys.executable, "-m", "localcloud", "package", "--stage", "dev"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack.package_dir == PROJECT / "build" / "test"
    assert deployed.read_bytes() == before
    dev = (PROJECT / "build" / "dev" / "cloudformation-template-update-stack.json").read_text()
    assert "image-converter-dev-image-workflow" in dev and "image-converter-test-" not in dev
