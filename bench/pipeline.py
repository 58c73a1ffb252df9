"""Pipeline benchmark in the local cloud: deploy time (`sls deploy` into the emulator) and
throughput of the whole workflow for a batch of photos, with the worker processes used.
Prints figures; asserts nothing.

    make bench-pipeline      (or: .venv/bin/python -m bench.pipeline [--photos N] [--workers N])
"""

from __future__ import annotations

import argparse
import io
import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from localcloud.cloud import LocalCloud
from localcloud.deploy import deploy
from localcloud.pipeline import Pipeline

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--side", type=int, default=1600, help="width of each photo in pixels")
    parser.add_argument("--workers", type=int, default=4, help="worker processes per function at most")
    args = parser.parse_args()

    with LocalCloud(retry_scale=0, max_workers_per_function=args.workers) as cloud:
        stack = deploy(cloud.client_environment(), "bench")
        print(f"deploy (sls deploy into the local cloud): {stack.seconds:.1f} s")
        pipeline = Pipeline(cloud.client_environment(), stack.outputs)
        photos = batch(args.photos, args.side)
        megapixels = sum(Image.open(io.BytesIO(p)).size[0] * Image.open(io.BytesIO(p)).size[1] for p in photos) / 1e6
        keys = {f"{pipeline.upload_prefix}bench/{i:03d}.jpg": body for i, body in enumerate(photos)}
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda item: pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=item[0], Body=item[1]),
                    keys.items(),
                )
            )
        outcomes = pipeline.wait({key: key for key in keys}, timeout=900)
        elapsed = time.perf_counter() - started
        with urllib.request.urlopen(f"{cloud.endpoint}/_localcloud/stats") as response:
            stats = json.loads(response.read())
        processed = sum(o.result == "processed" for o in outcomes)
        durations = sorted(o.seconds or 0 for o in outcomes)
        print(
            f"photos: {len(photos)} ({megapixels:.0f} MP in all), processed {processed}, "
            f"other outcomes {len(photos) - processed}"
        )
        print(f"wall time {elapsed:.1f} s -> {len(photos) / elapsed:.2f} images/s, {megapixels / elapsed:.1f} MP/s")
        print(f"execution time: median {durations[len(durations) // 2]:.2f} s, max {durations[-1]:.2f} s")
        print(
            f"worker processes started: {sum(stats['workersStarted'].values())} "
            f"(at most {args.workers} per function, {len(stats['workersStarted'])} functions); "
            f"peak concurrent invocations {stats['peakConcurrency']}; "
            f"invocations {sum(stats['invocations'].values())}"
        )
    return 0 if processed == len(photos) else 1


if __name__ == "__main__":
    raise SystemExit(main())
