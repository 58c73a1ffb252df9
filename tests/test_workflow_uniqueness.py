"""The uniqueness policy end to end, in the local cloud: the `test` stage with the default
settings, and a `strict` stage deployed with the opposite ones (all users compared, near
duplicates rejected, exact copies of one's own photo skipped without a notice)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from localcloud.tools.deploy import deploy
from localcloud.tools.pipeline import Outcome, Pipeline
from tests import images as pictures
from tests.conftest import ARTIFACTS
from tests.photo_checks import output_folders, stored_outputs
from tests.test_workflow import exists, sns_messages

STRICT = {
    "DUPLICATE_SCOPE": "all-users",
    "OWN_EXACT_DUPLICATE": "skip-silently",
    "NEAR_DUPLICATE": "reject",
    "REJECTED_DUPLICATE_UPLOAD": "keep",
}


@pytest.fixture(scope="module")
def strict(cloud, stack):
    deployed = deploy(cloud.client_environment() | STRICT, "strict", log=ARTIFACTS / "deploy-strict.log")
    return deployed, Pipeline(cloud.client_environment(), deployed.outputs)


def send(pipeline: Pipeline, uploads: dict[str, bytes], timeout: float = 120) -> dict[str, Outcome]:
    """Uploads every file at once (key relative to the upload prefix) and waits for each."""
    keys = {pipeline.upload_prefix + name: data for name, data in uploads.items()}
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        put = lambda item: pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=item[0], Body=item[1])  # noqa: E731
        list(pool.map(put, keys.items()))
    outcomes = pipeline.wait({key: key for key in keys}, timeout=timeout)
    return {outcome.key.removeprefix(pipeline.upload_prefix): outcome for outcome in outcomes}


def items_of(stack, user: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    return table.query(KeyConditionExpression=Key("userId").eq(user), ConsistentRead=True)["Items"]


def outputs_of(stack, user: str) -> list[str]:
    return stored_outputs(boto3.client("s3"), stack.outputs, user)


# --- the defaults: nothing distinct is lost ------------------------------------------------


def test_burst_shots_and_edits_are_processed_and_flagged_by_default(pipeline, stack, unique):
    user = f"burst-{unique}"
    edits = pictures.burst_and_edits(pictures.photo("chelsea.jpg"))
    first = send(pipeline, {f"{user}/original.jpg": pictures.jpeg_bytes(pictures.photo("chelsea.jpg"))})
    original = first[f"{user}/original.jpg"]
    assert original.result.kind == "processed"
    for name, bits in (("burst (scene shifted 2%)", 2), ("brightened 20%", 0)):
        [outcome] = send(pipeline, {f"{user}/{name}.jpg": edits[name]}).values()
        assert str(outcome.result) == f"processed: similar to {original.key} ({bits} bits apart)", outcome.error
        assert len(outcome.outputs) == len(output_folders(stack.outputs)) and outcome.path[-1] == "DeleteSourceFile"
    [mirrored] = send(pipeline, {f"{user}/mirrored.jpg": edits["mirrored"]}).values()
    assert str(mirrored.result) == "processed"
    recorded = {item["sourceKey"].rsplit("/", 1)[1]: item for item in items_of(stack, user)}
    assert set(recorded) == {"original.jpg", "burst (scene shifted 2%).jpg", "brightened 20%.jpg", "mirrored.jpg"}
    assert recorded["brightened 20%.jpg"]["similarTo"]["photoId"] == original.photo_id
    assert "similarTo" not in recorded["mirrored.jpg"] and "similarTo" not in recorded["original.jpg"]


def test_the_same_photo_from_two_users_is_each_users_own(pipeline, stack, unique):
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    ann, bob = f"ann-{unique}", f"bob-{unique}"
    outcomes = send(pipeline, {f"{ann}/holiday.jpg": data, f"{bob}/holiday.jpg": data})
    assert {str(o.result) for o in outcomes.values()} == {"processed"}
    for user in (ann, bob):
        [item] = items_of(stack, user)
        assert item["sourceKey"] == f"{pipeline.upload_prefix}{user}/holiday.jpg"
        assert len(outputs_of(stack, user)) == len(output_folders(stack.outputs))


def test_concurrent_uploads_of_one_photo_are_recorded_once(pipeline, s3, stack, unique):
    user = f"copies-{unique}"
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    outcomes = send(pipeline, {f"{user}/copy-{n}.jpg": data for n in range(5)})
    processed = [o for o in outcomes.values() if o.result.kind == "processed"]
    assert len(processed) == 1, {k: (str(o.result), o.error) for k, o in outcomes.items()}
    duplicates = [o for o in outcomes.values() if o is not processed[0]]
    # Each was found a duplicate before processing, or (RecheckDuplicate) after its run lost the write.
    assert {str(o.result) for o in duplicates} == {f"duplicate of {processed[0].key}"}
    assert all(o.path[-1] == "DeleteSourceFile" for o in duplicates), [o.path for o in duplicates]
    assert [item["sourceKey"] for item in items_of(stack, user)] == [processed[0].key]
    assert outputs_of(stack, user) == sorted(o["key"] for o in processed[0].outputs)  # the losers' were discarded
    assert not any(exists(s3, pipeline.upload_bucket, o.key) for o in outcomes.values())


# --- a strict stage ------------------------------------------------------------------------


def test_the_strict_stage_has_its_settings(strict):
    deployed, _ = strict
    config = boto3.client("lambda").get_function_configuration(FunctionName=f"{deployed.name}-checkDuplicate")
    assert STRICT.items() <= config["Environment"]["Variables"].items()


def test_a_near_duplicate_is_rejected_with_a_notice_and_its_upload_kept(strict, s3, unique):
    deployed, pipeline = strict
    user = f"near-{unique}"
    picture = pictures.photo("chelsea.jpg")  # the only photo of it on this stage, where all users' are compared
    [original] = send(pipeline, {f"{user}/original.jpg": pictures.jpeg_bytes(picture)}).values()
    assert original.result.kind == "processed"
    [near] = send(pipeline, {f"{user}/brighter.jpg": pictures.burst_and_edits(picture)["brightened 20%"]}).values()
    assert str(near.result) == f"duplicate of {original.key} (0 bits apart, upload kept)"
    assert near.path[-4:] == ["IsDuplicate", "NotifyDuplicate", "KeepUpload", "UploadKept"] and near.outputs == []
    assert exists(s3, pipeline.upload_bucket, near.key)
    [message] = [m for m in sns_messages(deployed) if m.startswith(near.key)]
    assert f"0 bits of 64 away from your photo {original.key}" in message
    assert f"Your upload was kept: s3://{pipeline.upload_bucket}/{near.key}" in message
    assert [item["sourceKey"] for item in items_of(deployed, user)] == [original.key]


def test_another_users_photo_is_rejected_without_naming_it_and_an_own_copy_skipped_silently(strict, s3, unique):
    deployed, pipeline = strict
    ann, bob = f"ann-{unique}", f"bob-{unique}"
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    [anns] = send(pipeline, {f"{ann}/me.jpg": data}).values()
    assert anns.result.kind == "processed"
    [bobs] = send(pipeline, {f"{bob}/me.jpg": data}).values()
    assert str(bobs.result) == "duplicate of another user's photo (upload kept)"
    assert exists(s3, pipeline.upload_bucket, bobs.key) and items_of(deployed, bob) == []
    [message] = [m for m in sns_messages(deployed) if m.startswith(bobs.key)]
    assert "already in another user's library" in message and ann not in message
    # Ann's own copy: skipped, deleted, and (skip-silently) no notice.
    [again] = send(pipeline, {f"{ann}/me-again.jpg": data}).values()
    assert str(again.result) == f"duplicate of {anns.key}"
    assert "NotifyDuplicate" not in again.path and again.path[-1] == "DeleteSourceFile"
    assert not [m for m in sns_messages(deployed) if m.startswith(again.key)]
    assert not exists(s3, pipeline.upload_bucket, again.key)


def test_one_photo_from_two_users_at_once_is_recorded_once(strict, s3, unique):
    deployed, pipeline = strict
    ann, bob = f"ann-{unique}", f"bob-{unique}"
    data = pictures.jpeg_bytes(pictures.random_picture(unique.encode()))
    outcomes = send(pipeline, {f"{ann}/same.jpg": data, f"{bob}/same.jpg": data})
    results = sorted(str(o.result) for o in outcomes.values())
    assert results == ["duplicate of another user's photo (upload kept)", "processed"], [
        o.error for o in outcomes.values()
    ]
    [rejected] = [o for o in outcomes.values() if o.result.kind == "duplicate"]
    assert exists(s3, pipeline.upload_bucket, rejected.key) and rejected.outputs == []
    assert len(items_of(deployed, ann)) + len(items_of(deployed, bob)) == 1
    loser = rejected.key.split("/")[1]
    assert outputs_of(deployed, loser) == []  # a run that lost the write discarded what it wrote
