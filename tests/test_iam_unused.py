"""Unused access: after the whole suite has run the workflow every way it can go (processed,
rejected, duplicate, each failure, HTTP and presigned uploads, missing uploads), every
permission a role of the stack grants was used by a call, or is justified in serverless.yml
(`# unused-locally: ...`, see localcloud/services/iam/unused.py).

This reads what the session's local cloud recorded, so it runs last (tests/conftest.py) and
only when the whole suite ran and passed: on a subset its verdict would depend on the subset.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from localcloud.services.iam import unused

RUN_LAST = True  # tests/conftest.py orders the session by this
ROOT = Path(__file__).resolve().parent.parent


def incomplete(session: pytest.Session, config: pytest.Config, this: pytest.Item) -> str | None:
    """Why this session cannot judge unused access, or None."""
    if session.testsfailed:
        return f"{session.testsfailed} test(s) failed"
    if any("::" in arg for arg in config.args):
        return "single tests were selected"
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and reporter.stats.get("deselected"):
        return "tests were deselected"
    collected = {Path(str(item.fspath)).resolve() for item in session.items}
    missing = sorted(p.name for p in (ROOT / "tests").glob("test_*.py") if p.resolve() not in collected)
    if missing:
        return "not collected: " + ", ".join(missing)
    if session.items[-1] is not this:
        return "it did not run last"
    return None


def test_every_granted_permission_was_used_or_is_justified(request, cloud, stack):
    reason = incomplete(request.session, request.config, request.node)
    if reason:
        pytest.skip(f"the unused-permission report needs the whole suite: {reason}")
    granted = unused.granted(boto3.client("cloudformation"), boto3.client("iam"), stack.name)
    justifications = unused.justifications((ROOT / "serverless.yml").read_text())
    report = unused.report(granted, cloud.iam.used, justifications)
    assert len(granted) > 40 and cloud.iam.used  # the stack's roles were read and calls were recorded
    assert [str(pair) for pair in report.unjustified] == [], "granted, never used, not justified in serverless.yml"
    assert [f"serverless.yml:{j.line}" for j in report.stale] == [], "justifications that match no unused permission"
