"""`python -m ops verify` against a stage of its own (`vbroken`) in the session's local cloud, run
as a process with only the endpoint and the credentials of a role that has exactly the
documented policy (ops/verify-policy.json): it passes on a working stage, names the cause on a
broken one (no S3 trigger; a function's role without a permission, IAM enforced), leaves
nothing behind (also when interrupted), keeps the evidence with --keep and removes it with
--clean. That the policy is enough is shown by every run; that it is no more than needed by
the last test (every permission it grants was used).

The same command against a local cloud started as a separate process (`make up`) is in
tests/test_readme.py."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image, ImageOps

from handlers.core import uniqueness
from localcloud.tools.deploy import deploy
from ops import verify
from tests.leftovers import all_ok_line, check_line, leftovers, run_of
from tests.photo_checks import declared, output_folders
from tests.test_iam_enforcement import policy_edited, without

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / "artifacts"
STAGE = "vbroken"
VERIFIER = "image-converter-verifier"
runs: set[str] = set()  # which kinds of run this module made (the least-privilege test needs all)


# -- without a cloud: what the checks judge ------------------------------------------------------
def upright_of(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as photo:
        return ImageOps.exif_transpose(photo).convert("RGB")


def encoded(picture: Image.Image, format_: str) -> bytes:
    out = io.BytesIO()
    picture.save(out, format_)
    return out.getvalue()


def test_each_run_uploads_bytes_of_its_own_and_a_sideways_photo_reads_upright():
    samples = {sample.file: sample for sample in verify.SAMPLE_PHOTOS}
    first = verify.unique_bytes(samples["chelsea.jpg"], "verify-20260101-aaaaaa")
    second = verify.unique_bytes(samples["chelsea.jpg"], "verify-20260101-bbbbbb")
    assert first != second and upright_of(first).size == upright_of(second).size == (451, 300)
    sideways = verify.unique_bytes(samples["coffee.jpg"], "verify-20260101-aaaaaa")
    with Image.open(io.BytesIO(sideways)) as stored:
        assert stored.size == (400, 600) and stored.getexif()[0x0112] == 6
    with Image.open(verify.SAMPLES / "coffee.jpg") as original:
        assert verify._difference(upright_of(sideways), original.convert("RGB")) < 3


def test_outputs_that_are_not_upright_or_not_pictures_are_named():
    upright = upright_of(verify.unique_bytes(verify.SAMPLE_PHOTOS[1], "verify-20260101-aaaaaa"))
    assert verify.picture_problem(encoded(upright, "PNG"), "PNG", upright, exact_size=True) is None
    sideways = encoded(upright.transpose(Image.Transpose.ROTATE_90), "PNG")
    assert "is 400x600: the photo upright is 600x400" in verify.picture_problem(sideways, "PNG", upright, True)
    upside_down = encoded(upright.transpose(Image.Transpose.ROTATE_180), "PNG")
    assert "turned or mirrored" in verify.picture_problem(upside_down, "PNG", upright, True)
    mirrored = encoded(upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((256, 171)), "JPEG")
    assert "turned or mirrored" in verify.picture_problem(mirrored, "JPEG", upright, False)
    assert verify.picture_problem(encoded(upright.resize((256, 171)), "JPEG"), "JPEG", upright, False) is None
    assert "is JPEG, not PNG" in verify.picture_problem(encoded(upright, "JPEG"), "PNG", upright, True)
    assert "does not decode" in verify.picture_problem(b"\x89PNG\r\n\x1a\n broken", "PNG", upright, True)


# -- against a deployed stage -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def stage(cloud):
    ARTIFACTS.mkdir(exist_ok=True)
    return deploy(cloud.client_environment(), STAGE, log=ARTIFACTS / f"deploy-{STAGE}.log")


@pytest.fixture(scope="module")
def as_verifier(cloud, stage) -> dict[str, str]:
    """A shell with the endpoint and the credentials of a role that has only the documented policy."""
    iam = boto3.client("iam")
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=VERIFIER, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    policy = (PROJECT / verify.POLICY).read_text()
    iam.put_role_policy(RoleName=VERIFIER, PolicyName="verify", PolicyDocument=policy)
    credentials = boto3.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="operator")["Credentials"]
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    endpoint = cloud.client_environment()
    return shell | {
        "AWS_ENDPOINT_URL": endpoint["AWS_ENDPOINT_URL"],
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


def verify_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "ops", "verify", "--stage", STAGE, *options]


def run_verify(shell: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(verify_command(*options), cwd=PROJECT, env=shell, capture_output=True, text=True, timeout=600)
    assert all(len(line) <= 100 for line in done.stdout.splitlines()), max(done.stdout.splitlines(), key=len)
    return done


def nothing_left(stage, output: str) -> list[str]:
    run_id, sub = run_of(output)
    return leftovers(boto3.client, stage.outputs, run_id, sub)


def test_a_working_stage_passes_keep_keeps_the_evidence_and_clean_removes_it(stage, as_verifier):
    done = run_verify(as_verifier, "--keep")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    assert all_ok_line() in done.stdout
    for check in verify.CHECKS:
        assert f"{check_line(check.name)}: " in done.stdout
    run_id, sub = run_of(done.stdout)
    kept = nothing_left(stage, done.stdout)
    assert not [k for k in kept if k.startswith(("queue", "subscription"))]  # instruments always go
    assert f"user {run_id}" in kept and any(k.startswith("photos item") for k in kept)
    # The temporary user's photo was erased through the photos API (check 9): nothing of it is kept.
    assert not any(f"/{sub}/" in k and "/uploads/" not in k for k in kept) and any(f"/png/{run_id}/" in k for k in kept)
    for rendition in declared(stage.outputs):  # each declared rendition checked, then kept
        assert any(f"/{rendition.prefix}{run_id}/" in k for k in kept), (rendition, kept)
    assert f"--clean {run_id}" in done.stdout
    cleaned = run_verify(as_verifier, "--clean", run_id)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    objects = 2 * len(output_folders(stage.outputs))  # two photos, each with every output
    checker = boto3.client("lambda").get_function_configuration(FunctionName=f"{stage.name}-checkDuplicate")
    distance = int(checker["Environment"]["Variables"]["NEAR_DUPLICATE_DISTANCE"])
    entries = 2 * len(uniqueness.band_widths(distance))  # each photo's band entries (the user's own scope)
    removed = f"removed {objects} objects, {entries} uniqueness index entries, 2 photos items, 1 quota counter, 1 user."
    assert removed in " ".join(cleaned.stdout.split())
    assert nothing_left(stage, done.stdout) == []
    again = run_verify(as_verifier, "--clean", run_id)  # a typo, or another stage: said, and not 0
    assert again.returncode == 1 and f"no trace of {run_id} on stage" in again.stdout, again.stdout
    runs.add("pass")


def stopped_at(check: str, shell: dict[str, str], stop: Callable[[subprocess.Popen[str]], None]):
    """A verify run started as from a terminal, stopped by `stop` once it announces `check`:
    the process and what it printed until then."""
    process = subprocess.Popen(
        verify_command(),
        cwd=PROJECT,
        env=shell,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C as at a terminal: a suite started in the background of a script inherits SIGINT
        # ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(check_line(check)):
            stop(process)
            break
    return process, "".join(seen)


def test_an_interrupted_run_waits_for_its_executions_and_leaves_nothing(stage, as_verifier):
    # stopped while the photos are being processed
    process, seen = stopped_at("processed", as_verifier, lambda p: p.send_signal(signal.SIGINT))
    output = seen + process.communicate(timeout=300)[0]
    assert process.returncode == 130, output[-4000:]
    assert "interrupted: cleaning up" in output and "interrupted." in output
    assert nothing_left(stage, output) == []
    runs.add("interrupted")


def says(output: str, *texts: str) -> bool:
    """Whether the output says each text, however its lines were wrapped (long ARNs break)."""
    squeezed = "".join(output.split())
    return all("".join(text.split()) in squeezed for text in texts)


def test_clean_removes_what_a_killed_run_left(stage, as_verifier):
    # killed while photos are being processed: it has a user, a queue and a subscription
    process, output = stopped_at("processed", as_verifier, lambda p: p.kill())
    process.wait(timeout=30)
    run_id, _ = run_of(output)
    left = nothing_left(stage, output)
    assert any(k.startswith("queue") for k in left) and any(k.startswith("subscription") for k in left), left
    assert f"user {run_id}" in left
    cleaned = run_verify(as_verifier, "--clean", run_id)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert says(cleaned.stdout, "1 subscription, 1 queue", "1 quota counter, 1 user.")
    assert nothing_left(stage, output) == []
    runs.add("killed")


def test_a_stage_without_its_s3_trigger_is_named(stage, as_verifier):
    s3, bucket = boto3.client("s3"), stage.outputs["UploadBucketName"]
    deployed = s3.get_bucket_notification_configuration(Bucket=bucket)
    deployed.pop("ResponseMetadata")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        done = run_verify(as_verifier)
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=deployed)
    assert done.returncode == 1, done.stdout[-4000:]
    assert says(done.stdout, "FAILED uploads", "no execution started for"), done.stdout[-4000:]
    assert says(
        done.stdout,
        f"the S3 trigger is missing: bucket {bucket} notifies no function of new objects under uploads/",
        f"(the s3:ObjectCreated:* event of {stage.name}-startWorkflow); redeploy the stage",
        "the stage does NOT work.",
    ), done.stdout[-4000:]
    assert nothing_left(stage, done.stdout) == []
    runs.add("no trigger")


def test_a_function_role_without_a_permission_is_named(stage, as_verifier):
    resources = boto3.client("cloudformation").describe_stack_resources(StackName=stage.name)["StackResources"]
    logical = "WriteToDynamoDBIamRoleLambdaExecution"
    role = next(r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId") == logical)
    with policy_edited(role, without("dynamodb:PutItem")):
        done = run_verify(as_verifier)
    assert done.returncode == 1, done.stdout[-4000:]
    function = f"{stage.name}-writeToDynamoDB"
    photos = ", ".join(
        f"{run_of(done.stdout)[0][-6:]}-{name}" for name in ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")
    )
    assert says(
        done.stdout,
        f"FAILED processed {photos}: execution FAILED: state WriteToDynamoDb (function {function}) failed with",
        "ClientError: An error occurred (AccessDeniedException) when calling the TransactWriteItems operation:",
        f"assumed-role/{role}/{function} is not authorized to perform: dynamodb:PutItem",
        f"- the role {role} lacks dynamodb:PutItem",
        "skipped duplicate needs",  # nothing recorded: nothing to be a duplicate of
    ), done.stdout[-4000:]
    assert nothing_left(stage, done.stdout) == []
    runs.add("denied")


def test_the_policy_keeps_the_verifier_out_of_users_data(stage, as_verifier):
    """What the verifier may not do, each refused as the service refuses it."""

    def client(service: str):
        keys = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
        endpoint, region, key, secret, token = (as_verifier[name] for name in keys)
        return boto3.client(
            service, endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
            aws_secret_access_key=secret, aws_session_token=token,
        )  # fmt: skip

    def refused(call) -> str:
        with pytest.raises(ClientError) as caught:
            call()
        return f"{caught.value.response['Error']['Code']}: {caught.value.response['Error'].get('Message', '')}"

    bucket = stage.outputs["UploadBucketName"]
    denied = refused(lambda: client("s3").put_object(Bucket=bucket, Key="uploads/alice/planted.jpg", Body=b"x"))
    assert denied.startswith("AccessDenied")
    assert f'perform: s3:PutObject on resource: "arn:aws:s3:::{bucket}/uploads/alice/planted.jpg"' in denied
    table = stage.outputs["PhotosTableName"]
    denied = refused(lambda: client("dynamodb").scan(TableName=table))
    assert "AccessDeniedException" in denied and "dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:" in denied
    denied = refused(lambda: client("sqs").create_queue(QueueName="someone-elses-queue"))
    assert "not authorized to perform: sqs:CreateQueue" in denied
    denied = refused(lambda: client("cloudformation").describe_stacks(StackName="another-service-dev"))
    assert "not authorized to perform: cloudformation:DescribeStacks" in denied


def test_the_documented_policy_grants_nothing_the_runs_did_not_use(cloud):
    missing = {"pass", "interrupted", "killed", "no trigger", "denied"} - runs
    if missing:
        pytest.skip(f"needs this module's other runs: {', '.join(sorted(missing))}")
    used = {(grant.action, grant.resource) for grant in cloud.iam.used_by_sessions if grant.role == VERIFIER}
    granted = set()
    for statement in json.loads((PROJECT / verify.POLICY).read_text())["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        granted |= {(action, resource) for action in actions for resource in resources}
    assert sorted(granted - used) == []
