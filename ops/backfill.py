"""python -m ops backfill: run the image workflow on photos that are already stored.

- `--source s3://BUCKET/PREFIX`: import every object under the prefix of the stage's import
  bucket (IMPORT_BUCKET, or the upload bucket), as uploads of `--user`;
- `--manifest FILE|s3://BUCKET/KEY`: import the objects a manifest lists (JSON: an array of
  keys or of objects with a `Key`; CSV: a header row with a `Key` column), keys of the import
  bucket, or with `--regenerate` original copies of the destination bucket;
- `--regenerate [--prefix originals/USER/]`: process the original copies again (after a change
  such as a new THUMBNAIL_SIZE): outputs rewritten in place, records updated.

It starts the stage's backfill state machine, follows it with a progress line, and prints the
summary of its report (every failed object, with its error). The objects themselves are never
touched: each is processed from a staged copy.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from localcloud.tools.results import json_object

from .stage import Stage
from .text import fit, middle, seconds, wrap

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

HELP = "import or regenerate stored photos through the image workflow (a Distributed Map)"
ORIGINALS = "originals/"  # where the workflow keeps original copies (handlers/core/keys.py)
SHOWN_FAILURES = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--source", metavar="s3://BUCKET/PREFIX", help="import every object under this prefix")
    what.add_argument("--regenerate", action="store_true", help="process the original copies again")
    parser.add_argument(
        "--manifest", metavar="FILE|s3://...", help="only the objects this JSON or CSV file lists (keys)"
    )
    parser.add_argument("--prefix", default=ORIGINALS, help="with --regenerate: originals under this prefix")
    parser.add_argument("--user", default="", help="whose photos an import is (default: anonymous)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to follow it (0: start only)")


def run(args: argparse.Namespace, stage: Stage) -> int:
    try:
        request = _request(args, stage)
    except ValueError as error:
        print(wrap(f"backfill: {error}"))
        return 2
    sfn = stage.client("stepfunctions")
    name = f"{request['mode']}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    arn = sfn.start_execution(
        stateMachineArn=stage.output("BackfillWorkflowArn"), name=name, input=json.dumps(request)
    )["executionArn"]
    origin = f"s3://{request['sourceBucket']}/{request['prefix']}"
    if "manifest" in request:
        origin = f"the manifest s3://{request['manifest']['bucket']}/{request['manifest']['key']}"
    print(fit(f"backfill {name} started"))
    print(fit(f"  {request['mode']} from {middle(origin, 80)}"))
    if args.timeout <= 0:
        print(fit("follow it in the console, or: aws stepfunctions describe-execution --execution-arn"))
        print(arn)  # whole, to copy: an ARN is longer than a line
        return 0
    described = _follow(stage, arn, args.timeout)
    return _report(stage, described)


def _s3_url(text: str) -> tuple[str, str]:
    parsed = urlparse(text)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"expected s3://BUCKET/KEY, got {text!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _request(args: argparse.Namespace, stage: Stage) -> dict[str, Any]:
    """The backfill state machine's input (see serverless.yml, "Backfill")."""
    if args.regenerate:
        if not args.prefix.startswith(ORIGINALS):
            raise ValueError(f"--prefix must be under {ORIGINALS} (the original copies), got {args.prefix!r}")
        request = {"mode": "regenerate", "sourceBucket": stage.output("DestinationBucketName"), "prefix": args.prefix}
    elif args.source or args.manifest:
        bucket, prefix = _s3_url(args.source) if args.source else (stage.output("ImportBucketName"), "")
        allowed = stage.output("ImportBucketName")
        if bucket != allowed:
            raise ValueError(f"this stage imports from s3://{allowed}/ only (IMPORT_BUCKET in its .env)")
        own = (stage.output("UploadPrefix"), stage.output("BackfillPrefix"))
        overlaps = not prefix or any(prefix.startswith(p) or p.startswith(prefix) for p in own)
        if args.source and bucket == stage.output("UploadBucketName") and overlaps:
            raise ValueError(
                f"s3://{bucket}/{prefix} holds the workflow's own objects ({', '.join(own)}): "
                "copy the photos under a prefix of their own, such as import/, and import that"
            )
        request = {"mode": "import", "sourceBucket": bucket, "prefix": prefix}
    else:
        raise ValueError("say what to process: --source s3://BUCKET/PREFIX, --manifest FILE or --regenerate")
    request["user"] = args.user
    if args.manifest:
        request["manifest"] = _manifest(args.manifest, stage)
    return request


def _manifest(location: str, stage: Stage) -> dict[str, str]:
    """Puts the manifest where the backfill may read it (backfill/manifests/ of the upload
    bucket) and says which reader it needs."""
    kind = "CSV" if location.lower().endswith(".csv") else "JSON"
    bucket, key = stage.output("UploadBucketName"), f"{stage.output('BackfillPrefix')}manifests/"
    key += f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}-{Path(location).name}"
    s3 = stage.client("s3")
    if location.startswith("s3://"):
        source_bucket, source_key = _s3_url(location)
        try:
            s3.copy_object(CopySource={"Bucket": source_bucket, "Key": source_key}, Bucket=bucket, Key=key)
        except ClientError as error:
            raise ValueError(f"cannot read {location}: {error.response['Error'].get('Message')}") from None
    else:
        path = Path(location)
        if not path.is_file():
            raise ValueError(f"no manifest file {location}")
        s3.upload_file(str(path), bucket, key)
    return {"bucket": bucket, "key": key, "format": kind}


def _follow(stage: Stage, arn: str, timeout: float) -> DescribeExecutionOutputTypeDef:
    """Waits for the execution, printing how its items stand whenever that changes (every few
    seconds at most)."""
    sfn = stage.client("stepfunctions")
    started, shown = time.monotonic(), ""
    while True:
        described = sfn.describe_execution(executionArn=arn)
        runs = sfn.list_map_runs(executionArn=arn)["mapRuns"]
        if runs:
            counts = sfn.describe_map_run(mapRunArn=runs[-1]["mapRunArn"])["itemCounts"]
            done = counts["succeeded"] + counts["failed"] + counts["timedOut"] + counts["aborted"]
            line = (
                f"  {done}/{counts['total']} photos done: {counts['succeeded']} succeeded, "
                f"{counts['failed'] + counts['timedOut'] + counts['aborted']} failed, {counts['running']} running"
            )
            if line != shown:
                print(fit(f"{line} ({seconds(time.monotonic() - started)})"))
                shown = line
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() - started > timeout:
            print(fit(f"still running after {seconds(timeout)}: follow execution"))
            print(arn)
            return described
        time.sleep(2)


def _report(stage: Stage, described: DescribeExecutionOutputTypeDef) -> int:
    if described["status"] == "RUNNING":
        return 1
    manifest = _manifest_of(stage, described)
    if manifest is None:
        error = f"{described.get('error', '')}: {described.get('cause', '')}".strip(": ")
        print(fit(f"backfill {described['status'].lower()} before any photo was processed: {error}"))
        return 1
    s3 = stage.client("s3")
    bucket = manifest["DestinationBucket"]

    def entries(status: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for listed in manifest["ResultFiles"].get(status, []):
            found += json.loads(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())
        return found

    succeeded, failed = entries("SUCCEEDED"), entries("FAILED")
    kinds = Counter(_result(json.loads(e.get("Output") or "{}")) for e in succeeded)
    outcome = "finished" if described["status"] == "SUCCEEDED" else f"{described['status'].lower()}"
    total = len(succeeded) + len(failed)
    counted = [f"{kinds[kind]} {kind}" for kind in ("processed", "rejected", "found duplicate", "other") if kinds[kind]]
    if not kinds["processed"]:
        counted.insert(0, "0 processed")
    summary = ", ".join([f"{total} photo{'' if total == 1 else 's'}", *counted, f"{len(failed)} failed"])
    print(fit(f"backfill {outcome}: {summary}"))
    if described["status"] != "SUCCEEDED":
        print(fit(f"  {described.get('error', '')}: {described.get('cause', '')}"))
    for entry in failed[:SHOWN_FAILURES]:
        source = _source(entry)
        print(fit(f"  failed  {middle(source, 58)}  {_error(entry)}"))
    if len(failed) > SHOWN_FAILURES:
        print(fit(f"  ... and {len(failed) - SHOWN_FAILURES} more"))
    print(fit(f"report: s3://{bucket}/"))  # (an S3 URL this long would not fit on one line)
    print(fit(f"  {manifest['Key']}"))
    return 0 if described["status"] == "SUCCEEDED" else 1


def _manifest_of(stage: Stage, described: DescribeExecutionOutputTypeDef) -> dict[str, Any] | None:
    """The report's manifest: named in the output, or (a failed Map Run) found by its Map Run."""
    s3, sfn = stage.client("s3"), stage.client("stepfunctions")
    details = (json_object(described.get("output")).get("ResultWriterDetails")) or {}
    if not details:
        runs = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]
        if not runs:
            return None
        run_id = runs[-1]["mapRunArn"].rsplit(":", 1)[-1]
        key = f"{stage.output('BackfillPrefix')}reports/{run_id}/manifest.json"
        details = {"Bucket": stage.output("UploadBucketName"), "Key": key}
    try:
        body = s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read()
        manifest: dict[str, Any] = json.loads(body)
    except ClientError:
        return None
    manifest["Key"] = details["Key"]
    return manifest


def _source(entry: dict[str, Any]) -> str:
    """The object a report entry is about (its Input is the item the Map gave the child)."""
    item = json_object(entry.get("Input")).get("item")
    if isinstance(item, dict):
        return str(item.get("Key") or item.get("key") or item)
    return str(item)


def _error(entry: dict[str, Any]) -> str:
    """A failed child's error: the image workflow's own when the child execution failed."""
    cause = json_object(entry.get("Cause"))
    if cause.get("Error"):  # States.TaskFailed: the cause is the child execution's description
        inner = json_object(cause.get("Cause")).get("errorMessage") or cause.get("Cause") or ""
        return f"{cause['Error']}: {inner}"
    return f"{entry.get('Error', '')}: {entry.get('Cause', '')}".strip(": ")


def _result(output: dict[str, Any]) -> str:
    """What the image workflow did with a photo, from its execution's output."""
    results = (output.get("Output") or {}).get("results") or {}
    if results.get("metadata"):
        return "processed"
    if (results.get("fileType") or {}).get("accepted") is False:
        return "rejected"
    if (results.get("uniqueness") or {}).get("duplicate"):
        return "found duplicate"
    return "other"
