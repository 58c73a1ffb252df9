"""Nothing is lost: every upload gets an execution, however its S3 event fared.

Two paths start executions, and both name them the same way (keys.execution_name): from the
version of the upload as S3 holds it (Last-Modified and ETag) and an attempt number.
- startWorkflow, on the S3 event: attempt 1. Lambda retries it on an error; once its retries
  are spent the event goes to the failure queue (the function's on-failure destination).
- The reconciler, on a schedule: uploads older than RECONCILE_AFTER_MINUTES with no running or
  succeeded execution, and the uploads named by events in the failure queue, get the next
  attempt. After RECONCILE_MAX_ATTEMPTS failed executions an upload is left where it is and
  reported once to the operations topic (a "poison" photo).
Because the names are deterministic, two starters that race (a late S3 event and the
reconciler, or two reconciler runs) ask for the same name and Step Functions refuses the
second: an upload version is never processed twice at the same attempt.

Cost of one reconciler run, in requests: SQS ReceiveMessage 1 + 1 per 10 messages and
DeleteMessageBatch 1 per 10; S3 HeadObject 1 per object named in the queue, ListObjectsV2 1
per 1,000 uploads and 1 per 1,000 poison reports; Step Functions ListExecutions 1 per 1,000
executions started since the oldest upload waiting, StartExecution 1 per start; for each new
poison photo DescribeExecution, PutObject and Publish once. Bounded by RECONCILE_MAX_STARTS
(starts and messages per run) and MAX_PAGES (per listing); what does not fit waits for the
next run. The run's result says what each call cost (`requests`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from . import aws, config, keys
from .workflow import SourceObject

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import DescribeExecutionOutputTypeDef

MAX_PAGES = 10  # per listing and run: 10,000 uploads, poison reports or executions
ACTIVE = {"RUNNING", "SUCCEEDED", "PENDING_REDRIVE"}  # an execution that has it in hand or did it
FAILED = {"FAILED", "TIMED_OUT", "ABORTED"}


@dataclass(frozen=True)
class Upload:
    """One version of an uploaded object."""

    stored: aws.StoredObject

    @property
    def version(self) -> str:
        return keys.object_version(self.stored.last_modified, self.stored.etag)

    @property
    def tags(self) -> tuple[str, str]:
        bucket, key = self.stored.bucket, self.stored.key
        return keys.key_tag(bucket, key), keys.version_tag(bucket, key, self.version)

    def execution_name(self, attempt: int) -> str:
        return keys.execution_name(self.stored.bucket, self.stored.key, self.version, attempt)


def start(upload: Upload, attempt: int, sequencer: str | None = None) -> tuple[str, bool]:
    """Starts attempt `attempt` at the upload: its ARN, and whether this call started it (False:
    an execution of that name exists, someone else started it)."""
    stored = upload.stored
    source = SourceObject(stored.bucket, stored.key, stored.size, stored.etag.strip('"'), sequencer)
    state = source.to_state(source.user_id)
    return aws.start_execution(config.state_machine_arn(), upload.execution_name(attempt), state)


def start_from_event(source: SourceObject) -> dict[str, Any]:
    """startWorkflow's part: attempt 1 at the object an S3 event names, as S3 holds it now. An
    object that is gone (processed and deleted already, when the event is a late redelivery, or
    deleted by someone) has nothing to process. On AWS, a StartExecution with the name and
    input of a running execution succeeds without starting another: `started` is then true."""
    stored = aws.head(source.bucket, source.key)
    if stored is None:
        return {"key": source.key, "executionArn": None, "started": False, "reason": "the object no longer exists"}
    arn, started = start(Upload(stored), 1, source.sequencer)
    return {"key": source.key, "executionArn": arn, "started": started}


# -- the reconciler ------------------------------------------------------------------------
@dataclass
class Run:
    """What one reconciler run found and did (the handler's result)."""

    uploads_listed: int = 0
    uploads_complete: bool = True  # False: more uploads than MAX_PAGES pages
    candidates: int = 0
    in_hand: int = 0  # running or succeeded already
    started: list[str] = field(default_factory=list)
    poison_reported: list[str] = field(default_factory=list)
    deferred: int = 0  # for the next run (start limit, or executions beyond the page limit)
    queue_messages: int = 0
    queue_deleted: int = 0
    queue_unreadable: int = 0  # not an S3 event: left in the queue, where its alarm tells someone
    queue_errors: list[str] = field(default_factory=list)  # objects that could not be looked up (left too)
    gone: int = 0  # named in the queue, no longer in the bucket
    upload_errors: list[str] = field(default_factory=list)  # uploads a call failed for (tried again next run)
    requests: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Candidate:
    upload: Upload
    receipts: list[str] = field(default_factory=list)  # failure-queue messages naming it


def failed_event_objects(body: str) -> list[tuple[str, str]] | None:
    """(bucket, key) of each object of the S3 event in a failure-queue message: a Lambda
    destination record (the event is its requestPayload) or the event itself. None if the
    message is neither."""
    try:
        message = json.loads(body)
        event = message.get("requestPayload", message) if isinstance(message, dict) else None
        records = event["Records"] if isinstance(event, dict) else None
        return [(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"])) for r in records or []] or None
    except (ValueError, KeyError, TypeError):
        return None


def reconcile(now: datetime | None = None, older_than_minutes: int | None = None) -> Run:
    """One run: the failure queue first, then the uploads waiting too long. `older_than_minutes`
    overrides RECONCILE_AFTER_MINUTES (an operator reconciling at once after an incident)."""
    now = now or datetime.now(UTC)
    before = aws.requests_made()
    run = Run()
    bucket, prefix = config.upload_bucket(), config.upload_prefix()
    max_starts, max_attempts = config.reconcile_max_starts(), config.reconcile_max_attempts()
    after = config.reconcile_after_minutes() if older_than_minutes is None else older_than_minutes
    queue_url = config.failed_events_queue_url()

    candidates: dict[tuple[str, str], _Candidate] = {}
    pending: dict[str, int] = {}  # receipt handle -> objects of its message not handled yet
    for message in aws.receive_messages(queue_url, max_starts):
        run.queue_messages += 1
        objects = failed_event_objects(message.get("Body", ""))
        if objects is None:
            run.queue_unreadable += 1
            continue
        receipt = message["ReceiptHandle"]
        pending[receipt] = 0
        for object_bucket, key in objects:
            try:
                stored = aws.head(object_bucket, key)
            except Exception as error:  # one message must not stop the run (another bucket, a denial)
                run.queue_errors.append(f"s3://{object_bucket}/{key}: {error}"[:300])
                pending[receipt] += 1  # never reaches 0: the message stays
                continue
            if stored is None:
                run.gone += 1
                continue
            upload = Upload(stored)
            candidates.setdefault(upload.tags, _Candidate(upload)).receipts.append(receipt)
            pending[receipt] += 1

    poison_prefix = config.poison_prefix()
    reports, _ = aws.list_objects(bucket, poison_prefix, MAX_PAGES)
    reported = {tags for r in reports if (tags := keys.parse_poison_report_key(poison_prefix, r.key))}
    listed, run.uploads_complete = aws.list_objects(bucket, prefix, MAX_PAGES)
    run.uploads_listed = len(listed)
    cutoff = now - timedelta(minutes=after)
    for stored in listed:
        upload = Upload(stored)
        if stored.last_modified <= cutoff and upload.tags not in reported:
            candidates.setdefault(upload.tags, _Candidate(upload))
    run.candidates = len(candidates)

    executions: dict[tuple[str, str], list[dict[str, Any]]] = {}
    seen_since = now
    if candidates:
        oldest = min(c.upload.stored.last_modified for c in candidates.values())
        found, reached = aws.list_executions(config.state_machine_arn(), lambda started: started < oldest, MAX_PAGES)
        for execution in found:
            name = keys.parse_execution_name(execution["name"])
            if name:
                executions.setdefault(name.upload, []).append(execution | {"attempt": name.attempt})
        # Stopped at the page limit: uploads older than what was listed may have executions unseen.
        seen_since = oldest if reached else min((e["startDate"] for e in found), default=now)

    for tags, candidate in sorted(candidates.items(), key=lambda item: item[1].upload.stored.last_modified):
        if candidate.upload.stored.last_modified < seen_since:
            run.deferred += 1
            continue
        runs = executions.get(tags, [])
        try:
            if any(e["status"] in ACTIVE for e in runs):
                run.in_hand += 1
            elif sum(e["status"] in FAILED for e in runs) >= max_attempts:
                if tags not in reported and report_poison(candidate.upload, runs, max_attempts):
                    run.poison_reported.append(candidate.upload.stored.key)
            elif len(run.started) < max_starts:
                attempt = max((e["attempt"] for e in runs), default=0) + 1
                arn, started = start(candidate.upload, attempt)
                if started:
                    run.started.append(arn)
                else:
                    run.in_hand += 1  # another starter got there first
            else:
                run.deferred += 1
                continue
        except Exception as error:  # one upload must not stop the others (a denial, a throttled call)
            run.upload_errors.append(f"{candidate.upload.stored.key}: {error}"[:300])
            continue  # its messages stay in the queue, and the next run tries again
        for receipt in candidate.receipts:
            pending[receipt] -= 1
    handled = [receipt for receipt, left in pending.items() if left == 0]
    aws.delete_messages(queue_url, handled)
    run.queue_deleted = len(handled)
    run.requests = {name: count - before.get(name, 0) for name, count in aws.requests_made().items()}
    run.requests = {name: count for name, count in sorted(run.requests.items()) if count}
    return run


def report_poison(upload: Upload, runs: list[dict[str, Any]], max_attempts: int) -> bool:
    """Reports an upload given up on, once: the report is written to the upload bucket only if
    none is there (a conditional write, so two runs cannot both report it), then published to
    the operations topic. If publishing fails the report is taken back, for the next run."""
    stored = upload.stored
    last = max(runs, key=lambda e: e["attempt"])
    described = aws.describe_execution(last["executionArn"])
    report = poison_report(upload, runs, described)
    report_key = keys.poison_report_key(config.poison_prefix(), stored.bucket, stored.key, upload.version)
    body = json.dumps(report, indent=2, default=str).encode()
    if not aws.put_new_object(stored.bucket, report_key, body, "application/json"):
        return False
    try:
        subject = f"Upload given up on after {max_attempts} failed runs"  # SNS subjects: ASCII, no key
        aws.publish(config.operations_topic_arn(), subject, report["text"])
    except Exception:
        aws.delete(stored.bucket, report_key)
        raise
    return True


def poison_report(upload: Upload, runs: list[dict[str, Any]], last: DescribeExecutionOutputTypeDef) -> dict[str, Any]:
    """What operators are told about an upload given up on: a text for people, and the same as
    fields (kept as JSON beside the upload)."""
    stored = upload.stored
    where = f"s3://{stored.bucket}/{stored.key}"
    error = f"{last.get('error', 'unknown')}: {last.get('cause', '')}".strip(": ")
    ordered = sorted(runs, key=lambda e: e["attempt"])
    lines = [
        f"{stored.key} was given up on: its workflow failed {len(ordered)} times and will not be retried.",
        f"The upload is kept at {where} ({stored.size:,} bytes, uploaded {stored.last_modified:%Y-%m-%d %H:%M:%S %Z}).",
        f"Last error: {error[:1000]}",
        "Executions:",
        *(f"  {e['status']:9} {e['executionArn']}" for e in ordered),
        "To process it again once the cause is fixed, write it again (a new version is a new upload):",
        f"  aws s3 cp {where} {where} --metadata-directive REPLACE",
    ]
    return {
        "bucket": stored.bucket,
        "key": stored.key,
        "size": stored.size,
        "etag": stored.etag.strip('"'),
        "lastModified": stored.last_modified.isoformat(),
        "executions": [{"arn": e["executionArn"], "status": e["status"], "attempt": e["attempt"]} for e in ordered],
        "error": last.get("error"),
        "cause": last.get("cause"),
        "text": "\n".join(lines),
    }
