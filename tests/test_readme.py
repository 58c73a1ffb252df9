"""Every command block the README or a docs page tells a user to type (```bash), run exactly
as written (only the port changes), in a shell like a user's: from the project folder, with
no AWS variables of the test session. A block that no test here runs says why before it, in
a comment a reader sees in the source: `<!-- not-run: needs a deployed stage -->` (it
addresses a stage on AWS: placeholders, your credentials) or `<!-- not-run: a benchmark -->`
(minutes of figures, no assertion: `make bench-*`). A block that is neither fails
`test_every_command_block_is_run_or_says_why_not`.

A command that breaks fails this file; new local commands go into the blocks below. Blocks
that need a running cloud are run against the one `make up` of this module, in one shell."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from localcloud.clients import aws_client
from localcloud.cloud import LocalCloud
from localcloud.tools.deploy import stack_outputs
from tests import images as pictures
from tests.leftovers import all_ok_line, check_line, leftovers, run_of

PROJECT = Path(__file__).resolve().parent.parent
README = PROJECT / "README.md"
DOCUMENTS = [README, *sorted((PROJECT / "docs").glob("*.md"))]
DOCUMENTED_PORT = "4566"
NOT_RUN = re.compile(r"<!-- not-run: (.+?) -->")
REASONS_NOT_TO_RUN = {
    "needs a deployed stage": "it addresses a stage on AWS, with your credentials",
    "a benchmark": "minutes of figures and no assertion (make bench-*)",
}


@dataclass(frozen=True)
class Block:
    """A ```bash block: the document it is in, the nearest heading above it, and which of
    that heading's blocks it is."""

    document: str
    heading: str
    index: int = 0

    def text(self) -> str:
        found = dict(bash_blocks(PROJECT / self.document))
        assert self in found, f"no block {self} (the documents were rearranged: update this file)"
        return found[self][0]


def bash_blocks(document: Path) -> list[tuple[Block, tuple[str, str | None]]]:
    """Every ```bash block of a document, with its text and the reason given before it for not
    running it (None: no reason given)."""
    name = str(document.relative_to(PROJECT))
    blocks, heading, counts, before = [], "", {}, ""
    lines = iter(document.read_text().splitlines(keepends=True))
    for line in lines:
        if line.startswith("```"):  # any fence: what is inside is neither a heading nor a block
            body = _fenced(lines)
            if line.startswith("```bash"):
                marked = NOT_RUN.fullmatch(before.strip())
                counts[heading] = counts.get(heading, -1) + 1
                blocks.append((Block(name, heading, counts[heading]), (body, marked.group(1) if marked else None)))
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip():
            before = line
    return blocks


def _fenced(lines: Iterator[str]) -> str:
    """The lines up to the closing fence (consumed)."""
    body = []
    for line in lines:
        if line.startswith("```"):
            break
        body.append(line)
    return "".join(body)


def commands(block: str) -> list[str]:
    """A block's commands: continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


QUICK_START = Block("README.md", "Quick start (two commands)")
ONE_SHOT = Block("README.md", "Run it locally", 0)
MAKE_UP = Block("README.md", "Run it locally", 1)
ANOTHER_SHELL = Block("README.md", "Run it locally", 2)
MORE_FROM_ANOTHER_SHELL = Block("docs/local-cloud.md", "More from the other shell")
BY_CAPTURE_TIME = Block("docs/photos.md", "Listing by capture time")
API_TOUR = Block("docs/api.md", "Try it on the local cloud")
ERASE_USER = Block("docs/api.md", "Erasure: what it removes, and what it cannot")
RUNTIME_FETCH = Block("docs/runtime.md", "What a worker runs")
PARITY = Block("docs/runtime.md", "The arm64 parity check")
# docs/app.md's blocks: run by tests/test_app.py (its user is made by the first).
APP_USER = Block("docs/app.md", "Open it locally", 0)
APP_BUILD = Block("docs/app.md", "Open it locally", 1)
# The blocks the tests below run (the quick start's `make demo` is one of ONE_SHOT's commands,
# its `make test` is what .ci/run runs).
RUN = {QUICK_START, ONE_SHOT, MAKE_UP, ANOTHER_SHELL, MORE_FROM_ANOTHER_SHELL, BY_CAPTURE_TIME, API_TOUR, ERASE_USER}
RUN |= {RUNTIME_FETCH, PARITY}
RUN |= {APP_USER, APP_BUILD}


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


def test_every_command_block_is_run_or_says_why_not():
    found = [(block, reason) for document in DOCUMENTS for block, (_, reason) in bash_blocks(document)]
    assert not RUN - {block for block, _ in found}, RUN - {block for block, _ in found}
    run_and_marked = [block for block, reason in found if block in RUN and reason]
    neither = [block for block, reason in found if block not in RUN and not reason]
    unknown = [(block, reason) for block, reason in found if reason and reason not in REASONS_NOT_TO_RUN]
    assert not run_and_marked, f"run by this file, yet marked not-run: {run_and_marked}"
    assert not neither, f"neither run by a test nor marked <!-- not-run: REASON -->: {neither}"
    assert not unknown, f"not-run reasons must be one of {sorted(REASONS_NOT_TO_RUN)}: {unknown}"


def test_the_quick_start_is_what_the_tests_and_ci_run():
    assert commands(QUICK_START.text()) == ["make demo", "make test"]
    assert "make demo" in commands(ONE_SHOT.text())  # run by test_commands_that_start_their_own_cloud
    ci = [line for line in (PROJECT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-2:] == ["make parity", "make test"]  # the arm64 parity check once, then the suite (its summary last)
    assert commands(MAKE_UP.text())[0].split()[:2] == ["make", "up"]
    assert "export AWS_ENDPOINT_URL" in ANOTHER_SHELL.text()


def test_the_readme_stays_a_front_door():
    assert len(README.read_text().splitlines()) <= 300


def env_example() -> dict[str, str]:
    text = (PROJECT / ".env.example").read_text()
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.M))


def test_the_readmes_settings_are_the_defaults():
    text = README.read_text()
    section = text[text.index("\n## Changing settings\n") :].split("\n## ")[1]
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", section, flags=re.M)
    defaults = env_example()
    assert len(rows) >= 8
    for name, default in rows:
        assert name in defaults, name
        assert default.strip().strip("`") == (defaults[name] or "(empty)"), name


def test_the_configuration_page_names_every_setting():
    page = (PROJECT / "docs" / "configuration.md").read_text()
    assert [name for name in env_example() if f"`{name}`" not in page] == []


def test_commands_that_start_their_own_cloud(tmp_path):
    one_shot = ONE_SHOT.text()
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
    start = MAKE_UP.text().split("#")[0].strip()
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
    documented = ANOTHER_SHELL.text().replace(DOCUMENTED_PORT, port).splitlines()
    assert suggested and [line.strip() for line in suggested] == [line.strip() for line in documented[: len(suggested)]]


@pytest.fixture(scope="module")
def another_shell(make_up) -> tuple[str, subprocess.CompletedProcess[str]]:
    """The blocks of commands from another shell, run once against `make up`, in one shell:
    the README's, then the docs' that go on from it."""
    port, _ = make_up
    block = (ANOTHER_SHELL.text() + MORE_FROM_ANOTHER_SHELL.text()).replace(DOCUMENTED_PORT, port)
    return port, run_block(block, users_shell(), timeout=900)


def test_commands_from_another_shell(another_shell):
    _, done = another_shell
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert re.search(r"(?m)^me +chelsea\.jpg +processed", out)  # executions --wait (the user folder apart)
    assert re.search(r"INFO +\w+ +png written key=", out)  # logs resizeImage (readable; --json: raw)
    assert '"key": "thumbnails/me/rocket-' in out  # invoke makeThumbnail
    stored = json.loads(next(line for line in out.splitlines() if line.startswith('{"bucket"')))  # curl, signed in
    assert f"signed in as me (sub {stored['userId']})" in done.stderr  # the token command's note
    assert re.fullmatch(r"[0-9a-f-]{36}", stored["userId"]) and stored["key"].startswith(f"uploads/{stored['userId']}/")
    assert stored["key"].endswith("-coffee.jpg")  # X-Filename: the photo keeps its name
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
    assert all_ok_line() in report
    assert check_line("sign-in") in report and "skipped" not in report  # POST /upload through its execute-api URL
    assert all(len(line) <= 100 for line in report.splitlines()), max(report.splitlines(), key=len)
    run_id, sub = run_of(out)
    assert sub and run_id not in out[out.index("Removed:") :] and sub not in out[out.index("Removed:") :]
    env = LocalCloud.client_environment_for(f"http://127.0.0.1:{port}")
    outputs = stack_outputs(env, "image-converter-local")
    client = lambda service: aws_client(env, service)  # noqa: E731
    assert leftovers(client, outputs, run_id, sub) == []
    # What stays, as docs/local-cloud.md says: its executions in Step Functions' history...
    stepfunctions = client("stepfunctions")
    listed = stepfunctions.list_executions(stateMachineArn=outputs["ImageWorkflowArn"])["executions"]
    inputs = [stepfunctions.describe_execution(executionArn=e["executionArn"])["input"] for e in listed]
    assert sum(f"uploads/{run_id}/" in given for given in inputs) >= 4
    # ...and its functions' log lines
    logs = client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/image-converter-local-")["logGroups"]
    lines = [e["message"] for g in groups for e in logs.filter_log_events(logGroupName=g["logGroupName"])["events"]]
    assert any(run_id in line for line in lines)


@pytest.fixture(scope="module")
def may_2024_photo(make_up, another_shell) -> str:
    """A photo of `me` taken in May 2024 (EXIF), uploaded once the other shell's blocks ran
    (their backfill regenerates `me`'s photos and counts them)."""
    port, _ = make_up
    env = LocalCloud.client_environment_for(f"http://127.0.0.1:{port}")
    outputs = stack_outputs(env, "image-converter-local")
    key = f"{outputs['UploadPrefix']}me/may-2024.jpg"
    photo = pictures.jpeg_bytes(pictures.photo("coffee.jpg"), exif=pictures.camera_exif(taken="2024:05:01 14:03:22"))
    aws_client(env, "s3").put_object(Bucket=outputs["UploadBucketName"], Key=key, Body=photo)
    photos, deadline = aws_client(env, "dynamodb"), time.monotonic() + 120
    scan = {"TableName": outputs["PhotosTableName"], "ProjectionExpression": "sourceKey"}
    while key not in [item["sourceKey"]["S"] for item in photos.scan(**scan)["Items"]]:
        assert time.monotonic() < deadline, f"{key} was not recorded"
        time.sleep(0.5)
    return key


def test_the_capture_time_query_finds_a_users_photos_of_a_month(make_up, may_2024_photo):
    port, _ = make_up
    environment = [c for c in commands(ANOTHER_SHELL.text()) if c.startswith((". ", "export "))]
    block = "\n".join(environment) + "\n" + BY_CAPTURE_TIME.text()
    done = run_block(block.replace(DOCUMENTED_PORT, port), users_shell(), timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    [item] = json.loads(done.stdout)["Items"]  # of `me`'s photos, the one taken in May 2024
    assert item["capturedAt"]["S"].startswith("2024-05-01T14:03:22")
    assert item["thumbnailKey"]["S"].startswith("thumbnails/me/may-2024-")


def test_the_photos_api_tour_and_the_operators_erasure_run(make_up):
    """docs/api.md's commands: a user follows an upload, lists, fetches and erases a photo, then
    the account; an operator erases another account."""
    port, _ = make_up
    environment = [c for c in commands(ANOTHER_SHELL.text()) if c.startswith((". ", "export "))]
    tour = run_block(API_TOUR.text().replace(DOCUMENTED_PORT, port), users_shell(), timeout=300)
    assert tour.returncode == 0, tour.stdout[-4000:] + tour.stderr[-4000:]
    lines = tour.stdout.splitlines()
    state = json.loads(next(line for line in lines if line.startswith('{"status"')))
    assert state["status"] == "processed" and state["photoId"]
    assert any('filename="coffee-png.png"' in line for line in lines)
    assert "204" in lines and '{"message": "no such photo"}' in lines
    assert json.loads(lines[-1]) == {"done": True, "photos": 0, "uploads": 0}
    block = "\n".join(environment) + "\n" + ERASE_USER.text()
    erased = run_block(block.replace(DOCUMENTED_PORT, port), users_shell(), timeout=120)
    assert erased.returncode == 0, erased.stdout[-4000:] + erased.stderr[-4000:]
    assert "the account is erased" in erased.stdout


def test_the_runtime_page_fetches_and_names_the_interpreters():
    done = run_block(RUNTIME_FETCH.text(), users_shell(), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(r"python3\.13 \(x86_64\): CPython 3\.13\.\d+ in ", done.stdout)
    assert re.search(r"python3\.13 \(arm64\): CPython 3\.13\.\d+ in ", done.stdout)


def test_the_parity_block_is_what_ci_runs():
    """`make parity` takes minutes: CI runs it once (.ci/run), before the suite."""
    assert PARITY.text().strip() == "make parity"
    assert "\nmake parity\n" in (PROJECT / ".ci" / "run").read_text()
