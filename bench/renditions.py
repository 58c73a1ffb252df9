"""Renditions benchmark: what the thumbnail's function makes (the thumbnail, the default
renditions and the ThumbHash from one decode) against its floor, libvips and ImageMagick, on a
12 MP and a 24 MP photo in one run. Every measurement runs in a fresh process of its own, so
each peak memory is its own. Prints figures; asserts nothing.

    make bench-renditions        (or: .venv/bin/python -m bench.renditions [--runs N])

- ours: images.web_pictures, as makeThumbnail runs it (no S3), all pictures, then one at a time;
- floor: one decode at the DCT scale the largest rendition needs, plus each picture's encode
  measured alone (from pixels made ready outside the timer): nothing can do less;
- vips: shrink-on-load to the largest, then each smaller one from the one before (its fastest
  way to make several sizes), and each picture alone; ImageMagick likewise, in one command;
- the target: ours <= 1.2 x the floor; the cost per 1,000 photos of the function before
  (thumbnail only) and after (with the renditions), at its memory size, on Lambda arm64.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from bench.corpus import build
from bench.images import have_imagemagick
from bench.measure import own_peak_kib
from handlers.core import colour, images, renditions
from localcloud.tools import cost

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / "artifacts"
LIMIT = 200_000_000
THUMB = 256
CASES = ("12MP-baseline", "24MP-baseline")


def imagemagick() -> str | None:
    """ImageMagick's convert (installed through apt by bench.images if missing), skipping any
    stand-in earlier on PATH that only says it is not installed."""
    have_imagemagick()
    for candidate in dict.fromkeys(filter(None, [shutil.which("convert"), "/usr/bin/convert"])):
        try:
            version = subprocess.run([candidate, "-version"], capture_output=True, text=True).stdout
        except OSError:
            continue
        if version.startswith("Version: ImageMagick"):
            return candidate
    return None


def declared_default() -> tuple[renditions.Rendition, ...]:
    """The default list, read from serverless.yml (the one place it is written)."""
    text = yaml.safe_load((PROJECT / "serverless.yml").read_text())["custom"]["renditions"]
    return renditions.parse(text.split(",", 1)[1].strip(" '}") if text.startswith("${env:") else text)


def pictures(folder: Path, declared: tuple[renditions.Rendition, ...], only: str | None = None) -> list[images.Wanted]:
    wanted = [images.Wanted.thumbnail(folder / "thumbnail.jpg", THUMB)]
    wanted += [images.Wanted.rendition(folder / f"{r.name}{r.extension}", r) for r in declared]
    return [w for w in wanted if only is None or w.path.stem == only]


# -- one job, in a process of its own -----------------------------------------------------------
def job(kind: str, source: Path, folder: Path, declared: tuple[renditions.Rendition, ...]) -> dict[str, float]:
    """Runs once; returns seconds per named part (`all` for the whole)."""
    tool, _, only = kind.partition(":")
    wanted = pictures(folder, declared, only or None)
    started = time.perf_counter()
    if tool == "ours":
        images.web_pictures(source, LIMIT, wanted)
    elif tool == "floor":
        return floor(source, wanted)
    elif tool == "vips":
        import pyvips

        picture = None
        for one in sorted(wanted, key=lambda w: -w.size):
            # in memory after the first: each smaller one is made from it, never from the file again
            picture = (
                pyvips.Image.thumbnail(str(source), one.size).copy_memory()
                if picture is None
                else picture.thumbnail_image(one.size)
            )
            picture.write_to_file(str(one.path), Q=one.options["quality"], keep="none")
    elif tool == "magick":
        # jpeg:size lets libjpeg decode at a reduced scale, as draft does.
        largest = 2 * max(w.size for w in wanted)
        command = [
            os.environ["BENCH_CONVERT"],
            "-define",
            f"jpeg:size={largest}x{largest}",
            str(source),
            "-auto-orient",
            "-strip",
        ]
        for one in sorted(wanted, key=lambda w: -w.size):
            command += ["-resize", f"{one.size}x{one.size}>", "-quality", str(one.options["quality"])]
            command += ["-write", str(one.path)]
        subprocess.run([*command, "null:"], check=True)
    else:
        raise SystemExit(f"unknown job {kind}")
    return {"all": time.perf_counter() - started}


def floor(source: Path, wanted: list[images.Wanted]) -> dict[str, float]:
    """One decode at the scale the largest picture needs, then each encode alone (the pixels
    each encoder gets are made outside the timer)."""
    largest = max(w.size for w in wanted)
    started = time.perf_counter()
    with Image.open(source) as image:
        image.draft(None, images.fit(image.size, largest))
        image.load()
        decoded = time.perf_counter() - started
        ready = image.convert("RGB")
    parts = {"decode": decoded}
    resampled = 0.0
    for index, one in enumerate(sorted(wanted, key=lambda w: -w.size)):
        started = time.perf_counter()
        filter_ = images.FIRST_STEP if index == 0 else images.NEXT_STEPS
        ready = ready.resize(images.fit(ready.size, one.size), filter_)
        resampled += time.perf_counter() - started
        started = time.perf_counter()
        ready.save(one.path, format=one.format, icc_profile=colour.SRGB_ICC, **one.options)
        parts[one.path.stem] = time.perf_counter() - started
    parts["all"] = sum(parts.values())
    parts["resample"] = resampled  # not in the floor: what ours adds to it, mostly
    return parts


def race(source: Path, runs: int, declared: tuple[renditions.Rendition, ...]) -> dict[str, float]:
    """Ours and the floor in turns, in one process: the fastest of each comes from the same
    stretch of time, so the ratio holds on a machine shared with other work."""
    fastest = {"ours": float("inf"), "floor": float("inf")}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            for kind in fastest:
                fastest[kind] = min(fastest[kind], job(kind, source, Path(folder), declared)["all"])
    return fastest


def child(argv: list[str]) -> None:
    kind, source, runs, declared = argv[0], Path(argv[1]), int(argv[2]), renditions.parse(argv[3])
    if kind == "race":
        print(json.dumps({"parts": race(source, runs, declared)}))
        return
    with tempfile.TemporaryDirectory() as folder:
        times, cpu = [], []
        for _ in range(runs):
            cpu_started = time.process_time()
            times.append(job(kind, source, Path(folder), declared))
            cpu.append(time.process_time() - cpu_started)
        written = {p.stem: p.stat().st_size for p in Path(folder).iterdir()}
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if kind.startswith("magick") else own_peak_kib()
    # The fastest run: on a machine shared with other work, the least disturbed one.
    parts = {name: min(t[name] for t in times) for name in times[0]}
    print(json.dumps({"parts": parts, "cpu": min(cpu), "peak_mib": peak / 1024, "bytes": written}))


def measure(kind: str, source: Path, runs: int, declared: tuple[renditions.Rendition, ...]) -> dict[str, Any]:
    listed = ",".join(str(r) for r in declared) or renditions.NONE
    command = [sys.executable, "-m", "bench.renditions", "--child", kind, str(source), str(runs), listed]
    environment = os.environ | {"OMP_NUM_THREADS": "1", "VIPS_CONCURRENCY": "1"}
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def baseline_mib() -> float:
    code = "import handlers.core.images, bench.measure as m; print(m.own_peak_kib())"
    return int(subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True).stdout) / 1024


# -- the report ---------------------------------------------------------------------------------
def row(label: str, found: dict[str, Any], base: float, floor_seconds: float | None = None) -> str:
    if "error" in found:
        return f"  {label:<30} failed: {found['error'][:60]}"
    seconds = found["parts"]["all"]
    ratio = f"{seconds / floor_seconds:5.2f}x" if floor_seconds else "      "
    return f"  {label:<30} {seconds * 1000:8.0f} ms {ratio} {found['peak_mib'] - base:8.0f} MiB"


def lambda_cost(found: dict[str, Any], memory_mb: int, calibration: cost.Calibration, puts: int) -> tuple[float, float]:
    """(predicted duration on Lambda in ms, USD per 1,000 photos: compute, requests and PUTs)."""
    predicted = cost.predict(memory_mb, calibration, found["cpu"] * 1000, found["parts"]["all"] * 1000)
    usd = 1000 * (cost.lambda_usd(predicted.billed_gb_seconds) + puts * cost.S3_TIER1)
    return predicted.duration_ms, usd


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (the fastest is shown)")
    args = parser.parse_args()
    corpus = build(ARTIFACTS / "bench-corpus")
    declared = declared_default()
    with_avif = renditions.parse("preview:avif:1600:60," + ",".join(str(r) for r in declared if r.name != "preview"))
    convert = imagemagick()
    tools = ["ours", "floor", "vips"] + (["magick"] if convert else [])
    os.environ["BENCH_CONVERT"] = convert or ""
    memory_mb = int(
        yaml.safe_load((PROJECT / "serverless.yml").read_text())["functions"]["makeThumbnail"]["memorySize"]
    )
    calibration = cost.calibrate(PROJECT)
    base = baseline_mib()
    names = ["thumbnail", *(r.name for r in declared)]
    print(f"Renditions: {', '.join(str(r) for r in declared)} + thumbnail {THUMB} px + ThumbHash")
    print(f"fastest of {args.runs} runs; memory = peak RSS above a Python with Pillow ({base:.0f} MiB);", end=" ")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for case in CASES:
        source = corpus[case]
        with Image.open(source) as image:
            print(f"\n{case} ({image.width}x{image.height})")
        print(f"  {'':<30} {'time':>11} {'/floor':>6} {'memory':>12}")
        results = {tool: measure(tool, source, args.runs, declared) for tool in tools}
        floor_seconds = results["floor"]["parts"]["all"]
        for tool in tools:
            print(row(f"{tool}: all", results[tool], base, floor_seconds))
        alone: dict[str, dict[str, Any]] = {}
        for name in names:
            for tool in tools:
                if tool == "floor":
                    seconds = results["floor"]["parts"].get(name, 0.0) * 1000
                    print(f"  {'floor: ' + name + ' encode alone':<30} {seconds:8.0f} ms")
                    continue
                alone[f"{tool}:{name}"] = measure(f"{tool}:{name}", source, args.runs, declared)
                print(row(f"{tool}: {name} alone", alone[f"{tool}:{name}"], base))
        print(f"  {'floor: the one decode':<30} {results['floor']['parts']['decode'] * 1000:8.0f} ms")
        resample = results["floor"]["parts"]["resample"]
        print(f"  {'resampling (not in the floor)':<30} {resample * 1000:8.0f} ms")
        sizes = ", ".join(f"{n} {b / 1024:.0f} KiB" for n, b in sorted(results["ours"].get("bytes", {}).items()))
        print(f"  bytes (ours): {sizes}")
        raced = measure("race", source, 3 * args.runs, declared)["parts"]
        ratio, with_resampling = raced["ours"] / raced["floor"], raced["ours"] / (raced["floor"] + resample)
        print(f"  in turns, fastest of {3 * args.runs}: ours {raced['ours'] * 1000:.0f} ms,", end=" ")
        print(f"floor {raced['floor'] * 1000:.0f} ms")
        print(f"  ours / floor = {ratio:.2f} (target <= 1.20: {'met' if ratio <= 1.2 else 'NOT met'});", end=" ")
        print(f"ours / (floor + resampling) = {with_resampling:.2f}")
        before = alone["ours:thumbnail"]
        avif = measure("ours", source, args.runs, with_avif)
        print(row("with an AVIF preview (q60)", avif, base))
        if "bytes" in avif:
            print(f"  bytes: AVIF preview {avif['bytes'].get('preview', 0) / 1024:.0f} KiB")
        for label, found, puts in (("before (thumbnail)", before, 1), ("after (+ renditions)", results["ours"], 3)):
            duration, usd = lambda_cost(found, memory_mb, calibration, puts)
            print(f"  {label:<30} Lambda {memory_mb} MB: ~{duration:.0f} ms, ${usd:.4f} per 1,000 photos")
        duration, usd = lambda_cost(avif, memory_mb, calibration, 3)
        print(f"  {'after, AVIF preview':<30} Lambda {memory_mb} MB: ~{duration:.0f} ms, ${usd:.4f} per 1,000 photos")


if __name__ == "__main__":
    main()
