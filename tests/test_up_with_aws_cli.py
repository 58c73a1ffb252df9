"""`python -m localcloud up` keeps the cloud running for any client: the AWS CLI uploads a
photo and reads the execution back, as a user would from another shell."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def running_cloud(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("up") / "up.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "up", "--port", str(port), "--stage", "cli"],
            cwd=PROJECT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while "Ctrl-C stops it" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield port, log.read_text()
        process.terminate()
        process.wait(timeout=30)


def aws(port: int, *args: str) -> str:
    cli = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
    env = os.environ | {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "localcloud",
        "AWS_SECRET_ACCESS_KEY": "localcloud",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_aws_cli_drives_the_pipeline(running_cloud):
    port, banner = running_cloud
    assert f"http://127.0.0.1:{port}" in banner
    outputs = json.loads(aws(port, "cloudformation", "describe-stacks", "--stack-name", "image-converter-cli"))
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs["Stacks"][0]["Outputs"]}
    bucket, machine = values["UploadBucketName"], values["ImageWorkflowArn"]
    aws(port, "s3", "cp", str(PROJECT / "samples" / "rocket.jpg"), f"s3://{bucket}/uploads/cli-user/my rocket.jpg")
    deadline = time.monotonic() + 60
    while True:
        executions = json.loads(aws(port, "stepfunctions", "list-executions", "--state-machine-arn", machine))
        finished = [e for e in executions["executions"] if e["status"] != "RUNNING"]
        if finished or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [e["status"] for e in finished] == ["SUCCEEDED"]
    history = json.loads(
        aws(port, "stepfunctions", "get-execution-history", "--execution-arn", finished[0]["executionArn"])
    )
    entered = [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]
    assert "WriteToDynamoDb" in entered and entered[-1] == "DeleteSourceFile"
    listing = aws(port, "s3", "ls", f"s3://{values['DestinationBucketName']}/png/cli-user/")
    assert "my rocket-" in listing and ".png" in listing
