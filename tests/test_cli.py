"""The command line as a new user meets it: arguments checked with clear messages, output
that fits a 100-column terminal, results that say why, commands that work from any folder."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.tools import cli, report, settings
from localcloud.tools.pipeline import Outcome
from localcloud.tools.results import Result, result_of
from tests import images as pictures
from tests import serverless_yml

PROJECT = Path(__file__).resolve().parent.parent


def localcloud(*args: str, cwd: Path = PROJECT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localcloud", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_port_out_of_range_is_refused_with_a_clear_message():
    done = localcloud("up", "--port", "99999")
    assert done.returncode == 2
    assert "99999 is not a port number (0-65535" in done.stderr


def test_a_bad_localcloud_port_is_named():
    done = localcloud("up", "-h", env=os.environ | {"LOCALCLOUD_PORT": "http"})
    assert done.returncode != 0 and "LOCALCLOUD_PORT" in done.stderr


def test_up_help_mentions_localcloud_port():
    assert "LOCALCLOUD_PORT" in localcloud("up", "-h").stdout


def test_commands_work_from_any_folder(tmp_path):
    done = localcloud("run", "no-such-photo.jpg", cwd=tmp_path)
    assert "No module named" not in done.stderr
    assert done.returncode != 0 and "no such file or folder: no-such-photo.jpg" in done.stderr


JPEG_START = b"\xff\xd8\xff\xe0"


def test_run_takes_folders(tmp_path):
    (tmp_path / "b.jpg").write_bytes(JPEG_START + b"b")
    (tmp_path / "a.jpg").write_bytes(JPEG_START + b"a")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "nested").mkdir()
    single = tmp_path / "single.jpg"
    single.write_bytes(JPEG_START + b"s")
    assert [p.name for p in cli.photo_paths([str(tmp_path)])] == ["a.jpg", "b.jpg", "single.jpg"]
    assert cli.photo_paths([str(single), str(tmp_path / "a.jpg")]) == [single, tmp_path / "a.jpg"]
    with pytest.raises(SystemExit, match="no files in folder"):
        cli.photo_paths([str(tmp_path / "nested")])


def test_a_folder_gives_its_pictures_only_and_says_what_it_skipped(tmp_path, capsys):
    """`run samples/` once uploaded samples/manifest.json too ("rejected: not-an-image"). A
    picture in another format stays: the workflow says why it rejects it (not-a-jpeg)."""
    folder = PROJECT / "samples"
    taken = [p.name for p in cli.photo_paths([str(folder)])]
    assert taken == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "not-a-jpeg.png", "rocket.jpg", "truncated.jpg"]
    said = capsys.readouterr().err
    assert "skipped in" in said and "manifest.json" in said
    assert all(len(line) <= report.WIDTH for line in said.splitlines())
    heic = tmp_path / "IMG_0001.HEIC"  # judged by content, not by name
    heic.write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 16)
    (tmp_path / "notes.jpg").write_text("not a photo, whatever its name")
    (tmp_path / "clip.mp4").write_bytes(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2" + b"\0" * 16)
    pictures.photo().save(tmp_path / "scan.tif", format="TIFF")
    assert cli.photo_paths([str(tmp_path)]) == [heic, tmp_path / "scan.tif"]
    assert cli.photo_paths([str(tmp_path / "notes.jpg")]) == [tmp_path / "notes.jpg"]  # named: taken as it is
    for picture in (heic, tmp_path / "scan.tif"):
        picture.unlink()
    with pytest.raises(SystemExit, match="no images in folder"):
        cli.photo_paths([str(tmp_path)])


def test_the_demo_table_fits_100_columns_and_says_why():
    written = [
        {"kind": "original", "bytes": 35042},
        {"kind": "png", "bytes": 211_983},
        {"kind": "thumbnail", "bytes": 10_516},
    ]
    outcomes = [
        Outcome("chelsea.jpg", "k1", "SUCCEEDED", Result("processed"), outputs=written, seconds=1.23),
        Outcome("not-a-jpeg.png", "k2", "SUCCEEDED", Result("rejected", "not-a-jpeg"), seconds=0.4),
        Outcome("chelsea-again.jpg", "k3", "SUCCEEDED", Result("duplicate", "uploads/demo/chelsea.jpg")),
        Outcome(
            "a-photo-with-a-rather-long-name-from-a-camera.jpg",
            "k4",
            "FAILED",
            Result("failed", "States.TaskFailed: " + "a long error message " * 10),
        ),
    ]
    text = report.outcomes_table(outcomes)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, text
    assert "rejected: not-a-jpeg" in text
    assert "duplicate of uploads/demo/chelsea.jpg" in text
    assert "chelsea-again.jpg" in text  # the name it was uploaded as, not the sample's
    assert "png 207 KiB" in text.replace("\n", " ")
    assert len(lines) <= 2 + 2 * len(outcomes)  # at most two lines per row


def test_the_executions_table_keeps_names_readable_and_the_user_folder_apart():
    """`executions` once cut names to 18 characters (`c01352ef-5b39-4df1 / -8033-0b0b5c2e518…`)."""
    sub = "c01352ef-5b39-4df1-8033-0b0b5c2e518f"
    written = [{"kind": kind, "bytes": 100_000} for kind in ("original", "png", "thumbnail")]
    outcomes = [
        Outcome(f"{sub}/4f1c8a0b9e2d4c6f8a1b3c5d7e9f0a12-Summer-holiday-2024.jpg", "k1", "SUCCEEDED",
                Result("processed"), outputs=written, seconds=2.5),
        Outcome("demo/chelsea.jpg", "k2", "SUCCEEDED", Result("regenerated", "made again"), seconds=1),
        Outcome("orphan.jpg", "k3"),
    ]  # fmt: skip
    lines = report.outcomes_table(outcomes, by_user=True).splitlines()
    assert max(map(len, lines)) <= report.WIDTH, lines
    assert lines[0].split() == ["user", "file", "result", "written", "time"]
    first = lines[2]
    assert first.startswith("c01352…e518f ")  # the user, shortened in the middle
    assert "4f1c8a0b…Summer-holiday-2024.jpg" in first  # the end of the name kept whole
    assert "3 files, 293 KiB" in first and "processed" in first
    [orphan] = [line for line in lines if "orphan.jpg" in line]
    assert orphan.split()[:3] == ["-", "orphan.jpg", "failed:"]
    assert report.shorten_middle("abcdefghij", 7, 0.5) == "abc…hij" and report.shorten_middle("short", 5) == "short"


def test_executions_filters_are_offered_and_checked():
    text = localcloud("executions", "--help").stdout
    for option in ("--user", "--result", "--since"):
        assert option in text
    assert "regenerated" in text  # every result kind a filter can take
    done = localcloud("executions", "--result", "weird")
    assert done.returncode == 2 and "invalid choice: 'weird'" in done.stderr


def test_logs_are_readable_lines_within_100_columns_and_raw_with_json():
    record = {
        "level": "INFO",
        "location": "handler:42",
        "message": "uniqueness checked",
        "timestamp": "2026-12-06 05:00:00,123+0000",
        "service": "image-converter",
        "cold_start": True,
        "function_name": "image-converter-local-checkDuplicate",
        "function_memory_size": "512",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:image-converter-local-checkDuplicate",
        "function_request_id": "6f1e2d3c-aaaa-bbbb-cccc-111122223333",
        "xray_trace_id": "1-67890abc-def012345678901234567890",
        "key": "uploads/c01352ef-5b39-4df1-8033-0b0b5c2e518f/4f1c8a0b9e2d4c6f-photo.jpg",
        "duplicate": False,
        "contentHash": "9" * 64,
    }
    raw = json.dumps(record)
    assert len(raw) > 500
    lines = report.log_lines(1_796_532_000_123, raw)
    assert all(len(line) <= report.WIDTH for line in lines), lines
    assert lines[0].startswith("04:40:00.123 INFO    6f1e2d3c uniqueness checked")  # UTC, as AWS shows it
    assert all(line.startswith("    ") for line in lines[1:])  # wrapped under it
    assert any(line.strip() == f"key={record['key']}" or f" key={record['key']}" in line for line in lines)
    text = " ".join(lines)
    assert "duplicate=false" in text and "contentHash=999" in text
    assert "xray_trace_id" not in text and "function_arn" not in text  # what every line carries
    failed = report.log_lines(
        0, json.dumps({"level": "ERROR", "message": "boom", "exception": "Trace\n  ...\nKeyError: 'x'"})
    )
    assert failed[0].endswith("boom exception=KeyError: 'x'")
    plain = "REPORT RequestId: 6f1e2d3c\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\t" * 2
    assert all(len(line) <= report.WIDTH for line in report.log_lines(0, plain))
    text = localcloud("logs", "--help").stdout
    assert "--json" in text
    for function in serverless_yml.functions():
        assert function in text, function  # every function of the stage, not only those `invoke` runs


def test_up_says_which_settings_the_stages_dotenv_changed(tmp_path):
    """`up` gave no sign that .env.<stage> was read. The defaults are serverless.yml's own."""
    (tmp_path / "serverless.yml").write_text((PROJECT / "serverless.yml").read_text())
    (tmp_path / ".env.photos").write_text("THUMBNAIL_SIZE=128\nLOG_LEVEL=INFO\nRECONCILE_SCHEDULE=rate(1 day)\n")
    lines = cli.settings_lines("photos", {"DAILY_UPLOAD_QUOTA": "5", "THUMBNAIL_SIZE": "64"}, tmp_path)
    assert all(len(line) <= report.WIDTH for line in lines), lines
    assert ".env.photos read" in lines[0]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"THUMBNAIL_SIZE", "RECONCILE_SCHEDULE", "DAILY_UPLOAD_QUOTA"}  # LOG_LEVEL is the default
    assert rows["THUMBNAIL_SIZE"].split()[1:] == ["64", "(default", "'256';", "from", "environment)"]
    assert "rate(1 day) (default 'rate(10 minutes)'; from .env.photos)" in rows["RECONCILE_SCHEDULE"]
    (tmp_path / ".env").write_text("THUMBNAIL_SIZE=256\n")  # read only where no .env.<stage> exists
    assert cli.settings_lines("other", {}, tmp_path) == [
        "\nSettings: serverless.yml's defaults (.env read; .env.example lists them)."
    ]
    (tmp_path / ".env").unlink()
    assert "no .env.other or .env file" in cli.settings_lines("other", {}, tmp_path)[0]
    defaults = settings.defaults()
    example = (PROJECT / ".env.example").read_text()
    assert defaults["THUMBNAIL_SIZE"] == "256" and defaults["IMPORT_BUCKET"] == ""
    assert all(name in example for name in defaults), [name for name in defaults if name not in example]


def test_progress_and_suggested_commands_fit_and_still_parse():
    outcome = Outcome("x" * 150 + ".jpg", "k", "SUCCEEDED", Result("rejected", "not-an-image"), seconds=1)
    assert len(report.progress_line(outcome, 3, 7)) <= 100
    words = ["curl", "-X", "POST", "-H", "Content-Type: image/jpeg", "http://127.0.0.1:4566/" + "p" * 60, "@a b.jpg"]
    lines = report.command_lines(words)
    assert all(len(line) <= 100 for line in lines) and len(lines) > 1
    assert shlex.split(" ".join(line.removesuffix("\\") for line in lines)) == words


def test_up_suggests_an_environment_the_projects_aws_cli_can_use():
    env = cli.LocalCloud.client_environment_for("http://127.0.0.1:4566")
    [export] = [words for words in cli.another_shell("http://127.0.0.1:4566", "local", OUTPUTS) if words[0] == "export"]
    assert "AWS_DEFAULT_REGION=us-east-1" in export  # the AWS CLI v1 ignores AWS_REGION
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"]


OUTPUTS = {"UploadBucketName": "bucket", "UploadPrefix": "uploads/"}


def execution(status: str, output: dict | None = None, **fields: str) -> dict:
    return {"status": status, "output": json.dumps(output) if output is not None else None, **fields}


@pytest.mark.parametrize(
    ("described", "summary"),
    [
        (execution("RUNNING"), "running"),
        (execution("SUCCEEDED", {"results": {"fileType": {"accepted": True}, "uniqueness": {}}}), "processed"),
        (
            execution("SUCCEEDED", {"results": {"fileType": {"accepted": False, "reason": "not-a-jpeg"}}}),
            "rejected: not-a-jpeg",
        ),
        (
            execution(
                "SUCCEEDED",
                {
                    "results": {
                        "fileType": {"accepted": True},
                        "uniqueness": {"duplicate": True, "ofKey": "uploads/a.jpg"},
                    }
                },
            ),
            "duplicate of uploads/a.jpg",
        ),
        (
            execution(
                "SUCCEEDED",
                {
                    "results": {"uniqueness": {"duplicate": False, "contentHash": "abc"}},
                    "error": {"Error": "DuplicatePhoto"},
                },
            ),
            "duplicate of abc",
        ),
        (
            execution(
                "SUCCEEDED",
                {
                    "results": {
                        "uniqueness": {
                            "duplicate": True,
                            "match": "near",
                            "owner": "self",
                            "ofKey": "uploads/me/a.jpg",
                            "distance": 2,
                            "keepUpload": True,
                        }
                    }
                },
            ),
            "duplicate of uploads/me/a.jpg (2 bits apart, upload kept)",
        ),
        (
            execution(
                "SUCCEEDED",
                {"results": {"uniqueness": {"duplicate": True, "match": "exact", "owner": "other", "of": "abc"}}},
            ),
            "duplicate of another user's photo",  # never named
        ),
        (
            execution(
                "SUCCEEDED",
                {
                    "results": {
                        "uniqueness": {
                            "duplicate": False,
                            "similarTo": {"owner": "self", "sourceKey": "uploads/me/a.jpg", "distance": 0},
                        }
                    }
                },
            ),
            "processed: similar to uploads/me/a.jpg (0 bits apart)",
        ),
        (
            execution("FAILED", error="States.TaskFailed", cause='{"errorMessage": "boom", "errorType": "X"}'),
            "failed: States.TaskFailed: boom",
        ),
        (execution("TIMED_OUT"), "failed: unknown error"),
        (  # ops backfill --regenerate: its uniqueness check found the photo's own record
            execution(
                "SUCCEEDED",
                {
                    "backfill": {"mode": "regenerate", "source": "s3://dest/originals/me/a-1f2e.jpg", "run": "r"},
                    "results": {
                        "fileType": {"accepted": True},
                        "uniqueness": {"duplicate": True, "match": "exact", "owner": "self", "ofKey": "uploads/me/a"},
                        "outputs": {"original": {"bucket": "dest", "key": "originals/me/a-1f2e.jpg"}},
                    },
                },
            ),
            "regenerated from originals/me/a-1f2e.jpg",
        ),
        (  # an import is an upload like any other: its duplicates stay duplicates
            execution(
                "SUCCEEDED",
                {
                    "backfill": {"mode": "import", "source": "s3://in/a.jpg", "run": "r"},
                    "results": {"fileType": {"accepted": True}, "uniqueness": {"duplicate": True, "ofKey": "u/a"}},
                },
            ),
            "duplicate of u/a",
        ),
    ],
)
def test_every_result_says_why(described, summary):
    assert str(result_of(described)) == summary


def test_the_serverless_cli_runs_on_the_pinned_node_lts_without_warnings(cloud, stack):
    """`npx sls info` as the README types it (it builds AWS SDK clients, which warn on an old
    Node), from a shell whose own Node may be older."""
    package = json.loads((PROJECT / "package.json").read_text())
    pinned = package["devDependencies"]["node"]
    assert int(pinned.split(".")[0]) >= 22 and package["engines"]["node"] == ">=22"
    assert "Node.js 22" in (PROJECT / "README.md").read_text()
    env = os.environ | cloud.client_environment() | {"SLS_TELEMETRY_DISABLED": "1"}
    version = subprocess.run(["npx", "node", "--version"], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert version.stdout.strip() == f"v{pinned}"
    info = ["info", "--stage", "test"]
    done = subprocess.run(["npx", "sls", *info], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stack.name in done.stdout
    assert "Warning" not in done.stdout + done.stderr, done.stderr
    # The control: the machine's own Node, if older, is what the pin saves users from.
    system_node = subprocess.run(["node", "-p", "process.versions.node"], capture_output=True, text=True).stdout
    if int(system_node.split(".")[0]) < 22:
        sls = str(PROJECT / "node_modules" / ".bin" / "sls")
        old = subprocess.run(["node", sls, *info], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
        assert "NodeVersionSupportWarning" in old.stderr
