"""`pytest --stage STAGE` points the tests marked e2e at a deployed stage: here the session's
`test` stage, from a separate pytest process that has nothing but the endpoint variables (as a
shell pointed at AWS has its credentials). The marked tests pass through public APIs; the
others (fault injection, retry waits) are skipped as local-only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_e2e_tests_run_against_a_deployed_stage_and_the_others_are_skipped(cloud, stack):
    shell = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    shell |= cloud.client_environment()
    selected = "happy_path or transient_failure or (awkward and space)"
    command = [sys.executable, "-m", "pytest", "tests/test_workflow.py", "--stage", "test", "-k", selected]
    done = subprocess.run(
        [*command, "-p", "no:cacheprovider", "-rs", "-v"],
        cwd=PROJECT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed, 1 skipped" in done.stdout, done.stdout[-3000:]
    assert "test_happy_path_writes_every_output_and_deletes_the_source PASSED" in done.stdout
    assert "test_a_transient_failure_is_retried_on_the_articles_schedule SKIPPED" in done.stdout
    assert "local-only: not marked e2e" in done.stdout
    marked = subprocess.run(
        [*command, "-m", "e2e", "-p", "no:cacheprovider", "-q", "--collect-only"],
        cwd=PROJECT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
    )
    collected = [line.split("::")[-1] for line in marked.stdout.splitlines() if "::" in line]
    assert len(collected) == 2, marked.stdout[-2000:]  # of the three selected, the two marked e2e
    assert "test_happy_path_writes_every_output_and_deletes_the_source" in collected
    assert not [name for name in collected if "transient_failure" in name]
