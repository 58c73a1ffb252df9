"""python -m ops redrive: redrive a stage's failed, timed-out and aborted executions.

A redrive (Step Functions RedriveExecution) goes on from where an execution stopped, with the
same input and ARN; the states that succeeded are not run again (in a backfill, only the
photos that failed are processed again). Step Functions refuses executions that stopped more
than 14 days ago, that succeeded, or that are still running: those are listed as skipped.

An execution that ended in one of its Fail states (the image workflow's QuitMain, QuitResize,
... after a Catch) would fail there again: the Fail state is the state that failed. Those are
skipped too, saying so; their uploads are still in the bucket, for a new execution.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from . import executions
from .stage import Stage, aws_error
from .text import WIDTH, fit, middle, wrap

HELP = "redrive failed, timed-out and aborted executions from where they stopped"
REDRIVABLE_DAYS = 14


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        default=f"{REDRIVABLE_DAYS}d",
        help="executions started since: 30m, 6h, 3d or an ISO date (default: 14d, all redrivable)",
    )
    parser.add_argument(
        "--execution",
        action="append",
        default=[],
        metavar="ARN",
        help="redrive this execution (repeat for more); default: every unsuccessful one",
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be redriven, redrive nothing")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds to wait for the redriven executions to end (0: do not wait; default 900)",
    )


@dataclass
class Candidate:
    arn: str
    name: str
    machine: str
    status: str
    verdict: str = ""  # "redrive", or why not
    state: str | None = None
    redrive_count: int = 0  # before this redrive: its end is the first end with a higher count
    unreadable: bool = False  # asked for by ARN, and it could not be described


def run(args: argparse.Namespace, stage: Stage) -> int:
    try:
        since = executions.parse_since(args.since)
    except ValueError as error:
        print(wrap(f"redrive: {error}"))
        return 2
    candidates = _chosen(stage, args.execution) if args.execution else _unsuccessful(stage, since)
    if not candidates:
        print(fit(f"nothing to redrive in stage {stage.name} since {since:%Y-%m-%d %H:%M} UTC"))
        return 0
    sfn = stage.client("stepfunctions")
    redriven: list[Candidate] = []
    refused: list[Candidate] = []
    for candidate in candidates:
        _judge(stage, candidate)
        if candidate.verdict != "redrive":
            _line("skipped", candidate, candidate.verdict)
            continue
        if args.dry_run:
            _line("would redrive", candidate, f"from {candidate.state}")
            continue
        try:
            sfn.redrive_execution(executionArn=candidate.arn)
        except ClientError as error:
            candidate.verdict = aws_error(error)
            refused.append(candidate)
            _line("refused", candidate, candidate.verdict)
            continue
        redriven.append(candidate)
        _line("redriven", candidate, f"from {candidate.state}")
    ended = _wait(stage, redriven, args.timeout) if redriven and args.timeout > 0 else {}
    _summary(candidates, redriven, ended, args.dry_run)
    failed_again = [c for c in redriven if ended.get(c.arn) not in (None, "SUCCEEDED")]
    # A script must see that an execution it named, or one AWS refused, was not redriven.
    return 1 if failed_again or refused or any(c.unreadable for c in candidates) else 0


def _unsuccessful(stage: Stage, since: datetime) -> list[Candidate]:
    found = []
    for machine, arn in executions.state_machines(stage).items():
        try:
            for execution in executions.unsuccessful(stage, arn, since):
                found.append(Candidate(execution["executionArn"], execution["name"], machine, execution["status"]))
        except ClientError as error:
            if error.response["Error"]["Code"] != "StateMachineTypeNotSupported":
                raise
            print(fit(f"skipped   {machine}: an Express workflow keeps no executions to redrive"))
    return sorted(found, key=lambda c: c.name)


def _chosen(stage: Stage, arns: list[str]) -> list[Candidate]:
    names = {arn: name for name, arn in executions.state_machines(stage).items()}
    sfn = stage.client("stepfunctions")
    found = []
    for arn in arns:
        try:
            described = sfn.describe_execution(executionArn=arn)
        except ClientError as error:
            found.append(Candidate(arn, arn.rsplit(":", 1)[-1], "?", "?", aws_error(error), unreadable=True))
            continue
        machine = names.get(described["stateMachineArn"], described["stateMachineArn"].rsplit(":", 1)[-1])
        found.append(Candidate(arn, described["name"], machine, described["status"]))
    return found


def _judge(stage: Stage, candidate: Candidate) -> None:
    if candidate.verdict:  # already known: it could not be read
        return
    described = stage.client("stepfunctions").describe_execution(executionArn=candidate.arn)
    candidate.status = described["status"]
    candidate.redrive_count = described.get("redriveCount", 0)
    if described.get("redriveStatus") == "NOT_REDRIVABLE":
        candidate.verdict = described.get("redriveStatusReason") or "not redrivable"
        return
    stop = described.get("stopDate")
    if stop and datetime.now(UTC) - stop > timedelta(days=REDRIVABLE_DAYS):  # (for APIs without redriveStatus)
        candidate.verdict = "Execution redrivable period exceeded"
        return
    candidate.state, last, kind = executions.stopped_at(stage, candidate.arn)
    if kind == "Fail" and candidate.status == "FAILED":
        candidate.verdict = f"ended in its Fail state {last}: a redrive fails there again"
        return
    candidate.verdict = "redrive"


def _line(what: str, candidate: Candidate, detail: str) -> None:
    """`what machine name  detail`, the detail on the next line when it does not fit."""
    head = f"{what:<13} {candidate.machine:<8} {middle(candidate.name, 48)}"
    if len(head) + 2 + len(detail) <= WIDTH:
        print(f"{head}  {detail}")
    else:
        print(head)
        print(wrap(f"    {detail}", indent="    "))


def _wait(stage: Stage, redriven: list[Candidate], timeout: float) -> dict[str, str]:
    sfn = stage.client("stepfunctions")
    ended: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    print(fit(f"waiting for {len(redriven)} redriven execution(s) to end"))
    while len(ended) < len(redriven) and time.monotonic() < deadline:
        for candidate in redriven:
            if candidate.arn in ended:
                continue
            described = sfn.describe_execution(executionArn=candidate.arn)
            status = described["status"]
            # DescribeExecution is eventually consistent: right after the redrive it may still
            # show the old end, which the redrive count tells apart.
            if status != "RUNNING" and described.get("redriveCount", 0) > candidate.redrive_count:
                ended[candidate.arn] = status
                _line(status.lower(), candidate, f"after its redrive from {candidate.state}")
        time.sleep(1)
    return ended


def _summary(candidates: list[Candidate], redriven: list[Candidate], ended: dict[str, str], dry_run: bool) -> None:
    skipped = [c for c in candidates if c.verdict != "redrive"]
    if dry_run:
        would = len(candidates) - len(skipped)
        print(fit(f"dry run: {would} of {len(candidates)} execution(s) would be redriven, {len(skipped)} skipped"))
        return
    succeeded = sum(1 for c in redriven if ended.get(c.arn) == "SUCCEEDED")
    failed = sum(1 for c in redriven if ended.get(c.arn) in executions.UNSUCCESSFUL)
    running = len(redriven) - succeeded - failed
    parts = [f"redriven {len(redriven)} of {len(candidates)}", f"{succeeded} succeeded", f"{failed} failed again"]
    if running:
        parts.append(f"{running} still running")
    parts.append(f"{len(skipped)} skipped")
    print(fit(": ".join([parts[0], ", ".join(parts[1:])])))
