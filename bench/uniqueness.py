"""Uniqueness lookup benchmark: one user's library of 1,000 and of 100,000 photos in the local
cloud's DynamoDB, and the read units and time of one CheckForDuplicate lookup at each size,
with the ratio. Prints figures; asserts nothing.

    make bench-uniqueness   (or: .venv/bin/python -m bench.uniqueness [--sizes 1000,100000])

Each size gets its own pair of tables, created from serverless.yml's definitions; the
library is written straight through boto3 batch writes (the photo items and index entries
WriteToDynamoDb would write, built by the same functions), with random 64-bit perceptual
hashes, the larger library holding the smaller one's photos and more. A lookup is
`photos.find`, as CheckForDuplicate calls it, for an upload 2 bits away from a photo both
libraries hold (a burst shot: the band partitions hold a match) and for one that matches
nothing. The same upload is looked up in every library in turn, in a rotating order, so
that the load of a shared machine weighs on each size alike.

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
INDEX_PREFIX = "bench-uniqueness-"


def tables(size: int) -> tuple[str, str]:
    """The photos table and the uniqueness table of the library of `size` photos."""
    return f"bench-photos-{size}", f"{INDEX_PREFIX}{size}"


def create_tables(client: Any, size: int) -> None:
    """The photos and uniqueness tables as serverless.yml defines them (keys, indexes)."""
    resources = yaml.safe_load((PROJECT / "serverless.yml").read_text())["resources"]["Resources"]
    for logical, name in zip(("PhotosTable", "UniquenessTable"), tables(size), strict=True):
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


def fill(client: Any, size: int, library: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> float:
    """Writes the first `size` photos of `library` (DynamoDB-typed items and index entries)
    into the tables of that size (25 items per batch write, 4 at a time); returns the
    seconds it took."""
    photos_table, index_table = tables(size)
    requests: list[dict[str, Any]] = []
    for item, entries in library[:size]:
        requests.append({photos_table: [{"PutRequest": {"Item": item}}]})
        requests.append({index_table: [{"PutRequest": {"Item": entry}} for entry in entries]})
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
            if request["TableName"].startswith(INDEX_PREFIX):
                found = [{**item, photos.ENTRY: request["ExpressionAttributeValues"][":v"]} for item in found]
        else:
            return
        size = sum(item_size(item) for item in found)
        per_unit = 1.0 if request.get("ConsistentRead") else 0.5
        self.units += max(1, math.ceil(size / 4096)) * per_unit
        self.items += len(found)
        self.requests += 1


def measure(
    meter: ReadMeter, sizes: list[int], shared: list[dict[str, Any]], rng: random.Random, lookups: int
) -> dict[int, dict[str, dict[str, float | list[float]]]]:
    """Per size and kind of upload: median, first and third quartile of the time, and mean
    read units, requests and items read, of `lookups` lookups. Each upload is looked up in
    every library, the order rotating from one upload to the next."""
    policy = uniqueness.Policy()
    runs: dict[int, dict[str, dict[str, list[float]]]] = {
        size: {kind: {"seconds": [], "units": [], "requests": [], "items": []} for kind in KINDS} for size in sizes
    }
    for number in range(lookups):
        for kind in KINDS:
            if kind == "near":  # a burst shot of a photo every library holds: 2 bits away
                base = int(rng.choice(shared)["perceptualHash"]["S"], 16)
                perceptual = f"{base ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)):016x}"
            else:
                perceptual = f"{rng.getrandbits(64):016x}"
            content_hash = f"{rng.getrandbits(256):064x}"
            turn = number % len(sizes)
            for size in sizes[turn:] + sizes[:turn]:
                meter.reset()
                started = time.perf_counter()
                result = photos.find(*tables(size), policy, USER, content_hash, perceptual)
                found = runs[size][kind]
                found["seconds"].append(time.perf_counter() - started)
                if kind == "near":
                    assert result.near, "the near duplicate was not found"
                for name, value in (("units", meter.units), ("requests", meter.requests), ("items", meter.items)):
                    found[name].append(value)
    return {
        size: {
            kind: {
                "seconds": statistics.median(found["seconds"]),
                "quartiles": statistics.quantiles(found["seconds"], n=4)[::2],
                **{name: statistics.fmean(found[name]) for name in ("units", "requests", "items")},
            }
            for kind, found in by_kind.items()
        }
        for size, by_kind in runs.items()
    }


KINDS = ("near", "new")


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
    parser.add_argument("--lookups", type=int, default=60, help="lookups of each kind per size")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    with LocalCloud() as cloud:
        os.environ.update(cloud.client_environment())
        client = aws._client("dynamodb")  # the handlers' own client: the meter sees their requests
        rng = random.Random(17)
        library = []
        for number in range(sizes[-1]):
            item, entries = library_photo(rng, number)
            library.append((aws._marshal(item), [aws._marshal(entry) for entry in entries]))
        for size in sizes:
            create_tables(client, size)
            seconds = fill(client, size, library)
            print(f"library of {size:,} photos ({size * 6:,} items): filled in {seconds:.0f} s", flush=True)
        meter = ReadMeter(client)
        shared = [item for item, _ in library[: sizes[0]]]
        figures: dict[int, dict[str, Any]] = measure(meter, sizes, shared, rng, args.lookups)
        for size in sizes:
            figures[size]["whole"] = whole_library([item for item, _ in library[:size]])

    print(f"\none lookup, {args.lookups} of each kind per library (means of read units; time: median, quartiles)")
    print(f"{'library':>10} {'kind':<24} {'requests':>8} {'items read':>10} {'read units':>10} {'time':>23}")
    rows = (("near", "upload 2 bits from one"), ("new", "upload matching nothing"), ("whole", "whole library (before)"))
    for size, found in figures.items():
        for kind, label in rows:
            row = found[kind]
            timed = f"{'-':>23}"
            if "seconds" in row:
                low, high = (q * 1000 for q in row["quartiles"])
                timed = f"{row['seconds'] * 1000:>7.1f} ms ({low:>5.1f}-{high:>5.1f})"
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
