"""Backfills end to end: `python -m ops backfill` starts the deployed backfill state machine (a
Distributed Map starting one image workflow execution per object), follows it and prints its
report; imports never touch the objects they import; regenerations rewrite outputs in place and
update records; a backfill over its tolerated failures fails, lists them, and `python -m ops
redrive` processes only those again."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import uuid

import boto3
import pytest
from PIL import Image

from handlers.core import renditions
from localcloud.tools import report
from localcloud.tools.console import Console
from ops.__main__ import main as ops
from tests import images as pictures
from tests.photo_checks import declared
from tests.test_workflow import control, exists, photo_item, sns_messages
from tests.workflow_states import with_results, workflow_input

WIDTH = 100


def noise_jpeg(seed: int, side: int = 32) -> bytes:
    """A small photo unlike any other (random pixels: distinct content and perceptual hashes)."""
    generator = random.Random(seed)
    image = Image.frombytes("RGB", (side, side), bytes(generator.randrange(256) for _ in range(side * side * 3)))
    return pictures.jpeg_bytes(image, quality=80)


def run_ops(capsys, *argv: str) -> tuple[int, list[str]]:
    code = ops([*argv, "--stage", "test"])
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= WIDTH for line in lines), [line for line in lines if len(line) > WIDTH]
    return code, lines


def report_entries(s3, lines: list[str]) -> dict[str, list[dict]]:
    """The report's result files, from the manifest the command names on its last line."""
    assert lines[-2].startswith("report: s3://")
    bucket, key = lines[-2].removeprefix("report: s3://").rstrip("/"), lines[-1].strip()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    entries: dict[str, list[dict]] = {}
    for status, files in manifest["ResultFiles"].items():
        entries[status] = [
            e for f in files for e in json.loads(s3.get_object(Bucket=bucket, Key=f["Key"])["Body"].read())
        ]
    return entries


def source_of(entry: dict) -> str:
    item = json.loads(entry["Input"])["item"]
    return item if isinstance(item, str) else item["Key"]


def staged(s3, stack, run_marker: str = "") -> list[str]:
    prefix = "backfill/staged/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.outputs["UploadBucketName"], Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", []) if run_marker in o["Key"]]


def count_executions(machine_arn: str) -> int:
    pages = boto3.client("stepfunctions").get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
    return sum(len(page["executions"]) for page in pages)


@pytest.fixture(autouse=True)
def clean_faults(cloud):
    yield
    control(cloud, "faults", method="DELETE")


def test_a_backfill_of_200_objects_with_5_percent_failures_ends_within_its_tolerance(cloud, stack, s3, capsys):
    unique = uuid.uuid4().hex[:8]
    bucket, prefix, user = stack.outputs["UploadBucketName"], f"import/{unique}/", f"bf-{unique}"
    failing = {3, 17, 42, 58, 77, 101, 123, 150, 171, 199}  # 10 of 200: 5%
    keys = {}
    for number in range(200):
        name = f"p{number:03d}-{unique}-fail.jpg" if number in failing else f"p{number:03d}.jpg"
        keys[number] = f"{prefix}{name}"
        s3.put_object(Bucket=bucket, Key=keys[number], Body=noise_jpeg(hash((unique, number))))
    # Those objects' conversion fails every time (a fault for their keys only).
    fault = {"function": f"{stack.name}-resizeImage", "error": "ConversionFailed", "times": 1000}
    control(cloud, "faults", fault | {"match": f"-{unique}-fail.jpg"}, "POST")

    code, lines = run_ops(capsys, "backfill", "--source", f"s3://{bucket}/{prefix}", "--user", user)

    assert code == 0, lines  # 5% failed, within the stage's 10%
    assert lines[0].startswith("backfill import-") and lines[1] == f"  import from s3://{bucket}/{prefix}"
    assert any(line.startswith("  200/200 photos done: 190 succeeded, 10 failed") for line in lines)
    assert any(line.startswith("backfill finished: 200 photos, 190 processed, 10 failed") for line in lines)
    shown = [line for line in lines if line.startswith("  failed  ")]
    assert len(shown) == 10 and all("ConversionFailed" in line for line in shown), lines

    entries = report_entries(s3, lines)
    assert sorted(source_of(e) for e in entries["FAILED"]) == sorted(keys[n] for n in failing)
    assert len(entries["SUCCEEDED"]) == 190
    # The imported objects are all still there; only the failed items' copies are left staged.
    assert all(exists(s3, bucket, key) for key in keys.values())
    run_name = lines[0].split()[1]
    assert len(staged(s3, stack, f"/{run_name}/")) == 10
    recorded = [
        photo_item(stack, user, json.loads(e["Output"])["Output"]["results"]["uniqueness"]["contentHash"])
        for e in entries["SUCCEEDED"][:5]
    ]
    assert all(item["userId"] == user and item["pngKey"].startswith(f"png/{user}/") for item in recorded)


def test_a_regeneration_rewrites_outputs_in_place_and_updates_records(cloud, stack, pipeline, s3, capsys):
    unique = uuid.uuid4().hex[:8]
    user = f"regen-{unique}"
    lambdas = boto3.client("lambda")
    # Three different pictures (one user's near duplicates would not be processed).
    sources = [("astronaut.jpg", 13), ("coffee.jpg", 29), ("rocket.jpg", 41)]
    uploads = {
        pipeline.upload_prefix + f"{user}/photo{n}.jpg": pictures.jpeg_bytes(pictures.photo(name).rotate(angle))
        for n, (name, angle) in enumerate(sources)
    }
    for key, data in uploads.items():
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=data)
    outcomes = pipeline.wait({key: key.rsplit("/", 1)[1] for key in uploads}, timeout=120)
    assert all(o.result.kind == "processed" for o in outcomes), [str(o.result) for o in outcomes]
    before = {o.photo_id: photo_item(stack, user, o.photo_id) for o in outcomes}
    destination = stack.outputs["DestinationBucketName"]
    originals = {
        item["originalKey"]: s3.head_object(Bucket=destination, Key=item["originalKey"])["ETag"]
        for item in before.values()
    }
    notices = len(sns_messages(stack))
    # As recorded before renditions existed: no renditions, no placeholder.
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    for photo_id in before:
        table.update_item(Key={"userId": user, "photoId": photo_id}, UpdateExpression="REMOVE renditions, thumbHash")

    # The stage now makes smaller thumbnails and declares one more rendition.
    function = f"{stack.name}-makeThumbnail"
    settings = lambdas.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    now = settings | {"THUMBNAIL_SIZE": "128", "RENDITIONS": settings["RENDITIONS"] + ",later:jpeg:200:80"}
    lambdas.update_function_configuration(FunctionName=function, Environment={"Variables": now})
    try:
        code, lines = run_ops(capsys, "backfill", "--regenerate", "--prefix", f"originals/{user}/")
    finally:
        lambdas.update_function_configuration(FunctionName=function, Environment={"Variables": settings})

    assert code == 0, lines
    assert any(line.startswith("backfill finished: 3 photos, 3 processed, 0 failed") for line in lines)
    names = [r.name for r in renditions.parse(now["RENDITIONS"])]
    for photo_id, old in before.items():
        new = photo_item(stack, user, photo_id)
        assert new["thumbnailKey"] == old["thumbnailKey"] and new["pngKey"] == old["pngKey"]  # in place
        thumbnail = Image.open(io.BytesIO(s3.get_object(Bucket=destination, Key=new["thumbnailKey"])["Body"].read()))
        assert max(thumbnail.size) == 128 and max(int(new["thumbnailWidth"]), int(new["thumbnailHeight"])) == 128
        assert (new["uploadedAt"], new["sourceKey"], new["userId"]) == (old["uploadedAt"], old["sourceKey"], user)
        assert new["regeneratedAt"] > old["uploadedAt"]
        assert sorted(new["renditions"]) == sorted(names) and "later" in names and new["thumbHash"]
        for made in new["renditions"].values():
            assert s3.head_object(Bucket=destination, Key=made["key"])["ContentLength"] == made["bytes"]
    assert all(s3.head_object(Bucket=destination, Key=k)["ETag"] == etag for k, etag in originals.items())
    assert len(sns_messages(stack)) == notices  # no "duplicate" notice: a regeneration is not an upload
    # Shown as a regeneration, not as "duplicate of …, not processed or recorded again": in
    # `executions` (by the upload each staged copy stands for) and in the console.
    shown = pipeline.every_upload(user=user)
    assert sorted(o.result.kind for o in shown) == ["processed"] * 3 + ["regenerated"] * 3, [
        str(o.result) for o in shown
    ]
    assert {o.file for o in shown} == {f"{user}/photo{n}.jpg" for n in range(3)}
    table = report.outcomes_table(shown, by_user=True)
    assert table.count("regenerated from") == 3 and "duplicate" not in table
    console = Console(cloud.client_environment())
    listed = [e for e in console.executions(result="regenerated") if f"/{user}/" in (e["key"] or "")]
    assert len(listed) == 3
    page = console.execution(listed[0]["arn"])
    assert page["result"]["result"] == "regenerated" and page["duplicateOf"] is None
    previewed = {p["kind"] for p in page["previews"]}
    assert page["metadata"]["regeneratedAt"] and previewed == {*renditions.RESERVED, *names}


def test_a_failed_regeneration_never_discards_the_original_it_works_from(stack, s3):
    """DiscardOutputs after a regeneration failed, for a photo without a record: the new PNG,
    thumbnail and renditions go, the original copy it was made from (maybe the photo's only copy) stays."""
    from handlers.core import keys

    unique = uuid.uuid4().hex[:8]
    photo_id = hashlib.sha256(unique.encode()).hexdigest()
    staged = f"backfill/staged/regenerate-{unique}/x/regen-{unique}/a.jpg"
    outputs = keys.output_keys(staged, "uploads/", photo_id, "backfill/staged/", declared(stack.outputs))
    destination = stack.outputs["DestinationBucketName"]
    for key in outputs.all():
        s3.put_object(Bucket=destination, Key=key, Body=b"output")
    staged_upload = workflow_input(stack.outputs["UploadBucketName"], staged, f"regen-{unique}", 6)
    state = with_results(staged_upload, uniqueness={"contentHash": photo_id}) | {
        "backfill": {"mode": "regenerate", "source": f"s3://{destination}/{outputs.original}", "run": "r"}
    }
    answer = boto3.client("lambda").invoke(FunctionName=f"{stack.name}-discardOutputs", Payload=json.dumps(state))
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    made = [outputs.png, outputs.thumbnail, *outputs.renditions.values()]
    assert sorted(result["removed"]) == sorted(made)
    assert exists(s3, destination, outputs.original)
    assert not any(exists(s3, destination, key) for key in made)


def test_an_import_from_manifests_reads_json_and_csv(cloud, stack, s3, capsys, tmp_path):
    unique = uuid.uuid4().hex[:8]
    bucket = stack.outputs["UploadBucketName"]
    keys = [f"import/{unique}/m/{n}.jpg" for n in range(4)]
    for number, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=noise_jpeg(hash((unique, "m", number))))
    s3.put_object(Bucket=bucket, Key=f"import/{unique}/m/not-listed.jpg", Body=noise_jpeg(1))
    as_json = tmp_path / "photos.json"
    as_json.write_text(json.dumps([keys[0], {"Key": keys[1]}]))
    as_csv = tmp_path / "photos.csv"
    with as_csv.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["Key", "Note"])
        writer.writerows([[keys[2], "first"], [keys[3], "second"]])

    for manifest, listed in ((as_json, keys[:2]), (as_csv, keys[2:])):
        code, lines = run_ops(capsys, "backfill", "--manifest", str(manifest), "--user", f"m-{unique}")
        assert code == 0, lines
        assert lines[1].startswith("  import from the manifest s3://")
        assert any(line.startswith("backfill finished: 2 photos, 2 processed, 0 failed") for line in lines)
        assert sorted(source_of(e) for e in report_entries(s3, lines)["SUCCEEDED"]) == listed
    assert all(exists(s3, bucket, key) for key in keys)


def test_bad_requests_are_refused_before_anything_starts(stack, capsys):
    code, lines = run_ops(capsys, "backfill", "--source", "s3://someone-elses-bucket/photos/")
    assert code == 2 and "imports from s3://" in lines[0] and "IMPORT_BUCKET" in " ".join(lines)
    upload_bucket = stack.outputs["UploadBucketName"]
    for mixed in ("", "uploads", "uploads/alice/", "backfill/"):  # other users' uploads, staged copies
        code, lines = run_ops(capsys, "backfill", "--source", f"s3://{upload_bucket}/{mixed}")
        assert code == 2 and "the workflow's own objects" in " ".join(" ".join(lines).split()), mixed
    code, lines = run_ops(capsys, "backfill", "--regenerate", "--prefix", "png/")
    assert code == 2 and "must be under originals/" in lines[0]
    code, lines = run_ops(capsys, "backfill", "--manifest", "/no/such/file.json")
    assert code == 2 and "no manifest file" in lines[0]


def test_a_backfill_over_its_tolerance_fails_and_a_redrive_processes_only_the_failures(cloud, stack, s3, capsys):
    unique = uuid.uuid4().hex[:8]
    bucket, prefix = stack.outputs["UploadBucketName"], f"import/{unique}/"
    keys = [f"{prefix}{n}{'-bad' if n < 3 else ''}.jpg" for n in range(10)]  # 3 of 10 fail: over 10%
    for number, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=noise_jpeg(hash((unique, "t", number))))
    fault = {"function": f"{stack.name}-makeThumbnail", "error": "ThumbnailFailed", "times": 1000, "match": "-bad.jpg"}
    control(cloud, "faults", fault, "POST")
    code, lines = run_ops(capsys, "backfill", "--source", f"s3://{bucket}/{prefix}", "--user", f"t-{unique}")
    assert code == 1
    assert any(line.startswith("backfill failed: 10 photos, 7 processed, 3 failed") for line in lines), lines
    assert any("States.ExceedToleratedFailureThreshold" in line for line in lines)
    assert sorted(source_of(e) for e in report_entries(s3, lines)["FAILED"]) == keys[:3]

    control(cloud, "faults", method="DELETE")  # the cause is fixed
    sfn = boto3.client("stepfunctions")
    arn = next(
        e["executionArn"]
        for e in sfn.list_executions(stateMachineArn=stack.outputs["BackfillWorkflowArn"])["executions"]
        if e["name"] == lines[0].split()[1]
    )
    children = count_executions(stack.outputs["ImageWorkflowArn"])
    code, lines = run_ops(capsys, "redrive", "--execution", arn)
    assert code == 0, lines
    assert lines[0].startswith("redriven      backfill import-") and lines[0].endswith("  from FromListing")
    assert lines[-1] == "redriven 1 of 1: 1 succeeded, 0 failed again, 0 skipped"
    assert (
        count_executions(stack.outputs["ImageWorkflowArn"]) - children == 3
    )  # the 7 photos processed before were not processed again
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
