"""The local cloud's command line.

demo               deploy, process the bundled sample photos, print a summary table
run [--json] FILE  deploy, process your own files
up [--port N]      deploy and keep the local cloud running for any AWS client
package [--stage]  `sls package` with no AWS account (against a throwaway local cloud)
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
from collections.abc import Callable
from pathlib import Path

from .cloud import LocalCloud
from .deploy import PROJECT, Stack, deploy, package
from .pipeline import Outcome, Pipeline, run

SAMPLES = PROJECT / "samples"
MANIFEST = SAMPLES / "manifest.json"


def _start(args: argparse.Namespace, quiet: bool = False) -> tuple[LocalCloud, Stack]:
    cloud = LocalCloud(port=getattr(args, "port", 0), retry_scale=args.retry_scale).start()
    _say(f"local cloud on {cloud.endpoint}; deploying stage '{args.stage}' with sls deploy ...", quiet)
    stack = deploy(cloud.client_environment(), args.stage)
    _say(f"deployed {stack.name} in {stack.seconds:.1f} s", quiet)
    return cloud, stack


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _progress(quiet: bool) -> Callable[[Outcome, int, int], None]:
    def report(outcome: Outcome, done: int, total: int) -> None:
        _say(f"  [{done}/{total}] {outcome.file}: {outcome.status} ({outcome.result})", quiet)

    return report


def table(outcomes: list[Outcome]) -> str:
    rows = [("file", "status", "result", "path of states", "outputs written", "time")]
    for o in outcomes:
        outputs = ", ".join(f"{x['key']} ({x['bytes'] / 1024:,.0f} KiB)" for x in o.outputs)
        rows.append(
            (
                o.file,
                o.status,
                o.result,
                o.path_summary,
                outputs or (o.error or "-")[:80],
                f"{o.seconds:.2f} s" if o.seconds is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def demo(args: argparse.Namespace) -> int:
    manifest = json.loads(MANIFEST.read_text())
    cloud, stack = _start(args)
    try:
        pipeline = Pipeline(cloud.client_environment(), stack.outputs)
        outcomes: list[Outcome] = []
        started = time.perf_counter()
        # Waves: a duplicate is only a duplicate once the first copy has been recorded.
        for wave in manifest["waves"]:
            files = {pipeline.upload(SAMPLES / item["file"], name=item.get("as")): item["file"] for item in wave}
            _say(f"uploaded {len(files)} files; waiting for their executions ...")
            outcomes += pipeline.wait(files, timeout=args.timeout, progress=_progress(False))
        elapsed = time.perf_counter() - started
        print(table(outcomes))
        expected = [item["expect"] for wave in manifest["waves"] for item in wave]
        ok = [o.result for o in outcomes] == expected
        print(f"\n{len(outcomes)} uploads in {elapsed:.1f} s; every outcome as designed: {'yes' if ok else 'NO'}")
        if not ok:
            for o, want in zip(outcomes, expected, strict=False):
                if o.result != want:
                    print(f"  {o.file}: expected {want}, got {o.result} {o.error or ''}")
        return 0 if ok else 1
    finally:
        cloud.stop()


def run_files(args: argparse.Namespace) -> int:
    paths = [Path(name) for name in args.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    cloud, stack = _start(args, quiet=args.json)
    try:
        pipeline = Pipeline(cloud.client_environment(), stack.outputs)
        outcomes = run(pipeline, paths, user=args.user, timeout=args.timeout, progress=_progress(args.json))
        print(json.dumps([o.to_dict() for o in outcomes], indent=2) if args.json else table(outcomes))
        return 0 if all(o.status == "SUCCEEDED" for o in outcomes) else 1
    finally:
        cloud.stop()


def up(args: argparse.Namespace) -> int:
    cloud, stack = _start(args)
    env = cloud.client_environment()
    print(f"\nLocal cloud running at {cloud.endpoint} (stage {args.stage}).")
    print(f"Execution console: {cloud.console_url}")
    print("Stack outputs:")
    for name, value in sorted(stack.outputs.items()):
        if not name.endswith(("QualifiedArn", "Hash", "S3Key")):
            print(f"  {name:24} {value}")
    print("\nUse it from another shell:")
    print("  " + " ".join(f"export {k}={v}" for k, v in env.items() if k != "AWS_DEFAULT_REGION"))
    print(
        f"  aws s3 cp samples/chelsea.jpg s3://{stack.outputs['UploadBucketName']}/{stack.outputs['UploadPrefix']}me/chelsea.jpg"
    )
    print(f"  aws stepfunctions list-executions --state-machine-arn {stack.outputs['ImageWorkflowArn']}")
    headers = "-H 'Content-Type: image/jpeg' -H 'X-User-Id: me'"
    print(f"  curl -X POST --data-binary @samples/coffee.jpg {headers} {cloud.endpoint}/_api/{args.stage}/upload")
    print("\nCtrl-C stops it.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    cloud.stop()
    return 0


def package_only(args: argparse.Namespace) -> int:
    with LocalCloud() as cloud:
        folder = package(cloud.client_environment(), args.stage, Path(args.out).resolve())
    print(f"packaged stage '{args.stage}' into {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function, text in (
        ("demo", demo, "the bundled samples"),
        ("run", run_files, "your files"),
        ("up", up, "keep running"),
    ):
        command = commands.add_parser(name, help=text)
        command.set_defaults(function=function)
        command.add_argument("--stage", default="local", help="stage to deploy (default: local)")
        command.add_argument("--retry-scale", type=float, default=1.0, help="multiply Retry waits (0 = no wait)")
        command.add_argument("--timeout", type=float, default=180, help="seconds to wait for executions")
        if name == "run":
            command.add_argument("--json", action="store_true", help="print results as JSON")
            command.add_argument("--user", default="cli", help="user id for the upload keys")
            command.add_argument("files", nargs="+")
        if name == "up":
            command.add_argument("--port", type=int, default=int(os.environ.get("LOCALCLOUD_PORT", "4566")))
    packaging = commands.add_parser("package", help="sls package, with no AWS account")
    packaging.set_defaults(function=package_only)
    packaging.add_argument("--stage", default="dev")
    packaging.add_argument("--out", default=".serverless", help="folder for the artifacts (default .serverless)")
    args = parser.parse_args(argv)
    return args.function(args)
