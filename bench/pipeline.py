"""Pipeline benchmark in the local cloud: deploy time (`sls deploy` into the emulator, first
and again with the layer reused), the package sizes a cold start loads, and the throughput of
the whole workflow for a batch of distinct photos, with where the time went. Prints figures
and ratios against the reference; asserts nothing.

    make bench-pipeline      (or: .venv/bin/python -m bench.pipeline [--photos N] [--workers N])

Where the time goes (CPU seconds during the batch, on this machine's cores):
- handlers: the functions' own work in the worker processes (CPU time measured per invocation);
- worker start-up: new worker processes importing their handler (Lambda's cold starts);
- local cloud: this process, which serves every AWS call (moto), runs the Step Functions
  interpreter, checks IAM, passes invocations to the workers (IPC) and polls for the results;
  of which `polling`: the benchmark's own client, waiting for the executions to end;
- other processes: whatever else ran on the machine meanwhile (from /proc/stat);
- idle: what the cores did not use (waiting on each other, on locks, on the GIL).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from localcloud.cloud import LocalCloud
from localcloud.tools import cost, report
from localcloud.tools.deploy import deploy
from localcloud.tools.pipeline import Pipeline
from localcloud.tools.results import PROCESSED

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg")
# Measured before this benchmark's speed-ups, 40 photos of 1,600 px, 2 cores (issue 11): the
# reference the ratios below are taken against.
REFERENCE = {"photos_per_second": 1.0, "deploy_seconds": 30.0}


def batch(count: int, side: int) -> list[bytes]:
    """`count` distinct photos (so none is a duplicate), about side x side pixels each."""
    photos = []
    for index in range(count):
        with Image.open(SAMPLES / PHOTOS[index % len(PHOTOS)]) as photo:
            picture = photo.convert("RGB").resize((side, side * 3 // 4)).rotate(17 * index + 5, expand=True)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def sizes(folder: Path) -> None:
    """What a cold start loads: the function package, and the Pillow layer for the functions
    that have it (bytes zipped, as Lambda downloads them, and unzipped)."""
    found = {}
    for name in ("image-converter.zip", "pythonRequirements.zip"):
        with zipfile.ZipFile(folder / name) as archive:
            found[name] = ((folder / name).stat().st_size, sum(i.file_size for i in archive.infolist()))
    (fz, fu), (lz, lu) = found["image-converter.zip"], found["pythonRequirements.zip"]
    print("package a cold start loads (zipped / unzipped):")
    print(f"  function without the layer  {fz / 1e6:6.2f} MB / {fu / 1e6:6.2f} MB")
    print(
        f"  function with the layer     {(fz + lz) / 1e6:6.2f} MB / {(fu + lu) / 1e6:6.2f} MB (layer {lz / 1e6:.2f} MB)"
    )


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes of this machine have used (Linux /proc/stat), None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--side", type=int, default=1600, help="width of each photo in pixels")
    parser.add_argument("--workers", type=int, help="worker processes per function at most (default: cores, >= 2)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the start")

    with LocalCloud(retry_scale=0, max_workers_per_function=args.workers) as cloud:
        env = cloud.client_environment()
        first = deploy(env, "bench")
        again = deploy(env, "bench")
        print(f"deploy (sls package + sls deploy into the local cloud): {first.seconds:.1f} s,")
        print(
            f"  again with the layer reused {again.seconds:.1f} s"
            f" (reference {REFERENCE['deploy_seconds']:.0f} s: x{REFERENCE['deploy_seconds'] / again.seconds:.1f})"
        )
        sizes(again.package_dir)
        pipeline = Pipeline(env, again.outputs)
        photos = batch(args.photos, args.side)
        megapixels = sum(w * h for w, h in (Image.open(io.BytesIO(p)).size for p in photos)) / 1e6
        keys = {f"{pipeline.upload_prefix}bench/{i:03d}.jpg": body for i, body in enumerate(photos)}
        assert cloud.meter is not None and cloud.runtime is not None
        mark = cloud.meter.mark()
        polled = [0.0]
        cpu_before, busy_before, started = cpu_seconds(), machine_busy_seconds(), time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda item: pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=item[0], Body=item[1]),
                    keys.items(),
                )
            )
        original = pipeline.executions_by_key

        def executions_by_key(*args: Any, **kwargs: Any) -> dict[str | None, list[dict[str, Any]]]:
            thread_cpu = time.thread_time()
            try:
                found: dict[str | None, list[dict[str, Any]]] = original(*args, **kwargs)
                return found
            finally:
                polled[0] += time.thread_time() - thread_cpu

        pipeline.executions_by_key = executions_by_key  # type: ignore[method-assign]  # timed: the polling's CPU
        outcomes = pipeline.wait({key: key for key in keys}, timeout=900)
        elapsed = time.perf_counter() - started
        cloud_cpu = cpu_seconds() - cpu_before
        busy_after = machine_busy_seconds()
        calls, _, _ = cloud.meter.since(mark)
        stats = cloud.runtime.stats
        processed = sum(o.result.kind == PROCESSED for o in outcomes)
        durations = sorted(o.seconds or 0 for o in outcomes)
        rate = len(photos) / elapsed
        print(
            f"photos: {len(photos)} ({megapixels:.0f} MP in all), processed {processed}, "
            f"other outcomes {len(photos) - processed}"
        )
        print(
            f"wall time {elapsed:.1f} s -> {rate:.2f} photos/s, {megapixels / elapsed:.1f} MP/s"
            f" (reference {REFERENCE['photos_per_second']:.1f} photos/s: x{rate / REFERENCE['photos_per_second']:.1f})"
        )
        print(f"worker processes per function at most: {cloud.max_workers}")
        print(
            f"execution time: median {statistics.median(durations):.2f} s, max {durations[-1]:.2f} s;"
            f" {len(calls)} invocations, {sum(stats.workers_started.values())} worker processes started,"
            f" peak {stats.peak_concurrency} invocations at once"
        )
        handlers = sum(c.cpu_ms or 0 for c in calls) / 1000
        starts = sum(c.init_cpu_ms or 0 for c in calls) / 1000
        cores = (os.cpu_count() or 1) * elapsed
        ours = handlers + starts + cloud_cpu
        others = max(0.0, busy_after - busy_before - ours) if busy_before is not None and busy_after else 0.0
        idle = max(0.0, cores - ours - others)
        print(f"where the time went (CPU seconds of {os.cpu_count()} cores x {elapsed:.1f} s = {cores:.1f}):")
        for name, seconds in (
            ("handlers (the functions' work)", handlers),
            ("worker start-up (imports)", starts),
            ("local cloud: moto, interpreter, IAM, IPC", cloud_cpu - polled[0]),
            ("benchmark polling for results", polled[0]),
            ("other processes on this machine", others),
            ("idle", idle),
        ):
            print(f"  {name:42} {seconds:6.1f} s  {100 * seconds / cores:4.0f}%")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"load average {load:.1f} at the end\n")
        calls, requests, units = cloud.meter.since(mark)
        shapes = [pipeline.shapes[o.execution_arn] for o in outcomes if o.execution_arn in pipeline.shapes]
        bill = cost.bill(calls, requests, units, shapes, len(outcomes), pipeline.workflow_type)
        print(report.bill_lines(bill, cloud.meter.calibration))
    return 0 if processed == len(photos) else 1


if __name__ == "__main__":
    raise SystemExit(main())
