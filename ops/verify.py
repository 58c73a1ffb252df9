"""`python -m ops verify --stage STAGE` (= `make verify STAGE=...`): proves that a deployed stage
works end to end, with the bundled sample photos, public AWS APIs and the caller's ordinary
credentials (the permissions are in ops/verify-policy.json), on AWS or in a local cloud.

A run is `verify-<date>-<6 hex>`: its photos go under `uploads/<run>/` (the workflow records
that folder as the photo's user), the one sent through `POST /upload` under the folder of a
temporary user of the stage's pool, and every photo's bytes are made unique to the run (a JPEG
comment), so nothing it uploads can be taken for, or be a duplicate of, a user's photo.
Afterwards it removes everything it created: the uploads and the workflow's outputs (every
version), the photos items, the temporary user and its quota counter, the notice queue and its
subscription; also after a failed check or an interruption (Ctrl-C, SIGTERM). `--keep` keeps
the data for inspection and `--clean RUN` removes it later.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import secrets
import signal
import struct
import textwrap
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from types import FrameType
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError
from PIL import Image, ImageChops, ImageOps, ImageStat

from handlers.core import keys, library, renditions
from handlers.core.photos import index_keys
from handlers.core.photos import key as photo_key
from handlers.core.renditions import Rendition

from .executions import CLOCK_SKEW, Execution, Executions
from .notices import NoticeQueue
from .stage import PROJECT, Stage, StageNotFound, aws_error

HELP = "check a deployed stage end to end with the sample photos, then remove what it made"
WIDTH = 100
SAMPLES = PROJECT / "samples"
POLICY = "ops/verify-policy.json"
RUN_ID = re.compile(r"^verify-(?P<date>\d{8})-(?P<token>[0-9a-f]{6})$")
TRIGGER_GRACE = 10.0  # seconds without any execution before the S3 trigger is looked at
NOTICE_TIMEOUT = 60.0
MAX_DIFFERENCE = 12.0  # mean grey-level difference at 32x32 between an output and the upright photo


# -- what a run uploads ------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    file: str  # in samples/
    expect: str  # processed, rejected
    via: str = "s3"  # s3: the trusted back-office path; api: POST /upload, signed in
    reason: str | None = None  # the rejection reason the workflow must give
    sideways: bool = False  # stored turned, with an EXIF orientation: the outputs must be upright


SAMPLE_PHOTOS = (
    Sample("chelsea.jpg", "processed"),
    Sample("coffee.jpg", "processed", sideways=True),
    Sample("astronaut.jpg", "processed", via="api"),
    Sample("not-a-jpeg.png", "rejected", reason="not-a-jpeg"),
    Sample("truncated.jpg", "rejected", reason="corrupt-image"),
)
DUPLICATED = "chelsea.jpg"  # uploaded again once recorded: must be found a duplicate of the first


@dataclass
class Upload:
    sample: Sample
    name: str  # the file name it is uploaded as
    data: bytes
    key: str | None = None
    execution: Execution | None = None

    @property
    def photo_id(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def unique_bytes(sample: Sample, run_id: str) -> bytes:
    """The sample's bytes, unique to the run: a JPEG gets a comment segment naming it (the
    picture is unchanged), a sideways one is re-encoded turned with EXIF orientation 6."""
    data = (SAMPLES / sample.file).read_bytes()
    if not data.startswith(b"\xff\xd8"):
        return data  # rejected before anything reads its hash
    comment = f"image-converter verify {run_id}".encode()
    if sample.sideways:
        with Image.open(io.BytesIO(data)) as photo:
            exif = Image.Exif()
            exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
            out = io.BytesIO()
            photo.transpose(Image.Transpose.ROTATE_90).save(out, "JPEG", quality=92, exif=exif, comment=comment)
            return out.getvalue()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


# -- a run --------------------------------------------------------------------------------------
class Failed(Exception):
    """A check found the stage not working as designed (the message says why)."""


class Skipped(Exception):
    """A check had nothing to check (the message says why)."""


@dataclass(frozen=True)
class TemporaryUser:
    username: str
    sub: str
    id_token: str = ""  # once signed in (the photos API check calls the API as this user)


class Run:
    def __init__(self, stage: Stage, run_id: str, timeout: float, say: Callable[[str], None]) -> None:
        parsed = RUN_ID.match(run_id)
        if not parsed:
            raise SystemExit(f"{run_id!r} is not a verify run (verify-YYYYMMDD-xxxxxx, as verify printed it)")
        self.stage, self.id, self.timeout, self.say = stage, run_id, timeout, say
        self.token, self.day = parsed["token"], datetime.strptime(parsed["date"], "%Y%m%d").date()
        self.started = datetime.now(UTC)
        self.uploads = [Upload(s, f"{self.token}-{s.file}", unique_bytes(s, run_id)) for s in SAMPLE_PHOTOS]
        first = self.upload(DUPLICATED)
        self.duplicate = Upload(first.sample, f"{self.token}-again-{first.sample.file}", first.data)
        self.notices: NoticeQueue | None = None
        self.user: TemporaryUser | None = None

    @staticmethod
    def new_id() -> str:
        return f"verify-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"

    @property
    def folder_user(self) -> str:
        """The user the direct uploads are recorded for: the first key segment below uploads/."""
        return self.id

    @property
    def queue_name(self) -> str:
        return f"{self.stage.stack_name}-{self.id}"

    @cached_property
    def executions(self) -> Executions:
        return Executions(self.stage, since=self.started - CLOCK_SKEW)

    def upload(self, file: str) -> Upload:
        return next(u for u in self.uploads if u.sample.file == file)

    def every_upload(self) -> list[Upload]:
        return [*self.uploads, self.duplicate]

    def output(self, name: str) -> str:
        return self.stage.output(name)

    @property
    def has_sign_in(self) -> bool:
        return all(name in self.stage.outputs for name in ("UserPoolId", "UserPoolClientId", "ServiceEndpoint"))

    # -- waiting ---------------------------------------------------------------------------
    def started_executions(self, uploads: list[Upload]) -> None:
        """Waits until each upload has started an execution; names the cause when none does."""
        by_key = {u.key: u for u in uploads if u.key}

        def started(execution: Execution) -> None:
            by_key[execution.key].execution = execution
            self.say(f"  {by_key[execution.key].name}: execution {execution.name} started")

        found = self.executions.wait_started(by_key, min(TRIGGER_GRACE, self.timeout), on_change=started)
        if not found:
            trigger = trigger_problem(self)
            if trigger:
                raise Failed(f"no execution started for {_listing(by_key)} in {TRIGGER_GRACE:.0f} s: {trigger}")
        missing = [key for key in by_key if key not in found]
        if missing:
            found = self.executions.wait_started(missing, self.timeout, on_change=started)
            missing = [key for key in missing if key not in found]
        if missing:
            function = f"{self.stage.stack_name}-startWorkflow"
            cause = trigger_problem(self) or (
                f"the upload bucket's S3 trigger is in place: look at the log of {function}"
                f" (log group /aws/lambda/{function}): it may lack states:StartExecution"
            )
            raise Failed(f"no execution started for {_listing(missing)} in {self.timeout:.0f} s: {cause}")

    def ended_executions(self, uploads: list[Upload]) -> None:
        """Waits until each upload's execution has ended; a progress line for each."""
        by_key = {u.key: u for u in uploads if u.key and u.execution}

        def ended(execution: Execution) -> None:
            upload = by_key[execution.key]
            upload.execution = execution
            took = f" in {execution.seconds:.1f} s" if execution.seconds is not None else ""
            if execution.status == "SUCCEEDED":
                self.say(f"  {upload.name}: {execution.result}{took}")
            else:
                self.say(f"  {upload.name}: execution {execution.name} {execution.status}{took}")

        found = self.executions.wait_ended(by_key, self.timeout, on_change=ended)
        for key, execution in found.items():
            by_key[key].execution = execution


def _listing(keys: Iterable[object]) -> str:
    names = [str(key).rsplit("/", 1)[-1] for key in keys]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def trigger_problem(run: Run) -> str | None:
    """Why an upload under the upload prefix would start nothing, from the bucket's
    notification configuration, or None when a function is notified of new uploads there."""
    bucket, prefix = run.output("UploadBucketName"), run.output("UploadPrefix")
    try:
        config = run.stage.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    except ClientError as error:
        return f"and the S3 trigger cannot be looked at: {aws_error(error)}"
    for notified in config.get("LambdaFunctionConfigurations", []):
        rules = notified.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        wanted = next((r["Value"] for r in rules if r["Name"].lower() == "prefix"), "")
        created = any(event.startswith(("s3:ObjectCreated:", "s3:*")) for event in notified.get("Events", []))
        if created and prefix.startswith(wanted):
            return None
    return (
        f"the S3 trigger is missing: bucket {bucket} notifies no function of new objects under {prefix}"
        f" (the s3:ObjectCreated:* event of {run.stage.stack_name}-startWorkflow); redeploy the stage"
    )


# -- the checks ---------------------------------------------------------------------------------
REQUIRED_OUTPUTS = (
    "UploadBucketName",
    "UploadPrefix",
    "DestinationBucketName",
    "PhotosTableName",
    "NotificationsTopicArn",
    "ImageWorkflowArn",
)


def check_stage(run: Run) -> str:
    try:
        outputs = run.stage.outputs
    except StageNotFound as missing:
        raise Failed(f"{missing} (not deployed, in another region (--region), or no permission)") from None
    absent = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if absent:
        raise Failed(f"stack {run.stage.stack_name} lacks the outputs {', '.join(absent)}: redeploy the stage")
    sign_in = "yes" if run.has_sign_in else "no (no UserPoolId, UserPoolClientId or ServiceEndpoint output)"
    return f"stack {run.stage.stack_name}; sign-in: {sign_in}"


def check_notices(run: Run) -> str:
    run.notices = NoticeQueue(run.stage, run.queue_name)
    run.notices.create()
    if not run.notices.confirmed:
        topic = run.notices.topic
        raise Failed(f"subscribing {run.queue_name} to {topic}: {run.notices.subscription} (another account's topic?)")
    return f"queue {run.queue_name} subscribed to the topic"


def check_uploads(run: Run) -> str:
    s3, bucket, prefix = run.stage.client("s3"), run.output("UploadBucketName"), run.output("UploadPrefix")
    direct = [u for u in run.uploads if u.sample.via == "s3"]
    for upload in direct:
        key = f"{prefix}{run.folder_user}/{upload.name}"
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=upload.data)
        except ClientError as error:
            raise Failed(f"cannot upload s3://{bucket}/{key}: {aws_error(error)}") from None
        upload.key = key
    run.say(f"  uploaded {len(direct)} files to s3://{bucket}/{prefix}{run.folder_user}/")
    run.started_executions(direct)
    return f"{len(direct)} files uploaded under {prefix}{run.folder_user}/ started {len(direct)} executions"


def check_sign_in(run: Run) -> str:
    if not run.has_sign_in:
        raise Skipped("the stage has no sign-in (no UserPoolId, UserPoolClientId or ServiceEndpoint output)")
    idp, pool = run.stage.client("cognito-idp"), run.output("UserPoolId")
    created = idp.admin_create_user(UserPoolId=pool, Username=run.id, MessageAction="SUPPRESS")["User"]
    sub = next(a["Value"] for a in created["Attributes"] if a["Name"] == "sub")
    run.user = TemporaryUser(run.id, sub)
    password = f"Vf1-{secrets.token_urlsafe(24)}"  # upper and lower case, digits: the pool's policy
    idp.admin_set_user_password(UserPoolId=pool, Username=run.id, Password=password, Permanent=True)
    signed_in = idp.initiate_auth(
        ClientId=run.output("UserPoolClientId"),
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": run.id, "PASSWORD": password},
    )["AuthenticationResult"]
    run.user = TemporaryUser(run.id, sub, signed_in["IdToken"])
    upload = next(u for u in run.uploads if u.sample.via == "api")
    headers = {"Content-Type": "image/jpeg", "X-Filename": upload.name, "Authorization": signed_in["IdToken"]}
    answer = run.stage.call_api("POST", "/upload", upload.data, headers)
    if answer.status != 201:
        raise Failed(f"POST /upload answered {answer.status}: {_api_problem(run, answer.status, answer.body)}")
    stored = json.loads(answer.body)
    if stored.get("userId") != sub or not stored.get("key", "").startswith(f"{run.output('UploadPrefix')}{sub}/"):
        raise Failed(f"POST /upload stored {stored.get('key')} for user {stored.get('userId')}, not for {sub}")
    upload.key = stored["key"]
    run.say(f"  POST /upload as {run.id} (sub {sub}) stored {upload.key}")
    run.started_executions([upload])
    return f"temporary user {run.id} signed in and uploaded through the API"


def _api_problem(run: Run, status: int, body: bytes) -> str:
    text = body.decode(errors="replace")[:300]
    function = f"{run.stage.stack_name}-upload"
    if status == 401:
        return f"{text}: API Gateway's authoriser refused an ID token of pool {run.output('UserPoolId')}"
    if status == 403:
        return f"{text}: no POST /upload at {run.output('ServiceEndpoint')}"
    if status >= 500:
        return f"{text}: the function {function} failed (log group /aws/lambda/{function})"
    return text


def check_processed(run: Run) -> str:
    photos = [u for u in run.uploads if u.sample.expect == "processed" and u.execution]
    if not photos:
        raise Skipped("no photo to be processed started an execution")
    run.ended_executions(photos)
    problems = []
    for upload in photos:
        problem = execution_problem(run, upload, "processed")
        problems += [(upload.name, p) for p in ([problem] if problem else outputs_problems(run, upload))]
    if problems:
        raise Failed(grouped(problems))
    made = ", ".join(renditions.names(declared_renditions(run.stage))) or "none declared"
    return f"{len(photos)} photos: originals as is; PNGs, thumbnails, renditions ({made}) upright; items recorded"


def grouped(problems: list[tuple[str, str]]) -> str:
    """One line per problem, naming every upload that has it: `a.jpg, b.jpg: problem`."""
    names: dict[str, list[str]] = {}
    for name, problem in problems:
        names.setdefault(problem, []).append(name)
    return "\n".join(f"{', '.join(found)}: {problem}" for problem, found in names.items())


def execution_problem(run: Run, upload: Upload, expected: str, detail: str | None = None) -> str | None:
    """Why the upload's execution did not end as expected (None if it did)."""
    execution = upload.execution
    assert execution is not None
    if not execution.ended:
        state = run.executions.failure(execution).state
        return f"execution still {execution.status} after {run.timeout:.0f} s, in state {state}"
    if execution.status != "SUCCEEDED":
        return f"execution {execution.status}: {run.executions.failure(execution)}"
    result = execution.result
    if result.kind != expected or (detail is not None and result.detail != detail):
        want = f"{expected} ({detail})" if detail else expected
        return f"{result}, expected {want}"
    return None


def outputs_problems(run: Run, upload: Upload) -> list[str]:
    """The outputs in the destination bucket (the original byte for byte, the PNG and the
    thumbnail decoded and compared with the upright photo) and the photos item."""
    assert upload.execution is not None
    outputs = upload.execution.output.get("results", {}).get("outputs", {})
    s3 = run.stage.client("s3")
    with Image.open(io.BytesIO(upload.data)) as photo:
        upright = ImageOps.exif_transpose(photo).convert("RGB")
    problems = []
    for kind, format_ in (("original", None), ("png", "PNG"), ("thumbnail", "JPEG")):
        written = outputs.get(kind) or {}
        where = f"s3://{written.get('bucket')}/{written.get('key')}"
        try:
            data = s3.get_object(Bucket=written["bucket"], Key=written["key"])["Body"].read()
        except KeyError:
            problems.append(f"the execution's output names no {kind}")
            continue
        except ClientError as error:
            # Without s3:ListBucket, S3 answers 403 for a missing object too: the listing tells.
            missing = not _exists(run.stage, written["bucket"], written["key"])
            problems.append(f"the {kind} {where} is missing" if missing else f"cannot read it: {aws_error(error)}")
            continue
        if format_ is None:
            if data != upload.data:
                problems.append(f"the original copy {where} differs from the upload")
            continue
        problem = picture_problem(data, format_, upright, exact_size=kind == "png")
        if problem:
            problems.append(f"the {kind} {where} {problem}")
    problems += renditions_problems(run, outputs.get("thumbnail") or {}, upright)
    if any(kind not in outputs for kind in ("original", "png", "thumbnail")):
        return problems  # the item would name outputs that are not there
    return problems + item_problems(run, upload, outputs, upright.size)


def declared_renditions(stage: Stage) -> tuple[Rendition, ...]:
    """The renditions the stage declares (its Renditions output; none for a stack deployed
    before renditions existed)."""
    return renditions.parse(stage.outputs.get("Renditions") or renditions.NONE)


def renditions_problems(run: Run, thumbnail: dict[str, Any], upright: Image.Image) -> list[str]:
    """Each declared rendition: written, of its format, upright, its longest side the declared
    one (or the photo's, never enlarged); the ThumbHash beside them."""
    made = thumbnail.get("renditions") or {}
    problems = [] if thumbnail.get("thumbHash") else ["the thumbnail's output has no thumbHash"]
    s3 = run.stage.client("s3")
    for rendition in declared_renditions(run.stage):
        written = made.get(rendition.name)
        if not written:
            problems.append(f"the execution's output names no rendition {rendition.name}")
            continue
        where = f"s3://{written['bucket']}/{written['key']}"
        try:
            data = s3.get_object(Bucket=written["bucket"], Key=written["key"])["Body"].read()
        except ClientError as error:
            problems.append(f"cannot read the rendition {where}: {aws_error(error)}")
            continue
        problem = picture_problem(data, rendition.pillow_format, upright, exact_size=False)
        longest = min(rendition.size, max(upright.size))
        if problem is None and max(written["width"], written["height"]) != longest:
            problem = f"is {written['width']}x{written['height']}, its longest side should be {longest}"
        if problem:
            problems.append(f"the rendition {rendition.name} {where} {problem}")
    return problems


def picture_problem(data: bytes, format_: str, upright: Image.Image, exact_size: bool) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            found, size, pixels = picture.format, picture.size, picture.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # Pillow's kinds of "cannot"
        return f"does not decode: {error}"
    if found != format_:
        return f"is {found}, not {format_}"
    (width, height), (up_width, up_height) = size, upright.size
    turned = abs(width / height - up_width / up_height) > 0.02 * (up_width / up_height)
    if (exact_size and size != upright.size) or turned or max(size) > max(upright.size):
        return f"is {width}x{height}: the photo upright is {up_width}x{up_height}"
    difference = _difference(pixels, upright)
    if difference > MAX_DIFFERENCE:
        return f"differs from the upright photo (mean {difference:.0f} grey levels): turned or mirrored?"
    return None


def _difference(a: Image.Image, b: Image.Image) -> float:
    small = (32, 32)
    diff = ImageChops.difference(a.convert("L").resize(small), b.convert("L").resize(small))
    return ImageStat.Stat(diff).mean[0]


def item_problems(run: Run, upload: Upload, outputs: dict[str, Any], size: tuple[int, int]) -> list[str]:
    table = run.output("PhotosTableName")
    user = run.folder_user if upload.sample.via == "s3" else run.user.sub if run.user else None
    try:
        found = run.stage.client("dynamodb").get_item(
            TableName=table, Key=_marshal(photo_key(str(user), upload.photo_id)), ConsistentRead=True
        )
    except ClientError as error:
        return [f"cannot read its item in {table}: {aws_error(error)}"]
    if "Item" not in found:
        return [f"no item {upload.photo_id[:16]}... of {user} in table {table}"]
    item = {name: TypeDeserializer().deserialize(value) for name, value in found["Item"].items()}
    item["renditionKeys"] = {name: made.get("key") for name, made in (item.get("renditions") or {}).items()}
    expected = {
        "userId": user,
        "sourceKey": upload.key,
        "originalKey": outputs["original"]["key"],
        "pngKey": outputs["png"]["key"],
        "thumbnailKey": outputs["thumbnail"]["key"],
        "thumbHash": outputs["thumbnail"].get("thumbHash"),
        "renditionKeys": {name: made["key"] for name, made in (outputs["thumbnail"].get("renditions") or {}).items()},
        "width": size[0],
        "height": size[1],
    }
    wrong = [f"{name}={item.get(name)!r} (expected {v!r})" for name, v in expected.items() if item.get(name) != v]
    return [f"item in {table}: {', '.join(wrong)}"] if wrong else []


def check_rejected(run: Run) -> str:
    files = [u for u in run.uploads if u.sample.expect == "rejected" and u.execution]
    if not files:
        raise Skipped("no file to be rejected started an execution")
    run.ended_executions(files)
    problems = [(u.name, p) for u in files if (p := execution_problem(run, u, "rejected", u.sample.reason))]
    if problems:
        raise Failed(grouped(problems))
    notices = {f"{u.key} was not processed: {u.sample.reason}": u for u in files}
    missing = run.notices.wait_for(list(notices), NOTICE_TIMEOUT) if run.notices else list(notices)
    if missing:
        raise Failed(_notice_problem(run, [notices[text] for text in missing], "rejection notice"))
    return f"{len(files)} files rejected ({', '.join(str(u.sample.reason) for u in files)}), a notice for each"


def _notice_problem(run: Run, uploads: list[Upload], what: str) -> str:
    names = ", ".join(u.name for u in uploads)
    if not run.notices:
        return f"no {what} could be received for {names}: there is no notice queue (check notices failed)"
    topic = run.output("NotificationsTopicArn")
    return (
        f"no {what} for {names} reached queue {run.queue_name} in {NOTICE_TIMEOUT:.0f} s, although the"
        f" workflow published it: is the subscription to {topic} filtered, or the queue's policy refused?"
    )


def check_duplicate(run: Run) -> str:
    first = run.upload(DUPLICATED)
    if not (first.execution and first.execution.status == "SUCCEEDED" and first.execution.result.kind == "processed"):
        raise Skipped(f"needs {first.name} processed first")
    again = run.duplicate
    bucket, prefix = run.output("UploadBucketName"), run.output("UploadPrefix")
    again.key = f"{prefix}{run.folder_user}/{again.name}"
    try:
        run.stage.client("s3").put_object(Bucket=bucket, Key=again.key, Body=again.data)
    except ClientError as error:
        raise Failed(f"cannot upload s3://{bucket}/{again.key}: {aws_error(error)}") from None
    run.started_executions([again])
    run.ended_executions([again])
    problem = execution_problem(run, again, "duplicate", first.key)
    if problem:
        raise Failed(f"{again.name}: {problem}")
    assert again.execution is not None
    if not again.execution.output.get("results", {}).get("uniqueness", {}).get("notify", True):
        return f"{again.name}: a duplicate of {first.name}, skipped without a notice (OWN_EXACT_DUPLICATE)"
    text = f"{again.key} is a duplicate"
    if not run.notices or run.notices.wait_for([text], NOTICE_TIMEOUT):
        raise Failed(_notice_problem(run, [again], "duplicate notice"))
    return f"{again.name}: a duplicate of {first.name}, notice received"


def check_deleted(run: Run) -> str:
    finished = [u for u in run.every_upload() if u.execution and u.execution.status == "SUCCEEDED"]
    if not finished:
        raise Skipped("no execution succeeded")
    bucket = run.output("UploadBucketName")
    left = [u for u in finished if _exists(run.stage, bucket, str(u.key))]
    if left:
        raise Failed(
            f"still in bucket {bucket} after their executions succeeded: {_listing(u.key for u in left)}"
            " (the DeleteSourceFile state did not delete them)"
        )
    return f"the {len(finished)} uploads are gone from the upload bucket (their executions succeeded)"


# -- the photos API (docs/api.md) -----------------------------------------------------------
def check_photos_api(run: Run) -> str:
    """The temporary user's photo, through the photos API: listed, its download links fetch
    the stored bytes, and its erasure leaves no object version, record or index entry."""
    upload = next(u for u in run.uploads if u.sample.via == "api")
    if not (run.user and run.user.id_token and upload.execution and upload.execution.status == "SUCCEEDED"):
        raise Skipped("the temporary user's upload was not processed")
    headers = {"Authorization": run.user.id_token}

    def api(method: str, path: str) -> tuple[int, Any]:
        answer = run.stage.call_api(method, path, headers=headers)
        if answer.status >= 500:
            raise Failed(f"{method} {path} answered {answer.status}: {answer.body.decode(errors='replace')[:200]}")
        return answer.status, json.loads(answer.body) if answer.body else None

    status, listed = api("GET", "/photos")
    if status != 200 or upload.photo_id not in [p["id"] for p in listed["photos"]]:
        raise Failed(f"GET /photos answered {status} without the uploaded photo {upload.photo_id[:12]}: {listed}")
    status, photo = api("GET", f"/photos/{upload.photo_id}")
    if status != 200:
        raise Failed(f"GET /photos/{upload.photo_id[:12]}... answered {status}: {photo}")
    dynamodb, table = run.stage.client("dynamodb"), run.output("PhotosTableName")
    key = _marshal(photo_key(run.user.sub, upload.photo_id))
    found = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    item = {name: TypeDeserializer().deserialize(value) for name, value in found.items()}
    bucket, s3 = run.output("DestinationBucketName"), run.stage.client("s3")
    stored_keys = library.output_keys_of(item)  # the article's outputs and the renditions
    for name, url in photo["downloads"].items():
        with urllib.request.urlopen(url, timeout=30) as answer:
            fetched = answer.read()
        stored = s3.get_object(Bucket=bucket, Key=stored_keys[name])["Body"].read()
        if fetched != stored:
            raise Failed(
                f"the {name} download link of {upload.name} gave other bytes than s3://{bucket}/{stored_keys[name]}"
            )
    status, _ = api("DELETE", f"/photos/{upload.photo_id}")
    again, _ = api("GET", f"/photos/{upload.photo_id}")
    if status != 204 or again != 404:
        raise Failed(f"DELETE /photos/{upload.photo_id[:12]}... answered {status}, then GET {again} (not 204, 404)")
    left = [
        f"s3://{bucket}/{k}" for name in photo["downloads"] for k, _ in _versions(run.stage, bucket, stored_keys[name])
    ]
    if dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item"):
        left.append(f"its item in {table}")
    index_table = run.output("UniquenessTableName")
    for entry in index_keys(item):
        if dynamodb.get_item(TableName=index_table, Key=_marshal(entry), ConsistentRead=True).get("Item"):
            left.append(f"index entry {entry['entry']}")
    if left:
        raise Failed(f"DELETE /photos/{upload.photo_id[:12]}... left {', '.join(left)}")
    return f"{upload.name}: listed, {len(photo['downloads'])} download links give its bytes, erased without a trace"


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    run: Callable[[Run], str]
    essential: bool = False  # the later checks cannot run without it


CHECKS: tuple[Check, ...] = (
    Check("stage", "the stack and its outputs", check_stage, essential=True),
    Check("notices", "a temporary SQS queue subscribed to the notifications topic", check_notices),
    Check("uploads", "sample photos uploaded straight to S3 start executions", check_uploads),
    Check("sign-in", "a temporary user signs in and uploads through POST /upload", check_sign_in),
    Check("processed", "outputs decode and are upright, the metadata item is recorded", check_processed),
    Check("rejected", "a PNG and a truncated JPEG are rejected, a notice arrives for each", check_rejected),
    Check("duplicate", "the same photo again is a duplicate of the run's own", check_duplicate),
    Check("deleted", "every upload the workflow finished with is deleted", check_deleted),
    Check("photos-api", "the temporary user lists, downloads and erases the photo", check_photos_api),
)
OK, FAILED, SKIPPED, NOT_RUN = "ok", "FAILED", "skipped", "not run"


@dataclass
class Outcome:
    check: Check
    status: str = NOT_RUN
    detail: str = ""
    seconds: float = 0.0


def run_checks(run: Run, outcomes: list[Outcome]) -> None:
    blocked: str | None = None
    for number, outcome in enumerate(outcomes, start=1):
        check = outcome.check
        if blocked:
            outcome.status, outcome.detail = SKIPPED, f"needs check {blocked}"
            continue
        run.say(f"check {number}/{len(outcomes)} {check.name}: {check.title}")
        started = time.monotonic()
        try:
            outcome.status, outcome.detail = OK, check.run(run)
        except Skipped as skipped:
            outcome.status, outcome.detail = SKIPPED, str(skipped)
        except Failed as failed:
            outcome.status, outcome.detail = FAILED, str(failed)
        except (ClientError, BotoCoreError) as error:
            outcome.status, outcome.detail = FAILED, aws_error(error)
        except Exception as error:  # an answer no check expected (a network error, an MFA challenge)
            outcome.status, outcome.detail = FAILED, f"{type(error).__name__}: {error}"
        outcome.seconds = time.monotonic() - started
        print(wrapped(outcome.detail, f"  {outcome.status} ({outcome.seconds:.1f} s): "), flush=True)
        if outcome.status == FAILED and check.essential:
            blocked = check.name


# -- clean-up -----------------------------------------------------------------------------------
@dataclass
class Cleanup:
    deleted: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def attempt(self, step: Callable[[], None]) -> None:
        try:
            step()
        except (ClientError, BotoCoreError) as error:
            self.errors.append(aws_error(error))
        except StageNotFound as error:  # a stack of an older version lacks an output: clean the rest
            self.errors.append(str(error))

    def __str__(self) -> str:
        parts = [f"{count} {_NAMES[what][count != 1]}" for what, count in self.deleted.items() if count]
        return ", ".join(parts) or "nothing"


_NAMES = {
    "object": ("object", "objects"),
    "item": ("photos item", "photos items"),
    "index entry": ("uniqueness index entry", "uniqueness index entries"),
    "counter": ("quota counter", "quota counters"),
    "subscription": ("subscription", "subscriptions"),
    "queue": ("queue", "queues"),
    "user": ("user", "users"),
}


def _versions(stage: Stage, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(key, version id) of every version and delete marker under `prefix`; an unversioned
    bucket lists its objects with the version id `null`."""
    found = []
    for page in stage.client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            found.append((entry["Key"], entry["VersionId"]))
    return found


def _exists(stage: Stage, bucket: str, key: str) -> bool:
    """Whether the key has a current version (no delete marker on top), by listing versions:
    what the verifier may do in both buckets."""
    listed = stage.client("s3").list_object_versions(Bucket=bucket, Prefix=key)
    return any(v["Key"] == key and v.get("IsLatest") for v in listed.get("Versions", []))


def remove_notice_queue(run: Run, cleanup: Cleanup) -> None:
    def remove() -> None:
        if run.notices:
            cleanup.deleted.update(run.notices.remove())

    cleanup.attempt(remove)


def remove_data(run: Run, cleanup: Cleanup) -> None:
    """What the run's two users have in the stage (uploads, outputs, photos items), the
    temporary user's quota counters, the temporary user."""
    users = [run.folder_user] + ([run.user.sub] if run.user else [])
    owners = {u.photo_id: run.user.sub if u.sample.via == "api" and run.user else run.folder_user for u in run.uploads}
    remove_users_data(run.stage, users, owners, cleanup)
    if run.user:
        user = run.user
        cleanup.attempt(lambda: remove_counters(run, user.sub, cleanup))
        cleanup.attempt(lambda: remove_user(run, user.username, cleanup))


def remove_users_data(stage: Stage, users: list[str], owners: dict[str, str], cleanup: Cleanup) -> None:
    """Every version of every object in the users' folders (`uploads/<user>/` and the outputs'
    `originals/`, `png/`, `thumbnails/`, each declared rendition's `renditions/<name>/`) and
    their photos items with the uniqueness index entries each lists: those of `owners` (photo
    id -> user: a photo just recorded may not be in the byUser index yet) and those the index
    lists."""
    folders = [(stage.output("UploadBucketName"), f"{stage.output('UploadPrefix')}{user}/") for user in users]
    outputs = keys.output_prefixes(declared_renditions(stage))
    folders += [(stage.output("DestinationBucketName"), f"{prefix}{user}/") for user in users for prefix in outputs]
    s3 = stage.client("s3")
    for bucket, folder in folders:

        def remove_folder(bucket: str = bucket, folder: str = folder) -> None:
            for key, version in _versions(stage, bucket, folder):
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
                cleanup.deleted["object"] += 1

        cleanup.attempt(remove_folder)
    cleanup.attempt(lambda: remove_items(stage, users, owners, cleanup))


def remove_items(stage: Stage, users: list[str], owners: dict[str, str], cleanup: Cleanup) -> None:
    dynamodb, table = stage.client("dynamodb"), stage.output("PhotosTableName")
    owners = dict(owners)
    for user in users:
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            IndexName="byUser",
            KeyConditionExpression="userId = :user",
            ExpressionAttributeValues={":user": {"S": user}},
            ProjectionExpression="photoId",
        )
        owners.update({item["photoId"]["S"]: user for page in pages for item in page["Items"]})
    index_table = stage.output("UniquenessTableName")
    for photo_id, user in owners.items():
        key = _marshal(photo_key(user, photo_id))
        found = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if not found:
            continue  # not recorded (a rejected file, a failed run)
        item = {name: TypeDeserializer().deserialize(value) for name, value in found.items()}
        for entry in index_keys(item):  # first: an interrupted clean-up finds the item again
            dynamodb.delete_item(TableName=index_table, Key=_marshal(entry))
            cleanup.deleted["index entry"] += 1
        dynamodb.delete_item(TableName=table, Key=key)
        cleanup.deleted["item"] += 1


def _marshal(key: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"S": value} for name, value in key.items()}


def remove_counters(run: Run, sub: str, cleanup: Cleanup) -> None:
    """The temporary user's daily upload counters (`<sub>#<UTC day>`) of the run's days."""
    if "UploadQuotaTableName" not in run.stage.outputs:
        return
    dynamodb, table = run.stage.client("dynamodb"), run.output("UploadQuotaTableName")
    for day in sorted({run.day, run.day + timedelta(days=1), datetime.now(UTC).date()}):
        old = dynamodb.delete_item(TableName=table, Key={"quotaKey": {"S": f"{sub}#{day}"}}, ReturnValues="ALL_OLD")
        cleanup.deleted["counter"] += 1 if old.get("Attributes") else 0


def remove_user(run: Run, username: str, cleanup: Cleanup) -> None:
    run.stage.client("cognito-idp").admin_delete_user(UserPoolId=run.output("UserPoolId"), Username=username)
    cleanup.deleted["user"] += 1


def wait_for_running(run: Run) -> None:
    """An interrupted run's executions may still be writing (or about to start, for an upload
    just made): the clean-up waits for them to end, so that nothing is written after it."""
    waiting = {str(u.key) for u in run.every_upload() if u.key and not (u.execution and u.execution.ended)}
    bucket, prefix = run.output("UploadBucketName"), run.output("UploadPrefix")
    for user in [run.folder_user] + ([run.user.sub] if run.user else []):  # an upload whose answer never came
        waiting.update(key for key, _ in _versions(run.stage, bucket, f"{prefix}{user}/"))
    if not waiting:
        return
    run.say(f"waiting for the executions of {len(waiting)} uploads to end before cleaning up ...")
    found = run.executions.wait_ended(sorted(waiting), TRIGGER_GRACE)  # uploads not taken up by then never are
    running = [key for key, execution in found.items() if not execution.ended]
    if running:
        run.executions.wait_ended(running, run.timeout)


def clean_up(run: Run, keep: bool, interrupted: bool) -> Cleanup:
    cleanup = Cleanup()
    try:
        run.stage.outputs  # noqa: B018 (the stack is readable: there is something to clean)
    except StageNotFound:
        return cleanup
    remove_notice_queue(run, cleanup)
    if keep:
        users = " and ".join([run.folder_user] + ([run.user.sub] if run.user else []))
        folders = "uploads/, originals/, png/, thumbnails/, renditions/"
        cleanup.kept = [f"the uploads and outputs of users {users} (folders {folders})"]
        cleanup.kept.append("their photos items" + (f", the temporary user {run.user.username}" if run.user else ""))
        return cleanup
    if interrupted:
        cleanup.attempt(lambda: wait_for_running(run))
    remove_data(run, cleanup)
    return cleanup


def find_leftovers(run: Run, cleanup: Cleanup) -> None:
    """For `--clean RUN`: the temporary user (and so its sub) and the notice queue and its
    subscription, found by their names."""
    if run.has_sign_in:
        try:
            found = run.stage.client("cognito-idp").admin_get_user(UserPoolId=run.output("UserPoolId"), Username=run.id)
            sub = next(a["Value"] for a in found["UserAttributes"] if a["Name"] == "sub")
            run.user = TemporaryUser(run.id, sub)
        except ClientError as error:
            if error.response["Error"]["Code"] != "UserNotFoundException":
                cleanup.errors.append(aws_error(error))

    def find_queue() -> None:
        run.notices = NoticeQueue.find(run.stage, run.queue_name)

    cleanup.attempt(find_queue)


# -- the command ----------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true", help="keep the uploads, outputs and items for inspection")
    parser.add_argument("--clean", metavar="RUN", help="remove what a run kept (--keep) or left (verify-...)")
    parser.add_argument(
        "--timeout", type=float, default=180, help="seconds to wait for executions in each check (default 180)"
    )


def wrapped(text: str, first: str = "", hanging: str = "    ") -> str:
    """`text` (lines of it) in lines of at most 100 columns: the first starts with `first`,
    the others, and what a long line wraps to, with `hanging` (long ARNs and keys break)."""
    lines = text.splitlines() or [""]
    out = [textwrap.fill(lines[0], WIDTH, initial_indent=first, subsequent_indent=hanging, break_on_hyphens=False)]
    out += [
        textwrap.fill(line, WIDTH, initial_indent=hanging, subsequent_indent=hanging, break_on_hyphens=False)
        for line in lines[1:]
    ]
    return "\n".join(out)


def say(text: str) -> None:
    print(wrapped(text), flush=True)


def summary(run: Run, outcomes: list[Outcome], cleanup: Cleanup | None, interrupted: bool) -> str:
    counts = Counter(outcome.status for outcome in outcomes)
    lines = ["", f"verify {run.id} on stage {run.stage.name} ({run.stage.stack_name}):"]
    name_width = max(len(o.check.name) for o in outcomes)
    for outcome in outcomes:
        first = f"  {outcome.status:8} {outcome.check.name:{name_width}}  "
        lines.append(wrapped(outcome.detail or "-", first, " " * len(first)))
    works = counts[OK] + counts[SKIPPED] == len(outcomes)
    verdict = "interrupted" if interrupted else "the stage works as designed" if works else "the stage does NOT work"
    tally = ", ".join(f"{counts[status]} {status}" for status in (OK, FAILED, SKIPPED, NOT_RUN) if counts[status])
    lines.append(wrapped(f"{len(outcomes)} checks: {tally}; {verdict}."))
    if cleanup is not None:
        lines.append(wrapped(f"Removed: {cleanup}."))
        lines += [wrapped(f"Could not remove: {error}") for error in cleanup.errors]
        if cleanup.kept:
            lines.append(wrapped(f"Kept for inspection: {'; '.join(cleanup.kept)}."))
        if cleanup.kept or cleanup.errors:
            lines.append(wrapped(f"Remove them with: {clean_command_line(run.stage, run.id)}"))
    return "\n".join(lines)


def run(args: argparse.Namespace, stage: Stage) -> int:
    if args.clean:
        return clean_command(stage, args.clean, args.timeout)
    current = Run(stage, Run.new_id(), args.timeout, say)
    outcomes = [Outcome(check) for check in CHECKS]
    say(f"verify {current.id}: stage {stage.name}, stack {stage.stack_name} (Ctrl-C stops and cleans up)")
    interrupted, cleanup = False, None
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            run_checks(current, outcomes)
        except KeyboardInterrupt:
            interrupted = True
            say("interrupted: cleaning up (Ctrl-C again stops the clean-up)")
        try:
            cleanup = clean_up(current, args.keep, interrupted)
        except KeyboardInterrupt:
            interrupted = True
            say(f"clean-up interrupted: {clean_command_line(stage, current.id)} finishes it")
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(summary(current, outcomes, cleanup, interrupted), flush=True)
    if interrupted:
        return 130
    return 0 if all(o.status in (OK, SKIPPED) for o in outcomes) and not (cleanup and cleanup.errors) else 1


def clean_command_line(stage: Stage, run_id: str) -> str:
    region = f" --region {stage.region}" if stage.region else ""
    return f"python -m ops verify --stage {stage.name}{region} --clean {run_id}"


def clean_command(stage: Stage, run_id: str, timeout: float) -> int:
    old = Run(stage, run_id, timeout, say)
    cleanup = Cleanup()
    find_leftovers(old, cleanup)
    remove_notice_queue(old, cleanup)
    cleanup.attempt(lambda: wait_for_running(old))  # a run killed in its stride
    remove_data(old, cleanup)
    if not sum(cleanup.deleted.values()) and not cleanup.errors:
        where = f"stage {stage.name} in {stage.region or 'the default region'}"
        say(f"no trace of {run_id} on {where}: nothing to remove (another stage or region?)")
        return 1
    say(f"{run_id} on stage {stage.name}: removed {cleanup}.")
    for error in cleanup.errors:
        say(f"Could not remove: {error}")
    return 1 if cleanup.errors else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
