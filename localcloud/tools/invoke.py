"""`python -m localcloud invoke FUNCTION PHOTO`: one function of your working tree, run by
`sls invoke local` against the running local cloud, on a real photo, with the event the
function gets in the workflow.

Two things make the hand-written way (`sls invoke local -p events/...`) fail locally:
- a photo uploaded to the stage's upload bucket is taken by the workflow and deleted before
  the function runs, so the photo is staged in a bucket of its own, with no trigger;
- most functions read what earlier steps found (file type, content hash, outputs), so the
  steps before the function run first and their results go into the event at the ResultPath
  each Task has in serverless.yml. They run as `sls invoke local` runs the function itself:
  the working tree's code with the deployed function's settings and your own credentials
  (the deployed functions, which the local cloud runs as their roles, may not read the
  staging bucket).
The event is saved under `.localcloud/events/`, to re-run or edit.

What the functions write (the original copy, PNG and thumbnail; `upload`'s stored photo) goes
to that same scratch bucket, never to the stage's own buckets: DESTINATION_BUCKET (and for
`upload` UPLOAD_BUCKET) is set to it for the steps run first and for `sls invoke local`
(`--env`). The bucket is emptied at the start of each `invoke`, and the command lists what this
run wrote, so the user can look at it before the next one; writeToDynamoDB's item is the one
thing written to the stage's own table (for the `--user` given), and the command says so.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import yaml

from localcloud import PROJECT
from localcloud.clients import aws_client
from localcloud.services.awslambda.runtime import Worker

from .deploy import cli_environment, serverless_command

EVENTS = PROJECT / ".localcloud" / "events"
# Where functions write (handlers/core/config.py): set to the scratch bucket. `upload` stores
# there too (in the upload bucket its photo would start the stage's workflow).
SCRATCH_SETTINGS = {"DESTINATION_BUCKET": None, "UPLOAD_BUCKET": ("upload",)}  # None: every function


def scratch_settings(stack_name: str, function: str) -> dict[str, str]:
    return {name: staging_bucket(stack_name) for name, only in SCRATCH_SETTINGS.items() if not only or function in only}


# The workflow's Tasks in order, with where each one's result lands in the state
# (serverless.yml: GetFileType -> $.results.fileType, ..., ProcessFile -> $.results.outputs).
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("getFileType", ("fileType",)),
    ("checkDuplicate", ("uniqueness",)),
    ("copyFile", ("outputs", "original")),
    ("resizeImage", ("outputs", "png")),
    ("makeThumbnail", ("outputs", "thumbnail")),
)
# What each function needs before it runs: the steps whose results its event must carry.
NEEDS: dict[str, int] = {
    "getFileType": 0,
    "deleteFile": 0,
    "checkDuplicate": 1,
    "copyFile": 2,
    "resizeImage": 2,
    "makeThumbnail": 2,
    "writeToDynamoDB": 5,
    "discardOutputs": 5,
}
FUNCTIONS = ("upload", "startWorkflow", *NEEDS)


def stage_functions() -> list[str]:
    """Every function serverless.yml declares (each has its own log group)."""
    with (PROJECT / "serverless.yml").open() as stream:
        return list(yaml.safe_load(stream)["functions"])


class InvokeError(Exception):
    """Something the user can fix: an unknown function, no stack, a step that failed."""


def staging_bucket(stack_name: str) -> str:
    return f"{stack_name}-invoke-local"


def stage_photo(cloud_env: dict[str, str], stack_name: str, key: str, photo: Path) -> str:
    """Puts the photo where no trigger takes it, in a bucket emptied of earlier runs' files;
    returns the bucket."""
    bucket = fresh_scratch_bucket(cloud_env, stack_name)
    aws_client(cloud_env, "s3").upload_file(str(photo), bucket, key)
    return bucket


def fresh_scratch_bucket(cloud_env: dict[str, str], stack_name: str) -> str:
    """The scratch bucket, created if needed, without what earlier runs wrote."""
    s3 = aws_client(cloud_env, "s3")
    bucket = staging_bucket(stack_name)
    s3.create_bucket(Bucket=bucket)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        if page.get("Contents"):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})
    return bucket


def written(cloud_env: dict[str, str], stack_name: str, event: dict[str, Any]) -> list[str]:
    """What the run left in the scratch bucket besides the photo it was given: `s3://…` each."""
    bucket = staging_bucket(stack_name)
    photo = (event.get("s3") or {}).get("object", {}).get("key")
    pages = aws_client(cloud_env, "s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents", []) if o["Key"] != photo]


def build_event(
    cloud_env: dict[str, str], stack_name: str, function: str, photo: Path, user: str, upload_prefix: str
) -> dict[str, Any]:
    if function not in FUNCTIONS:
        raise InvokeError(f"no function {function!r}: choose one of {', '.join(FUNCTIONS)}")
    key = f"{upload_prefix}{user}/{photo.name}"
    if function == "upload":
        fresh_scratch_bucket(cloud_env, stack_name)  # where the function stores the photo here
        return _api_event(photo, user)
    bucket = stage_photo(cloud_env, stack_name, key, photo)
    if function == "startWorkflow":
        return _s3_event(bucket, key, photo.stat().st_size)
    state: dict[str, Any] = {
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": photo.stat().st_size}},
        "userId": user,
    }
    results: dict[str, Any] = {}
    for step, path in STEPS[: NEEDS[function]]:
        errored, payload = _run_first(cloud_env, f"{stack_name}-{step}", state | {"results": results}, stack_name)
        if errored:
            raise InvokeError(f"{step} (run first) failed: {payload}")
        _put(results, path, payload)
    return state | ({"results": results} if results else {})


def _run_first(cloud_env: dict[str, str], function: str, event: dict[str, Any], stack_name: str) -> tuple[bool, Any]:
    """Runs a step's handler from the working tree, with the deployed function's settings (its
    outputs going to the scratch bucket)."""
    config = aws_client(cloud_env, "lambda").get_function_configuration(FunctionName=function)
    env = cli_environment(cloud_env) | config.get("Environment", {}).get("Variables", {})
    env |= scratch_settings(stack_name, function.removeprefix(f"{stack_name}-"))
    env |= {"AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"])}
    worker = Worker(PROJECT, config["Handler"], env)
    try:
        result = worker.invoke(event, float(config["Timeout"]))
    finally:
        worker.stop()
    return result.errored, json.loads(result.payload or "null")


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def _api_event(photo: Path, user: str) -> dict[str, Any]:
    """The event after API Gateway's Cognito authoriser let `user` through (its verified claims)."""
    claims = {"sub": user, "cognito:username": user, "token_use": "id"}
    return {
        "resource": "/upload",
        "path": "/upload",
        "httpMethod": "POST",
        "headers": {"Content-Type": "image/jpeg", "X-Filename": photo.name},
        "queryStringParameters": None,
        "requestContext": {"resourcePath": "/upload", "httpMethod": "POST", "authorizer": {"claims": claims}},
        "body": base64.b64encode(photo.read_bytes()).decode(),
        "isBase64Encoded": True,
    }


def _s3_event(bucket: str, key: str, size: int) -> dict[str, Any]:
    # S3 URL-encodes keys in events; the sequencer orders events of one key (a new one per call).
    obj = {"key": quote_plus(key), "size": size, "sequencer": f"{time.time_ns():016X}"}
    s3 = {"bucket": {"name": bucket}, "object": obj}
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": s3}]}


def invoke_local(cloud_env: dict[str, str], stage: str, stack_name: str, function: str, event: dict[str, Any]) -> int:
    """Saves the event and runs `sls invoke local` with it (its outputs into the scratch
    bucket); its output goes to this terminal, then where what it wrote went."""
    EVENTS.mkdir(parents=True, exist_ok=True)
    path = EVENTS / f"{function}.json"
    path.write_text(json.dumps(event, indent=2))
    scratch = [f"{name}={value}" for name, value in scratch_settings(stack_name, function).items()]
    command = [*serverless_command(), "invoke", "local", "--stage", stage, "-f", function, "-p", str(path)]
    command += [word for setting in scratch for word in ("--env", setting)]
    shown = path.relative_to(PROJECT)
    print(f"$ npx sls invoke local --stage {stage} -f {function} -p {shown} \\", flush=True)
    print("    " + " ".join(f"--env {setting}" for setting in scratch), flush=True)
    code = subprocess.run(command, cwd=PROJECT, env=cli_environment(cloud_env)).returncode
    if function == "startWorkflow":
        print("\nstartWorkflow writes nothing itself: it started an execution of the stage's workflow.")
        return code
    print("\nWritten to the scratch bucket, not the stage's own (emptied at the next `invoke`):", flush=True)
    for url in written(cloud_env, stack_name, event) or ["nothing"]:
        print(f"  {url}")
    if function == "writeToDynamoDB":
        photo = ((event.get("results") or {}).get("uniqueness") or {}).get("contentHash")
        print(f"and the photo's item in the stage's photos table (userId {event.get('userId')}, photoId {photo}).")
    return code
