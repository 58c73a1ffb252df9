"""The largest photos MAX_IMAGE_PIXELS accepts fit every function at its declared memorySize:
64 MP progressive RGB, progressive CMYK and multi-picture JPEGs, through each deployed
function that reads the photo, in the local runtime, whose workers run within their
function's memory (localcloud/services/awslambda/limits.py: over it, a worker is killed and the invocation fails
with Runtime.OutOfMemory, as on Lambda). The other functions never load the photo. The
functions are invoked one by one with the state each gets in the workflow, with a long timeout:
this is about memory, and a busy 2-core machine takes many times Lambda's time for 64 MP.
The peaks and margins are written to artifacts/memory-margins.json (the table in docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageFile

from tests import serverless_yml
from tests.conftest import ARTIFACTS
from tests.photo_checks import stored_outputs
from tests.workflow_states import branch_functions, with_results, workflow_input

SIDE = 8000  # 8000 x 8000 = 64,000,000 pixels: MAX_IMAGE_PIXELS' default, the largest accepted


def _picture(mode: str) -> Image.Image:
    """A gradient with sensor-like noise: a photo's compressibility, not a test card's."""
    base = Image.linear_gradient("L").resize((SIDE, SIDE))
    noise = Image.effect_noise((SIDE, SIDE), 12)
    return Image.merge(mode, [ImageChops.add(base.rotate(90 * i), noise, offset=-128) for i in range(len(mode))])


@pytest.fixture(scope="module")
def worst_cases(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("largest")
    ImageFile.MAXBLOCK = max(ImageFile.MAXBLOCK, 1 << 27)  # a progressive file is written in one block
    rgb = _picture("RGB")
    rgb.save(folder / "progressive.jpg", quality=90, progressive=True)
    _picture("CMYK").save(folder / "cmyk-progressive.jpg", quality=90, progressive=True)
    rgb.save(
        folder / "multi-picture.jpg", "MPO", save_all=True, append_images=[rgb.resize((SIDE // 4,) * 2)], quality=90
    )
    return {path.name: path for path in folder.iterdir()}


class _Patient:
    """A deployed function with a long timeout (everything else as deployed)."""

    timeout = 600

    def __init__(self, function: object) -> None:
        self._function = function

    def __getattr__(self, name: str) -> object:
        return getattr(self._function, name)


def test_the_largest_accepted_photos_fit_every_function(cloud, stack, pipeline, worst_cases):
    from moto.awslambda.models import lambda_backends

    assert cloud.runtime is not None
    backend = lambda_backends["123456789012"]["us-east-1"]

    def invoke(function: str, state: dict) -> tuple[dict, object]:
        result = cloud.runtime.invoke(_Patient(backend.get_function(f"{stack.name}-{function}")), state)
        assert not result.out_of_memory, f"{function} ran out of its memory"
        assert not result.errored, f"{function}: {result.payload[:500]}"
        return json.loads(result.payload), result

    peaks: dict[str, dict] = defaultdict(dict)
    destination = stack.outputs["DestinationBucketName"]
    for name, path in worst_cases.items():
        user = f"largest-{os.urandom(3).hex()}"
        key = f"largest/{user}/{name}"  # outside the upload prefix: no workflow is started
        pipeline.s3.upload_file(str(path), pipeline.upload_bucket, key)
        state = workflow_input(pipeline.upload_bucket, key, user, path.stat().st_size)
        steps = []
        file_type, used = invoke("getFileType", state)
        assert file_type["accepted"], (name, file_type)
        steps.append(("getFileType", used))
        state = with_results(state, fileType=file_type)
        uniqueness, used = invoke("checkDuplicate", state)
        assert not uniqueness["duplicate"], name
        steps.append(("checkDuplicate", used))
        state = with_results(state, uniqueness=uniqueness)
        for function in branch_functions(serverless_yml.definition()["States"]["ProcessFile"]):
            steps.append((function, invoke(function, state)[1]))
        outputs = stored_outputs(pipeline.s3, stack.outputs, f"largest/{user}")  # the key's folders
        assert outputs, f"{name}: no outputs written"
        _remove(pipeline.s3, {pipeline.upload_bucket: [key], destination: outputs})
        for function, used in steps:
            entry = peaks[function]
            entry["memoryMb"] = used.memory_size_mb
            if (used.peak_memory_mb or 0) > entry.get("peakMiB", 0):
                entry["peakMiB"], entry["photo"] = round(used.peak_memory_mb), name
    for function, entry in peaks.items():
        entry["marginMiB"] = entry["memoryMb"] - entry["peakMiB"]  # Lambda's "MB" are MiB
        assert 0 < entry["peakMiB"] < entry["memoryMb"], function
    # The thumbnail and the renditions leave twice their peak (issue 23; docs/renditions.md).
    assert 2 * peaks["makeThumbnail"]["peakMiB"] <= peaks["makeThumbnail"]["memoryMb"], peaks["makeThumbnail"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "memory-margins.json").write_text(json.dumps(dict(sorted(peaks.items())), indent=2) + "\n")


def _remove(s3, keys_by_bucket: dict[str, list[str]]) -> None:
    """Every version of these objects (~1 GB for the three photos): the session's local cloud
    keeps what it stores until the run ends, on this machine's disk."""
    for bucket, keys in keys_by_bucket.items():
        for key in keys:
            for version in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []):
                if version["Key"] == key:
                    s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
