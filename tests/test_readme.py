"""The README's local commands, run exactly as written (only the port changes), in a shell
like a user's: from the project folder, with no AWS variables of the test session.

A README command that breaks fails this test; new local commands go into the same blocks."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from localcloud.clients import aws_client
from localcloud.cloud import LocalCloud
from localcloud.deploy import stack_outputs
from tests.leftovers import leftovers, run_of

PROJECT = Path(__file__).resolve().parent.parent
README = PROJECT / "README.md"
DOCUMENTED_PORT = "4566"


def section_blocks(heading: str) -> list[str]:
    """The ```bash blocks of a README section, in order."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```bash\n(.*?)```", text[start : end if end > 0 else None], flags=re.S)


def users_shell() -> dict[str, str]:
    """The test session points AWS clients at its own cloud: a user's shell does not."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}


def run_block(block: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_local_section_has_the_blocks_this_test_runs():
    one_shot, start, another_shell = section_blocks("Run it locally")
    assert "localcloud demo" in one_shot and "localcloud run" in one_shot
    assert start.split()[:2] == ["make", "up"]
    assert "export AWS_ENDPOINT_URL" in another_shell


def test_commands_that_start_their_own_cloud(tmp_path):
    one_shot = section_blocks("Run it locally")[0]
    results = PROJECT / "results"
    created = not results.exists()
    try:
        done = run_block(one_shot, users_shell(), timeout=900)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert "every outcome as designed: yes" in done.stdout
        assert "uploaded 1 file;" in done.stderr and "uploaded 6 files;" in done.stderr
        assert re.search(r"chelsea-again\.jpg\s+duplicate of uploads/demo/chelsea\.jpg", done.stdout)
        # run --json: every outcome says why
        outcomes = json.loads(done.stdout[done.stdout.index("\n[") :].split("\n]")[0] + "\n]")
        by_file = {o["file"]: o for o in outcomes}
        assert by_file["not-a-jpeg.png"]["summary"] == "rejected: not-a-jpeg"
        assert by_file["truncated.jpg"]["reason"] == "corrupt-image"
        assert by_file["coffee.jpg"]["result"] == "processed"
        # run --out: what the workflow wrote outlives the cloud
        coffee = results / "coffee"
        with Image.open(coffee / "png.png") as png, Image.open(coffee / "thumbnail.jpg") as thumbnail:
            assert png.format == "PNG" and thumbnail.format == "JPEG"
            assert png.size == (400, 300) or png.size[0] > thumbnail.size[0]
        metadata = json.loads((coffee / "metadata.json").read_text())
        assert metadata["sourceKey"] == "uploads/cli/coffee.jpg"
        assert isinstance(metadata["width"], int) and isinstance(metadata["pngBytes"], int)
        assert json.loads((results / "not-a-jpeg" / "result.json").read_text())["reason"] == "not-a-jpeg"
        assert "placeholder account 123456789012" in done.stdout
        template = PROJECT / "build" / "prod" / "cloudformation-template-update-stack.json"
        assert "image-converter-prod-image-workflow" in template.read_text()
    finally:
        if created:
            shutil.rmtree(results, ignore_errors=True)


@pytest.fixture(scope="module")
def make_up(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """`make up` as the README says, on a free port (LOCALCLOUD_PORT)."""
    start = section_blocks("Run it locally")[1].split("#")[0].strip()
    port = str(free_port())
    log = tmp_path_factory.mktemp("up") / "up.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {start}"],
            cwd=PROJECT,
            env=users_shell() | {"LOCALCLOUD_PORT": port},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        while "Ctrl-C stops it" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield port, log.read_text()
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def test_up_prints_what_the_readme_says_and_fits_the_terminal(make_up):
    port, banner = make_up
    assert all(len(line) <= 100 for line in banner.splitlines()), max(banner.splitlines(), key=len)
    assert f"http://127.0.0.1:{port}/_console/" in banner
    assert f"http://127.0.0.1:{port}/_api/local/upload" in banner
    assert "execute-api" not in banner.replace("the execute-api URL", "")
    suggested = banner.split("From another shell")[1].split("Ctrl-C")[0].strip().splitlines()[1:]
    documented = section_blocks("Run it locally")[2].replace(DOCUMENTED_PORT, port).splitlines()
    assert suggested and [line.strip() for line in suggested] == [line.strip() for line in documented[: len(suggested)]]


@pytest.fixture(scope="module")
def another_shell(make_up) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The block of commands from another shell, run once against `make up`."""
    port, _ = make_up
    block = section_blocks("Run it locally")[2].replace(DOCUMENTED_PORT, port)
    return port, run_block(block, users_shell(), timeout=900)


def test_commands_from_another_shell(another_shell):
    _, done = another_shell
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert re.search(r"me/chelsea\.jpg\s+processed", out)  # executions --wait
    assert re.search(r"INFO +\w+ +png written key=", out)  # logs resizeImage (readable; --json: raw)
    assert '"key": "thumbnails/me/rocket-' in out  # invoke makeThumbnail
    stored = json.loads(next(line for line in out.splitlines() if line.startswith('{"bucket"')))  # curl, signed in
    assert f"signed in as me (sub {stored['userId']})" in done.stderr  # the token command's note
    assert re.fullmatch(r"[0-9a-f-]{36}", stored["userId"]) and stored["key"].startswith(f"uploads/{stored['userId']}/")
    assert "SUCCEEDED" in out  # list-executions
    assert "png/me/chelsea-" in out  # s3 ls
    assert "uploads/me/chelsea.jpg" in out  # the photos table
    assert "backfill finished: 1 photo, 1 processed, 0 failed" in out  # ops backfill --regenerate
    assert "nothing to redrive in stage local" in out or "dry run: " in out  # ops redrive --dry-run
    assert '"uploads_complete": true' in out and '"sqs.ReceiveMessage": 1' in out  # schedule reconcile
    assert "reconcile: rate(10 minutes), next 20" in out  # schedule
    assert re.search(r"\b12 passed, \d+ deselected", out)  # pytest -m e2e --stage local
    listings = out[out.index(" deselected") :]  # after them (s3 ls, the table): nothing of their users
    assert "/e2e-" not in listings


def test_verify_passes_against_a_cloud_started_apart_and_leaves_nothing(another_shell):
    """CI runs `make verify` against a local cloud that `make up` runs as a separate process,
    with nothing but the variables the README exports (its endpoint and dummy credentials)."""
    port, done = another_shell
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    report = out[out.index("verify verify-") : out.index("Removed:")]
    assert "8 checks: 8 ok; the stage works as designed." in report
    assert "check 4/8 sign-in" in report and "skipped" not in report  # POST /upload through its execute-api URL
    assert all(len(line) <= 100 for line in report.splitlines()), max(report.splitlines(), key=len)
    run_id, sub = run_of(out)
    assert sub and run_id not in out[out.index("Removed:") :] and sub not in out[out.index("Removed:") :]
    env = LocalCloud.client_environment_for(f"http://127.0.0.1:{port}")
    outputs = stack_outputs(env, "image-converter-local")
    assert leftovers(lambda service: aws_client(env, service), outputs, run_id, sub) == []
