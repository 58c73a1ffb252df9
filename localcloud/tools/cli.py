"""The local cloud's command line: `python -m localcloud COMMAND`, from any folder.

Each of these starts its own local cloud and deploys the project with `sls deploy`:
  demo                  the bundled sample photos, with a table of what became of each
  run FILE|FOLDER ...   your own photos (--json for every detail, --out DIR keeps the outputs)
  up                    keep the cloud running, for any AWS client and the console (--state DIR
                        keeps S3 objects and DynamoDB items across restarts)
  package               `sls package` with no AWS account (artifacts for inspection)

These work against a cloud that `up` keeps running (AWS_ENDPOINT_URL, or --port):
  executions            every upload of the stage and what became of it (--wait: until done;
                        --user, --result, --since: only some)
  logs FUNCTION         a function's log, readable (--json: the raw lines, as `aws logs tail`
                        prints them)
  invoke FUNCTION PHOTO one function of your working tree, with `sls invoke local`
  token USER            an ID token of USER (created in the stage's user pool if needed), for
                        POST /upload's Authorization header
  schedule [FUNCTION]   the stage's schedules; with FUNCTION, fire its schedule now and print
                        what the function returned (e.g. `schedule reconcile`)

And with no cloud at all:
  runtime [arm64]       the Lambda runtime's own Python the workers run on, fetched once
                        (docs/runtime.md)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image

from handlers.core import heif
from handlers.core.uploads import JPEG_MAGIC
from localcloud import PROJECT, persistence
from localcloud.clients import aws_client
from localcloud.cloud import DEFAULT_ACCOUNT, LocalCloud
from localcloud.services.awslambda import interpreter
from localcloud.services.cloudformation import adapter as cloudformation
from ops.executions import parse_since

from . import cost, invoke, report, settings, signin
from .deploy import Stack, deploy, package, service_name, stack_outputs, stage_folder
from .pipeline import Outcome, Pipeline
from .results import KINDS

SAMPLES = PROJECT / "samples"
MANIFEST = SAMPLES / "manifest.json"
DEFAULT_PORT = 4566


# -- arguments -----------------------------------------------------------------------------
def port_number(text: str) -> int:
    """A TCP port; 0 means any free port."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 = any free port)")
    return port


def default_port() -> int:
    value = os.environ.get("LOCALCLOUD_PORT", str(DEFAULT_PORT))
    try:
        return port_number(value)
    except argparse.ArgumentTypeError as error:
        raise SystemExit(f"LOCALCLOUD_PORT: {error}") from None


def is_image(path: Path) -> bool:
    """Whether the workflow would look at the file as a picture, by content as GetFileType
    does: a JPEG, a HEIF or AVIF file, or another image format (which it rejects by name,
    `not-a-jpeg`); anything else it would only call `not-an-image`."""
    with path.open("rb") as stream:
        if stream.read(len(JPEG_MAGIC)) == JPEG_MAGIC:
            return True
    brands = heif.brands(path)
    if brands is not None:
        return brands.family is not None  # not another ISO media file (MP4, QuickTime)
    try:
        with warnings.catch_warnings(), Image.open(path):  # reads the header only
            warnings.simplefilter("ignore")
            return True
    except Image.DecompressionBombError:
        return True  # a picture all the same: the workflow rejects it as too-many-pixels
    except (OSError, SyntaxError, ValueError):
        return False


def photo_paths(names: list[str], quiet: bool = False) -> list[Path]:
    """Files as given, and the pictures directly inside each folder given (sorted); what else a
    folder holds (a manifest, notes) is skipped, and the skipping said (a file named on its own
    is taken as it is)."""
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise SystemExit(f"no files in folder {name}")
            skipped = [p.name for p in found if not is_image(p)]
            if skipped:
                listed = report.fit(", ".join(skipped), report.WIDTH - 4, lines=3)
                _say(f"skipped in {name}, not images (by content):", quiet)
                _say("\n".join(f"    {line}" for line in listed), quiet)
            paths += [p for p in found if p.name not in skipped]
            if len(skipped) == len(found):
                raise SystemExit(f"no images in folder {name}")
        elif path.is_file():
            paths.append(path)
        else:
            raise SystemExit(f"no such file or folder: {name}")
    return paths


# -- commands that start their own cloud ------------------------------------------------------
def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _start(args: argparse.Namespace, quiet: bool = False, saved_state: Path | None = None) -> tuple[LocalCloud, Stack]:
    cloud = LocalCloud(port=getattr(args, "port", 0), retry_scale=args.retry_scale, saved_state=saved_state).start()
    _say(f"local cloud on {cloud.endpoint}; deploying stage '{args.stage}' with sls deploy ...", quiet)
    last_packaged = stage_folder(args.stage) / "cloudformation-template-update-stack.json"
    if last_packaged.is_file():  # a redeploy changes little: lint it while `sls package` runs
        cloudformation.prelint(last_packaged.read_text())
    stack = deploy(cloud.client_environment(), args.stage)
    _say(f"deployed {stack.name} in {stack.seconds:.1f} s", quiet)
    return cloud, stack


def _progress(quiet: bool) -> Callable[[Outcome, int, int], None]:
    def report_one(outcome: Outcome, done: int, total: int) -> None:
        _say(report.progress_line(outcome, done, total), quiet)

    return report_one


def print_bill(cloud: LocalCloud, pipeline: Pipeline, mark: Any, outcomes: list[Outcome]) -> None:
    """What the run's invocations used, as Lambda would bill it (localcloud/tools/cost.py)."""
    if cloud.meter is None or not outcomes:
        return
    calls, requests, units = cloud.meter.since(mark)
    shapes = [pipeline.shapes[o.execution_arn] for o in outcomes if o.execution_arn in pipeline.shapes]
    bill = cost.bill(calls, requests, units, shapes, len(outcomes), pipeline.workflow_type)
    print()
    print(report.bill_lines(bill, cloud.meter.calibration))


def demo(args: argparse.Namespace) -> int:
    manifest = json.loads(MANIFEST.read_text())
    cloud, stack = _start(args)
    try:
        pipeline = Pipeline(cloud.client_environment(), stack.outputs)
        outcomes: list[Outcome] = []
        mark = cloud.meter.mark() if cloud.meter else None
        started = time.perf_counter()
        # Waves: a duplicate is only a duplicate once the first copy has been recorded.
        for wave in manifest["waves"]:
            files = {}  # uploaded key -> the name it was uploaded as
            for item in wave:
                name = item.get("as") or item["file"]
                files[pipeline.upload(SAMPLES / item["file"], name=name)] = name
            _say(f"uploaded {report.plural(len(files), 'file')}; waiting for the workflow ...")
            outcomes += pipeline.wait(files, timeout=args.timeout, progress=_progress(False))
        elapsed = time.perf_counter() - started
        print(report.outcomes_table(outcomes))
        print(f"Outputs were in s3://{stack.outputs['DestinationBucketName']}/ (`run --out DIR` keeps them).")
        print_bill(cloud, pipeline, mark, outcomes)
        expected = [item["expect"] for wave in manifest["waves"] for item in wave]
        ok = [o.result.kind for o in outcomes] == expected
        verdict = "yes" if ok else "NO"
        print(f"\n{report.plural(len(outcomes), 'upload')} in {elapsed:.1f} s; every outcome as designed: {verdict}")
        for outcome, want in zip(outcomes, expected, strict=True):
            if outcome.result.kind != want:
                print(f"  {outcome.file}: expected {want}, got {outcome.result}")
        return 0 if ok else 1
    finally:
        cloud.stop()


def run_files(args: argparse.Namespace) -> int:
    paths = photo_paths(args.files, quiet=args.json)
    cloud, stack = _start(args, quiet=args.json)
    try:
        env = cloud.client_environment()
        pipeline = Pipeline(env, stack.outputs)
        mark = cloud.meter.mark() if cloud.meter else None
        uploads = {pipeline.upload(path, user=args.user): path.name for path in paths}
        outcomes = pipeline.wait(uploads, timeout=args.timeout, progress=_progress(args.json))
        if args.out:
            save_outputs(env, stack, outcomes, Path(args.out))
            _say(f"saved what the workflow wrote under {args.out}/", args.json)
        print(json.dumps([o.to_dict() for o in outcomes], indent=2) if args.json else report.outcomes_table(outcomes))
        if not args.json:
            print_bill(cloud, pipeline, mark, outcomes)
        return 0 if all(o.status == "SUCCEEDED" for o in outcomes) else 1
    finally:
        cloud.stop()


def save_outputs(cloud_env: dict[str, str], stack: Stack, outcomes: list[Outcome], folder: Path) -> None:
    """Per upload, a folder with the outputs as written (original copy, PNG, thumbnail), the
    photo's metadata item and the result, so they outlive the cloud."""
    s3, dynamodb = aws_client(cloud_env, "s3"), aws_client(cloud_env, "dynamodb")
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    used: set[str] = set()
    for outcome in outcomes:
        name = Path(outcome.file).stem
        while name in used:
            name += "_"
        used.add(name)
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        for output in outcome.outputs:
            suffix = Path(output["key"]).suffix
            s3.download_file(output["bucket"], output["key"], str(target / f"{output['kind']}{suffix}"))
        if outcome.photo_id and outcome.user_id and outcome.outputs:
            table = stack.outputs["PhotosTableName"]
            key = {"userId": {"S": outcome.user_id}, "photoId": {"S": outcome.photo_id}}
            raw = dynamodb.get_item(TableName=table, Key=key).get("Item") or {}
            item = {k: deserializer.deserialize(v) for k, v in raw.items()}
            (target / "metadata.json").write_text(json.dumps(item, indent=2, default=_json_number) + "\n")
        (target / "result.json").write_text(json.dumps(outcome.to_dict(), indent=2) + "\n")


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"not JSON: {value!r}")


def up(args: argparse.Namespace) -> int:
    state = Path(args.state).resolve() if args.state else None
    cloud, stack = _start(args, saved_state=state)
    kept = None
    if state and state.exists():
        kept = persistence.restore(state, (stack.outputs["UploadPrefix"],))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(up_banner(cloud.endpoint, args.stage, stack, state, kept, settings_lines(args.stage)), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        # Woken every second: a signal that the kernel hands to another thread runs its Python
        # handler only when the main thread runs again, and a wait without timeout never does.
        while not stop.wait(1):
            pass
    cloud.stop()
    return 0


def another_shell(endpoint: str, stage: str, outputs: dict[str, str]) -> list[list[str]]:
    """The commands `up` suggests (the README's block runs the same ones, and more)."""
    env = LocalCloud.client_environment_for(endpoint)
    upload = f"s3://{outputs['UploadBucketName']}/{outputs['UploadPrefix']}me/chelsea.jpg"
    stage_args = [] if stage == "local" else ["--stage", stage]
    token = report.Shell(f'"Authorization: $(python -m localcloud token me{"".join(f" {w}" for w in stage_args)})"')
    return [
        [".", ".venv/bin/activate"],
        ["export", *(f"{name}={value}" for name, value in env.items() if name != "AWS_EC2_METADATA_DISABLED")],
        ["aws", "s3", "cp", "samples/chelsea.jpg", upload],
        ["python", "-m", "localcloud", "executions", "--wait", *stage_args],
        ["python", "-m", "localcloud", "logs", "resizeImage", *stage_args],
        ["python", "-m", "localcloud", "invoke", "makeThumbnail", "samples/rocket.jpg", *stage_args],
        [
            "curl", "-sS", "-w", "\\n", "-X", "POST", "--data-binary", "@samples/coffee.jpg",
            "-H", "Content-Type: image/jpeg", "-H", "X-Filename: coffee.jpg", "-H", token,
            f"{endpoint}/_api/{stage}/upload",
        ],
    ]  # fmt: skip


def settings_lines(stage: str, environ: dict[str, str] | None = None, folder: Path = PROJECT) -> list[str]:
    """Which settings this deploy changed (from the stage's .env file or the environment),
    against serverless.yml's defaults; .env.example says what each one does."""
    dotenv = settings.dotenv_file(stage, folder)
    read = f"{dotenv.name} read" if dotenv else f"no .env.{stage} or .env file"
    found = settings.changed(stage, environ, folder)
    if not found:
        return [f"\nSettings: serverless.yml's defaults ({read}; .env.example lists them)."]
    lines = [f"\nSettings that differ from serverless.yml's defaults ({read}; .env.example lists them):"]
    width = max(len(setting.name) for setting in found)
    for setting in found:
        default = repr(setting.default) if setting.default else "unset"
        text = f"{setting.value}{report.KEEP}(default{report.KEEP}{default}; from {setting.source})"
        for n, line in enumerate(report.fit(text, report.WIDTH - width - 4, lines=3)):
            lines.append(f"  {setting.name if n == 0 else '':{width}}  {line}")
    return lines


def up_banner(
    endpoint: str,
    stage: str,
    stack: Stack,
    state: Path | None = None,
    kept: persistence.Restored | None = None,
    changed_settings: list[str] | None = None,
) -> str:
    lines = [
        "",
        f"Local cloud running at {endpoint} (stage {stage}, stack {stack.name}).",
        f"  console      {endpoint}/_console/",
        f"  upload API   POST {endpoint}/_api/{stage}/upload  (locally; on AWS: the execute-api URL)",
    ]
    if "AppBucketName" in stack.outputs:  # the photo app, served from its bucket (docs/app.md)
        lines.append(f"  photo app    {endpoint}/_app/{stage}/")
        lines.append("               (a user for it: python -m localcloud token NAME --password PASSWORD)")
    lines += ["Stack outputs:"]
    # ServiceEndpoint is the execute-api URL, AppUrl the CloudFront one: they only exist on AWS.
    shown = {
        name: value
        for name, value in sorted(stack.outputs.items())
        if not name.endswith(("QualifiedArn", "Hash", "S3Key"))
        and name not in ("ServiceEndpoint", "AppUrl", "AppDistributionId")
    }
    width = max(map(len, shown), default=0)
    for name, value in shown.items():
        row = f"  {name:{width}}  {value}"
        lines += [row] if len(row) <= report.WIDTH else [f"  {name}", f"      {value}"]
    lines += changed_settings or []
    lines.append("\nFrom another shell, in the project folder (the README's 'Run it locally' has more):")
    for words in another_shell(endpoint, stage, stack.outputs):
        lines += report.command_lines(words)
    if kept:
        lines.append(
            f"\nRestored from {state}: {report.plural(kept.objects, 'object')} in"
            f" {report.plural(kept.buckets, 'bucket')}, {report.plural(kept.items, 'item')} in"
            f" {report.plural(kept.tables, 'table')}."
        )
        if kept.waiting_uploads:
            lines.append(
                f"{report.plural(kept.waiting_uploads, 'upload')} still to process: the reconciler takes them up at"
                " its next run\n(`python -m localcloud schedule reconcile` runs it now)."
            )
    if state:
        lines.append(
            f"\nCtrl-C stops it. S3 objects and DynamoDB items are saved in\n  {state}\nthe rest is gone then."
        )
    else:
        lines.append("\nCtrl-C stops it (everything in it is gone then; `up --state DIR` keeps S3 and DynamoDB).")
    return "\n".join(lines)


def package_only(args: argparse.Namespace) -> int:
    with LocalCloud() as cloud:
        folder = package(cloud.client_environment(), args.stage, Path(args.out or stage_folder(args.stage)).resolve())
    placeholders = sum(path.read_text(errors="ignore").count(DEFAULT_ACCOUNT) for path in folder.glob("*.json"))
    print(f"packaged stage '{args.stage}' into {folder}")
    print(
        f"For inspection only: the templates name the local cloud's placeholder account {DEFAULT_ACCOUNT}"
        f" ({placeholders} places).\nTo package for your account, with AWS credentials:"
        f" npx sls package --stage {args.stage}"
    )
    return 0


# -- commands against a running cloud -------------------------------------------------------------
def running_cloud(args: argparse.Namespace) -> tuple[dict[str, str], str]:
    """The environment for the cloud `up` runs (AWS_ENDPOINT_URL, else --port), and the stack."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{args.port}"
    try:
        with urllib.request.urlopen(f"{endpoint}/_localcloud/health", timeout=5) as answer:
            json.loads(answer.read())
    except (OSError, ValueError):
        raise SystemExit(f"no local cloud at {endpoint}: start one with `make up` in another shell") from None
    return LocalCloud.client_environment_for(endpoint), f"{service_name()}-{args.stage}"


def _outputs(cloud_env: dict[str, str], stack_name: str) -> dict[str, str]:
    try:
        return stack_outputs(cloud_env, stack_name)
    except Exception as error:  # botocore's ClientError: the stack is not there
        raise SystemExit(f"stack {stack_name} is not deployed in this cloud ({error})") from None


def executions(args: argparse.Namespace) -> int:
    cloud_env, stack_name = running_cloud(args)
    pipeline = Pipeline(cloud_env, _outputs(cloud_env, stack_name))
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as error:
        raise SystemExit(str(error)) from None
    outcomes = pipeline.every_upload(timeout=args.timeout if args.wait else 0, user=args.user, since=since)
    if args.result:
        outcomes = [o for o in outcomes if o.result.kind == args.result]
    if args.json:
        print(json.dumps([o.to_dict() for o in outcomes], indent=2))
    elif outcomes:
        print(report.outcomes_table(outcomes, by_user=True))
    else:
        print("no uploads match" if args.user or args.result or args.since else "no uploads yet")
    return 0 if all(o.status in ("SUCCEEDED", "RUNNING") for o in outcomes) else 1


def logs(args: argparse.Namespace) -> int:
    cloud_env, stack_name = running_cloud(args)
    client = aws_client(cloud_env, "logs")
    group = f"/aws/lambda/{stack_name}-{args.function}"
    since = int((time.time() - args.since * 60) * 1000)
    seen: set[str] = set()
    while True:
        try:
            pages = client.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since)
            events = [event for page in pages for event in page["events"]]
        except client.exceptions.ResourceNotFoundException:
            raise SystemExit(
                f"no log group {group}: has {args.function} run yet? (functions: {', '.join(invoke.stage_functions())})"
            ) from None
        for event in sorted(events, key=lambda e: e["timestamp"]):
            if event["eventId"] not in seen:
                seen.add(event["eventId"])
                if args.json:
                    print(event["message"].rstrip("\n"), flush=True)
                else:
                    print("\n".join(report.log_lines(event["timestamp"], event["message"])), flush=True)
        if not args.follow:
            return 0
        time.sleep(1)


def invoke_function(args: argparse.Namespace) -> int:
    cloud_env, stack_name = running_cloud(args)
    [photo] = photo_paths([args.photo])
    outputs = _outputs(cloud_env, stack_name)
    try:
        event = invoke.build_event(cloud_env, stack_name, args.function, photo, args.user, outputs["UploadPrefix"])
    except invoke.InvokeError as error:
        raise SystemExit(str(error)) from None
    return invoke.invoke_local(cloud_env, args.stage, stack_name, args.function, event)


def token(args: argparse.Namespace) -> int:
    """Prints only the token, so that `$(python -m localcloud token me)` can be a header."""
    cloud_env, stack_name = running_cloud(args)
    try:
        signed_in = signin.sign_in(cloud_env, _outputs(cloud_env, stack_name), args.user, args.password)
    except signin.SignInError as error:
        raise SystemExit(str(error)) from None
    print(signed_in.id_token)
    _say(f"signed in as {signed_in.username} (sub {signed_in.sub}); the token is valid {signed_in.expires_in} s")
    return 0


def schedule(args: argparse.Namespace) -> int:
    """Lists the schedules of the running cloud, or fires the one that targets FUNCTION now."""
    cloud_env, stack_name = running_cloud(args)
    endpoint = cloud_env["AWS_ENDPOINT_URL"]
    schedules = _control(endpoint, "schedules")["schedules"]
    ours = [s for s in schedules if any(t.rsplit(":", 1)[-1].startswith(f"{stack_name}-") for t in s["targets"])]
    if not args.function:
        if not ours:
            print(f"no schedules target a function of {stack_name}")
        for found in ours:
            function = ", ".join(t.rsplit(":", 1)[-1].removeprefix(f"{stack_name}-") for t in found["targets"])
            state = f"next {found['next']}" if found["enabled"] else "disabled"
            print(f"{function}: {found['expression']}, {state}\n  ({found['kind']} {found['name']})")
        return 0
    wanted = [s for s in ours if f"{stack_name}-{args.function}" in [t.rsplit(":", 1)[-1] for t in s["targets"]]]
    wanted = wanted or [s for s in schedules if s["name"] == args.function]
    if len(wanted) != 1:
        names = sorted({t.rsplit(":", 1)[-1].removeprefix(f"{stack_name}-") for s in ours for t in s["targets"]})
        raise SystemExit(
            f"no schedule of {stack_name} targets {args.function!r} (scheduled: {', '.join(names) or 'none'})"
        )
    _say(f"firing {wanted[0]['name']} ({wanted[0]['expression']}) now ...")
    fired = _control(endpoint, "schedules/fire", {"name": wanted[0]["name"], "wait": args.timeout})["fired"]
    for result in fired:
        if "error" in result:
            raise SystemExit(f"{result['target']}: {result['error']}")
        print(json.dumps(result["result"], indent=2))
    return 1 if any(result.get("errored") for result in fired) else 0


def runtime(args: argparse.Namespace) -> int:
    try:
        print(interpreter.describe(args.architecture))
    except interpreter.RuntimeUnavailable as error:
        raise SystemExit(f"localcloud: {error}") from None
    return 0


def _control(endpoint: str, route: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{endpoint}/_localcloud/{route}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=1200) as answer:
        answered: dict[str, Any] = json.loads(answer.read())
    return answered


# -- the parser -------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m localcloud", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    port_help = f"port of the local cloud (default: $LOCALCLOUD_PORT, else {DEFAULT_PORT}; 0 = any free port)"

    def command(name: str, function: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(command_function=function)
        sub.add_argument("--stage", default="local", help="stage (default: local)")
        return sub

    for name, function, text in (
        ("demo", demo, "deploy, run the bundled sample photos, print what became of each"),
        ("run", run_files, "deploy, run your own photos (files or folders)"),
        ("up", up, "deploy and keep the local cloud running"),
    ):
        sub = command(name, function, text)
        sub.add_argument("--retry-scale", type=float, default=1.0, help="multiply Retry waits (0 = no wait)")
        sub.add_argument("--timeout", type=float, default=180, help="seconds to wait for executions (default 180)")
        if name == "run":
            sub.add_argument("--json", action="store_true", help="print every detail as JSON")
            sub.add_argument("--user", default="cli", help="user id in the upload keys (default: cli)")
            sub.add_argument("--out", metavar="DIR", help="save what the workflow wrote, per photo, under DIR")
            sub.add_argument("files", nargs="+", metavar="FILE|FOLDER")
        if name == "up":
            sub.add_argument("--port", type=port_number, default=default_port(), help=port_help)
            sub.add_argument("--state", metavar="DIR", help="keep S3 objects and DynamoDB items in DIR across restarts")

    sub = commands.add_parser("package", help="sls package with no AWS account (for inspection)")
    sub.set_defaults(command_function=package_only)
    sub.add_argument("--stage", default="dev", help="stage (default: dev)")
    sub.add_argument("--out", help="folder for the artifacts (default: build/STAGE)")

    sub = command("executions", executions, "every upload of the stage and what became of it")
    sub.add_argument("--wait", action="store_true", help="until every upload in the bucket has finished")
    sub.add_argument("--timeout", type=float, default=120, help="seconds --wait waits at most (default 120)")
    sub.add_argument("--json", action="store_true", help="print every detail as JSON")
    sub.add_argument("--user", help="only the uploads of this user folder (a user id, e.g. a token's sub)")
    sub.add_argument("--result", choices=KINDS, help="only uploads with this result")
    sub.add_argument("--since", metavar="WHEN", help="only executions started since: 30m, 6h, 3d or an ISO date")
    sub = command("logs", logs, "a function's log in the running cloud")
    sub.add_argument("function", help=f"one of: {', '.join(invoke.stage_functions())}")
    sub.add_argument("--json", action="store_true", help="the raw lines, as the functions wrote them")
    sub.add_argument("--since", type=float, default=60, metavar="MINUTES", help="how far back (default 60)")
    sub.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (Ctrl-C stops)")
    sub = command("invoke", invoke_function, "one function of your working tree, with sls invoke local")
    sub.add_argument("function", help=f"one of: {', '.join(invoke.FUNCTIONS)}")
    sub.add_argument("photo", help="the photo to run it on")
    sub.add_argument("--user", default="me", help="user id in the upload key (default: me)")
    sub = command("token", token, "an ID token for POST /upload (creates the user in the local user pool)")
    sub.add_argument("user", help="username in the stage's user pool")
    sub.add_argument("--password", help="set this password (to sign in to the photo app); default: a random one")
    sub = command("schedule", schedule, "the stage's schedules, or fire one now (`schedule reconcile`)")
    sub.add_argument("function", nargs="?", help="fire the schedule of this function now, and wait for it")
    sub.add_argument("--timeout", type=float, default=900, help="seconds to wait for the function (default 900)")
    sub = commands.add_parser("runtime", help="the Lambda runtime's own Python the workers run (fetched once)")
    sub.set_defaults(command_function=runtime)
    sub.add_argument("architecture", nargs="?", choices=("x86_64", "arm64"), help="default: this machine's")
    for name in ("executions", "logs", "invoke", "token", "schedule"):
        commands.choices[name].add_argument("--port", type=port_number, default=default_port(), help=port_help)
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        code: int = args.command_function(args)
        return code
    return 130
