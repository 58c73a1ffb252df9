"""`sls deploy` and `sls package` without AWS credentials say so in one line (plugins/aws-credentials.js),
rather than one error per `${aws:accountId}` in serverless.yml (fourteen of them). Nothing here reaches a
network: with no credentials the SDK never sends a request, and instance metadata is off."""

from __future__ import annotations

import os
import subprocess

import pytest

from localcloud.tools.deploy import PROJECT, cli_environment


@pytest.mark.parametrize("command", ["deploy", "package"])
def test_no_credentials_is_one_line(command, tmp_path):
    shell = {k: v for k, v in cli_environment({}).items() if not k.startswith("AWS_")}
    shell |= {
        "HOME": str(tmp_path),  # no ~/.aws
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    shell.pop("AWS_PROFILE", None)
    done = subprocess.run(
        ["node_modules/.bin/sls", command, "--stage", "dev", "--package", str(tmp_path / "build")],
        cwd=PROJECT, env=shell, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0
    said = f"sls {command}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID; docs/deploying.md)"
    assert lines == [said]
    assert len(lines[0]) <= 100
    assert not os.path.exists(tmp_path / "build")
