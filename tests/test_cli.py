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

from localcloud import cli, report
from localcloud.pipeline import Outcome
from localcloud.results import Result, result_of

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


def test_run_takes_folders(tmp_path):
    (tmp_path / "b.jpg").write_bytes(b"b")
    (tmp_path / "a.jpg").write_bytes(b"a")
    (tmp_path / ".hidden").write_bytes(b"x")
    (tmp_path / "nested").mkdir()
    single = tmp_path / "single.jpg"
    single.write_bytes(b"s")
    assert [p.name for p in cli.photo_paths([str(tmp_path)])] == ["a.jpg", "b.jpg", "single.jpg"]
    assert cli.photo_paths([str(single), str(tmp_path / "a.jpg")]) == [single, tmp_path / "a.jpg"]
    with pytest.raises(SystemExit, match="no files in folder"):
        cli.photo_paths([str(tmp_path / "nested")])


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
