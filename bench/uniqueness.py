"""Uniqueness lookup benchmark: one user's library filled to 1,000 and then 100,000 photos in
the local cloud's DynamoDB, and the read units and time of one CheckForDuplicate lookup at
each size, with the ratio. Prints figures; asserts nothing.

    make bench-uniqueness   (or: .venv/bin/python -m bench.uniqueness [--sizes 1000,100000])

The tables are created from serverless.yml's definitions; the library is written straight
through boto3 batch writes (the photo items and index entries WriteToDynamoDb would write,
built by the same functions), with random 64-bit perceptual hashes. A lookup is
`photos.find`, as CheckForDuplicate calls it, for an upload 2 bits away from a photo of the
library (a burst shot: the band partitions hold a match) and for one that matches nothing.

Read units follow DynamoDB's rules from the bytes each request reads (moto reports a constant
instead): a GetItem or a Query reads whole items, rounded up to 4 KB per request (at least
one unit: a read that finds nothing is charged too), a strongly consistent read costs 1 unit
per 4 KB and an eventually consistent one half. The line "whole library" is what the lookup
did before the index, every photo of the user through the byUser index: counted, not timed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from handlers.core import aws, keys, photos, uniqueness
from handlers.core.workflow import SourceObject
from localcloud.cloud import LocalCloud

PROJECT = Path(__file__).resolve().parent.parent
USER = "bench-user"
UPLOAD_PREFIX = "uploads/"
PHOTOS_TABLE, INDEX_TABLE = "bench-photos", "bench-uniqueness"


def create_tables(client: Any) -> None:
    """The photos and uniqueness tables as serverless.yml defines them (keys, indexes)."""
    resources = yaml.safe_load((PROJECT / "serverless.yml").read_text())["resources"]["Resources"]
    for logical, name in (("PhotosTable", PHOTOS_TABLE), ("UniquenessTable", INDEX_TABLE)):
        properties = resources[logical]["Properties"]
        keep = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
        client.create_table(TableName=name, **{k: v for k, v in properties.items() if k in keep})


def library_photo(rng: random.Random, number: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One recorded photo: its item and its index entries, built as WriteToDynamoDb builds them."""
    content_hash, perceptual_hash = f"{rng.getrandbits(256):064x}", f"{rng.getrandbits(64):016x}"
    source = SourceObject("bench-uploads", f"{UPLOAD_PREFIX}{USER}/IMG_{number:06d}.jpg", 3_400_000)
    metadata = {
        "width": 4032,
        "height": 3024,
        "capturedAt": f"2024-05-01T14:{number // 3600 % 60:02d}:{number % 60:02d}.120+02:00",
        "cameraMake": "Google",
        "cameraModel": "Pixel 9 Pro",
        "lens": "Pixel 9 Pro back camera 6.9mm f/1.68",
        "orientation": 1,
        "colourProfile": "Display P3",
        "colourSpace": "Display P3",
        "hasLocation": True,
        "jpegVariant": "baseline",
        "imageCount": 1,
    }
    outputs = keys.output_keys(source.key, UPLOAD_PREFIX, content_hash)
    state = {
        "userId": USER,
        "results": {
            "fileType": {"width": 4032, "height": 3024, "mode": "RGB", "metadata": metadata},
            "uniqueness": {"contentHash": content_hash, "perceptualHash": perceptual_hash},
            "outputs": {
                "original": {"bucket": "bench-photos", "key": outputs.original},
                "png": {"bucket": "bench-photos", "key": outputs.png, "bytes": 31_000_000},
                "thumbnail": {"bucket": "bench-photos", "key": outputs.thumbnail, "width": 256, "height": 192},
            },
        },
    }
    item = {k: v for k, v in photos.new_item(source, state).items() if v is not None}
    index = uniqueness.index_to_write(uniqueness.Policy(), USER, content_hash, perceptual_hash)
    entries = [
        {photos.ENTRY: entry, photos.MEMBER: index["member"], "perceptualHash": perceptual_hash}
        for entry in index["bands"]
    ]
    return item, entries


def fill(client: Any, rng: random.Random, start: int, stop: int, library: list[dict[str, Any]]) -> float:
    """Writes photos start..stop-1 (25 items per batch write, 4 at a time), adding their
    items (DynamoDB-typed) to `library`; returns the seconds it took."""
    requests: list[dict[str, Any]] = []
    for number in range(start, stop):
        item, entries = library_photo(rng, number)
        library.append(aws._marshal(item))
        requests.append({PHOTOS_TABLE: [{"PutRequest": {"Item": library[-1]}}]})
        requests.append({INDEX_TABLE: [{"PutRequest": {"Item": aws._marshal(e)}} for e in entries]})
    batches: list[dict[str, list[Any]]] = []
    current: dict[str, list[Any]] = {}
    for request in requests:
        for table, puts in request.items():
            for put in puts:
                if sum(len(v) for v in current.values()) == 25:
                    batches.append(current)
                    current = {}
                current.setdefault(table, []).append(put)
    batches.append(current)

    def write(batch: dict[str, list[Any]]) -> None:
        while batch:
            batch = client.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, batches))
    return time.perf_counter() - started


# -- read units ----------------------------------------------------------------------------------


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of one DynamoDB-typed value, by DynamoDB's item-size rules."""
    kind, data = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(data.encode() if kind == "S" else data)
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in data)
    return sum(attribute_size({kind[0]: v}) for v in data)  # SS, NS, BS


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


class ReadMeter:
    """Counts the read units and items of every DynamoDB request a client makes."""

    def __init__(self, client: Any) -> None:
        self.units, self.items, self.requests = 0.0, 0, 0
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        self.units, self.items, self.requests = 0.0, 0, 0

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench-request"] = json.loads(params.get("body") or b"{}")

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        request = context.get("bench-request") or {}
        if model.name == "GetItem":
            found = [parsed["Item"]] if parsed.get("Item") else []
        elif model.name == "Query":
            found = parsed.get("Items", [])
            # Read units are charged on whole items, even when only some attributes come back:
            # the lookup leaves out the band entries' partition key.
            if request["TableName"] == INDEX_TABLE:
                found = [{**item, photos.ENTRY: request["ExpressionAttributeValues"][":v"]} for item in found]
        else:
            return
        size = sum(item_size(item) for item in found)
        per_unit = 1.0 if request.get("ConsistentRead") else 0.5
        self.units += max(1, math.ceil(size / 4096)) * per_unit
        self.items += len(found)
        self.requests += 1


def measure(
    meter: ReadMeter, library: list[dict[str, Any]], rng: random.Random, lookups: int
) -> dict[str, dict[str, float]]:
    """Median time, and mean read units, requests and items read, of `lookups` lookups of each kind."""
    policy = uniqueness.Policy()
    found: dict[str, dict[str, list[float]]] = {}
    for kind in ("near", "new"):
        runs: dict[str, list[float]] = {"seconds": [], "units": [], "requests": [], "items": []}
        for _ in range(lookups):
            if kind == "near":  # a burst shot of a photo of the library: 2 bits away
                base = int(rng.choice(library)["perceptualHash"]["S"], 16)
                perceptual = f"{base ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)):016x}"
            else:
                perceptual = f"{rng.getrandbits(64):016x}"
            meter.reset()
            started = time.perf_counter()
            result = photos.find(PHOTOS_TABLE, INDEX_TABLE, policy, USER, f"{rng.getrandbits(256):064x}", perceptual)
            runs["seconds"].append(time.perf_counter() - started)
            if kind == "near":
                assert result.near, "the near duplicate was not found"
            for name, value in (("units", meter.units), ("requests", meter.requests), ("items", meter.items)):
                runs[name].append(value)
        found[kind] = runs
    return {
        kind: {
            "seconds": statistics.median(runs["seconds"]),
            **{name: statistics.fmean(runs[name]) for name in ("units", "requests", "items")},
        }
        for kind, runs in found.items()
    }


BY_USER_BEFORE = ("userId", "photoId", "uploadedAt", "perceptualHash", "sourceKey")  # what byUser projected


def whole_library(items: list[dict[str, Any]]) -> dict[str, float]:
    """What the lookup did before the index: read every photo of the user through byUser,
    whose items held the keys, perceptualHash and sourceKey; in 1 MB pages. Counted from
    the items written, not timed: moto's index queries filter every item of the table, and
    its time per item read says more about moto than about DynamoDB."""
    units, page = 0.0, 0
    sizes = [item_size({name: item[name] for name in BY_USER_BEFORE}) for item in items]
    for size in [*sizes, 1 << 20]:  # the sentinel closes the last page
        if page + size > 1 << 20:
            units += max(1, math.ceil(page / 4096)) * 0.5
            page = 0
        page += size
    return {"units": units, "items": len(sizes), "requests": math.ceil(sum(sizes) / (1 << 20))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000", help="library sizes, ascending (comma-separated)")
    parser.add_argument("--lookups", type=int, default=30, help="lookups of each kind per size")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    with LocalCloud() as cloud:
        os.environ.update(cloud.client_environment())
        client = aws._client("dynamodb")  # the handlers' own client: the meter sees their requests
        create_tables(client)
        meter = ReadMeter(client)
        rng = random.Random(17)
        library: list[dict[str, Any]] = []
        figures: dict[int, dict[str, Any]] = {}
        for size in sizes:
            seconds = fill(client, rng, len(library), size, library)
            print(f"library of {size:,} photos ({size * 6:,} items): filled in {seconds:.0f} s", flush=True)
            figures[size] = measure(meter, library, rng, args.lookups) | {"whole": whole_library(library)}

    print("\none lookup (CheckForDuplicate's reads; medians of time, means of read units)")
    print(f"{'library':>10} {'kind':<24} {'requests':>8} {'items read':>10} {'read units':>10} {'time':>9}")
    rows = (("near", "upload 2 bits from one"), ("new", "upload matching nothing"), ("whole", "whole library (before)"))
    for size, found in figures.items():
        for kind, label in rows:
            row = found[kind]
            timed = f"{row['seconds'] * 1000:>7.1f} ms" if "seconds" in row else f"{'-':>10}"
            print(
                f"{size:>10,} {label:<24} {row['requests']:>8.0f} {row['items']:>10.1f} {row['units']:>10.1f} {timed}"
            )
    if len(sizes) > 1:
        small, large = figures[sizes[0]], figures[sizes[-1]]
        print(f"\n{sizes[-1]:,} / {sizes[0]:,} photos:")
        for kind, label in rows:
            ratios = [f"read units x{large[kind]['units'] / small[kind]['units']:.2f}"]
            if "seconds" in small[kind]:
                ratios.append(f"time x{large[kind]['seconds'] / small[kind]['seconds']:.2f}")
            print(f"  {label:<24} {', '.join(ratios)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
