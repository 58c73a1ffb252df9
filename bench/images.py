"""Image conversion benchmark: the project's code against Pillow's defaults, ImageMagick and
libvips, run side by side on one reproducible corpus, plus the handler path through the
local cloud, cold starts and the resulting cost. Prints figures; asserts nothing.

    make bench-images        (or: .venv/bin/python -m bench.images [--runs N] [--quick])
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageOps

from bench.corpus import build
from localcloud.tools import cost

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / "artifacts"
TOOLS = ("ours", "pillow", "imagemagick", "vips")
# Prices and Lambda's CPU share: one place (localcloud/tools/cost.py, the cost model).
LAMBDA_ARM_GB_SECOND = cost.LAMBDA_GB_SECOND
LAMBDA_REQUEST = cost.LAMBDA_REQUEST
STATE_TRANSITION = cost.SFN_STANDARD_TRANSITION
TRANSITIONS_PER_PHOTO = 13
FULL_VCPU_MB = cost.FULL_VCPU_MB


def have_imagemagick() -> bool:
    found = shutil.which("convert")
    if found:
        version = subprocess.run([found, "-version"], capture_output=True, text=True).stdout
        if "ImageMagick" in version:
            return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing ImageMagick (for the comparison only) ...", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "imagemagick"],
            check=False,
            capture_output=True,
            env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"},
        )
        return have_imagemagick() if shutil.which("convert") and not found else False
    return False


def measure(tool: str, step: str, source: Path, runs: int, folder: Path) -> dict[str, Any]:
    output = folder / f"{source.stem}-{tool}.{'png' if step == 'png' else 'jpg'}"
    result = subprocess.run(
        [sys.executable, "-m", "bench.measure", tool, step, str(source), str(output), str(runs)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    figures: dict[str, Any] = json.loads(result.stdout)
    times = sorted(figures["times"])
    return figures | {"min": times[0], "median": statistics.median(times), "max": times[-1], "output": output}


def baseline_rss() -> float:
    code = "import handlers.core.images, bench.measure as m; print(m.own_peak_kib())"
    return int(subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True).stdout) / 1024


def upright_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def psnr(first: Image.Image, second: Image.Image) -> float:
    a = np.asarray(first.convert("RGB"), dtype=np.float64)
    b = np.asarray(second.convert("RGB").resize(first.size), dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def png_is_standard(png: Path, source: Path, imagemagick: bool) -> str:
    """Pixel-identical to the decoded source in Pillow, and in libpng (ImageMagick's reader)."""
    with Image.open(png) as decoded:
        pixels = decoded.convert("RGB").tobytes()
    with Image.open(source) as original:
        if original.mode not in ("CMYK",):
            expected = ImageOps.exif_transpose(original).convert("RGB").tobytes()
            if pixels != expected:
                return "DIFFERS from the decoded JPEG"
    if imagemagick:
        libpng = subprocess.run(["convert", str(png), "-depth", "8", "rgb:-"], capture_output=True).stdout
        if libpng != pixels:
            return "DIFFERS in libpng"
        return "identical (Pillow, libpng)"
    return "identical (Pillow)"


def cold_starts() -> dict[str, float]:
    """Import time of each handler module (what a cold start adds to the runtime's own)."""
    results = {}
    for module in sorted(p.stem for p in (PROJECT / "handlers").glob("*.py") if p.stem != "__init__"):
        samples = []
        for _ in range(5):
            code = f"import time; s=time.perf_counter(); import handlers.{module}; print(time.perf_counter()-s)"
            out = subprocess.run(
                [sys.executable, "-c", code],
                cwd=PROJECT,
                capture_output=True,
                text=True,
                env=os.environ | {"POWERTOOLS_SERVICE_NAME": "bench"},
            )
            samples.append(float(out.stdout))
        results[module] = statistics.median(samples)
    return results


def handler_path(source: Path, runs: int) -> dict[str, float]:
    """resizeImage and makeThumbnail handlers end to end against the emulator: S3 read,
    convert, S3 write, with the environment the functions declare."""
    from localcloud.clients import aws_client
    from localcloud.cloud import LocalCloud

    with LocalCloud(retry_scale=0) as cloud:
        os.environ.update(cloud.client_environment())  # the handlers' SDK clients read it
        s3 = aws_client(cloud.client_environment(), "s3")
        for bucket in ("bench-uploads", "bench-photos"):
            s3.create_bucket(Bucket=bucket)
        s3.upload_file(str(source), "bench-uploads", "uploads/bench/photo.jpg")
        os.environ.update(
            {
                "UPLOAD_PREFIX": "uploads/",
                "DESTINATION_BUCKET": "bench-photos",
                "MAX_IMAGE_PIXELS": "200000000",
                "PNG_COMPRESSION": "fast",
                "THUMBNAIL_SIZE": "256",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        from handlers import make_thumbnail, resize_image

        state = {
            "s3": {"bucket": {"name": "bench-uploads"}, "object": {"key": "uploads/bench/photo.jpg"}},
            "results": {"uniqueness": {"contentHash": "0" * 64}},
        }
        context = type(
            "Context",
            (),
            {
                "function_name": "bench",
                "memory_limit_in_mb": 1024,
                "invoked_function_arn": "arn:aws:lambda:us-east-1:1:function:bench",
                "aws_request_id": "bench",
            },
        )()
        figures = {}
        for name, handler in (("resizeImage", resize_image.handler), ("makeThumbnail", make_thumbnail.handler)):
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                handler(state, context)
                times.append(time.perf_counter() - started)
            figures[name] = statistics.median(times)
        return figures


def memory_sizes() -> dict[str, int]:
    config = yaml.safe_load((PROJECT / "serverless.yml").read_text())
    default = int(config["provider"]["memorySize"])
    sizes = {}
    for name, function in config["functions"].items():
        value = str(function.get("memorySize", default))
        sizes[name] = int(value.split("'")[1]) if value.startswith("${env:") else int(value)
    return sizes


def inspect_seconds(source: Path) -> float:
    from handlers.core import images

    return _median_of(lambda: images.inspect(source, "jpg", 200_000_000))


def hash_seconds(source: Path) -> float:
    from handlers.core import images

    return _median_of(lambda: (images.content_hash(source), images.perceptual_hash(source, 200_000_000)))


def _median_of(work: Any, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cost_per_thousand(
    cpu_bound: dict[str, float], io_bound: dict[str, float], sizes: dict[str, int]
) -> tuple[float, list[tuple[str, int, float, float, float]]]:
    rows: list[tuple[str, int, float, float, float]] = []
    total = 0.0
    for function, seconds in {**cpu_bound, **io_bound}.items():
        memory = sizes[function]
        on_lambda = seconds / min(1.0, memory / FULL_VCPU_MB) if function in cpu_bound else seconds
        dollars = 1000 * (on_lambda * memory / 1024 * LAMBDA_ARM_GB_SECOND + LAMBDA_REQUEST)
        rows.append((function, memory, seconds, on_lambda, dollars))
        total += dollars
    total += 1000 * TRANSITIONS_PER_PHOTO * STATE_TRANSITION
    return total, rows


def fmt_time(figures: dict[str, Any]) -> str:
    if "error" in figures:
        return f"error: {figures['error']}"[:40]
    return f"{figures['min']:.3f}/{figures['median']:.3f}/{figures['max']:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="12 MP baseline only")
    args = parser.parse_args()

    imagemagick = have_imagemagick()
    try:
        import pyvips  # noqa: F401

        vips = True
    except (ImportError, OSError):
        vips = False
    tools = [t for t in TOOLS if (t != "imagemagick" or imagemagick) and (t != "vips" or vips)]
    print(
        f"tools: {', '.join(tools)}  (missing ones: pip install -r requirements-bench.txt; apt-get install imagemagick)"
    )
    cases = build(ARTIFACTS / "bench-corpus")
    if args.quick:
        cases = {"12MP-baseline": cases["12MP-baseline"]}
    base = baseline_rss()
    print(f"interpreter + Pillow baseline RSS: {base:.1f} MiB; single thread: {os.environ.get('OMP_NUM_THREADS')}")
    report: dict[str, Any] = {"baseline_mib": base, "cases": {}}
    folder = Path(tempfile.mkdtemp(prefix="bench-"))

    for step in ("png", "thumbnail"):
        print(f"\n== {'JPEG -> PNG, full size' if step == 'png' else 'thumbnail, 256 px'} ==")
        print(f"{'case':20} {'tool':12} {'min/median/max s':>22} {'MP/s':>7} {'bytes':>11} {'peak MiB':>9}  check")
        for case, source in cases.items():
            with Image.open(source) as probe:
                megapixels = probe.width * probe.height / 1e6
                decoded_mib = probe.width * probe.height * 4 / 2**20
            # The slow references only where the ratios are defined (baseline photos).
            case_tools = tools if (step == "thumbnail" or "baseline" in case) else ["ours"]
            results = {}
            for tool in case_tools:
                runs = args.runs if (tool in ("ours", "vips") or step == "thumbnail") else max(1, args.runs - 1)
                figures = results[tool] = measure(tool, step, source, runs, folder)
                check = ""
                if "error" not in figures and tool == "ours":
                    if step == "png":
                        check = png_is_standard(figures["output"], source, imagemagick)
                        limit = 1.5 * decoded_mib + base
                        check += (
                            f"; memory {figures['peak_mib']:.0f} <= {limit:.0f} MiB: {figures['peak_mib'] <= limit}"
                        )
                    else:
                        with Image.open(figures["output"]) as thumb:
                            reference = upright_rgb(source).resize(thumb.size, Image.Resampling.LANCZOS)
                            check = (
                                f"{thumb.size[0]}x{thumb.size[1]} {thumb.mode}, PSNR {psnr(reference, thumb):.1f} dB"
                            )
                elif "error" not in figures and step == "thumbnail":
                    with Image.open(figures["output"]) as thumb:
                        reference = upright_rgb(source).resize(thumb.size, Image.Resampling.LANCZOS)
                        check = f"{thumb.size[0]}x{thumb.size[1]}, PSNR {psnr(reference, thumb):.1f} dB"
                mps = megapixels / figures["median"] if "median" in figures else 0
                print(
                    f"{case:20} {tool:12} {fmt_time(figures):>22} {mps:7.1f} {figures.get('bytes', 0):11,} "
                    f"{figures.get('peak_mib', 0):9.1f}  {check}",
                    flush=True,
                )
            ours, magick, vipsr = results.get("ours", {}), results.get("imagemagick", {}), results.get("vips", {})
            if "median" in ours and "median" in magick:
                speed = magick["median"] / ours["median"]
                size = ours["bytes"] / magick["bytes"]
                goal = (speed >= 6 and size <= 1.10) if step == "png" else speed >= 8
                line = f"  -> vs ImageMagick: {speed:.1f}x faster"
                line += f", output {size:.3f}x its size" if step == "png" else ""
                if step == "thumbnail" and "median" in vipsr:
                    line += f"; vs libvips: {ours['median'] / vipsr['median']:.2f}x its time"
                    goal = goal and ours["median"] <= 1.1 * vipsr["median"]
                print(line + f"  [goal {'met' if goal else 'NOT met'}]")
            report["cases"].setdefault(case, {})[step] = {
                t: {k: v for k, v in r.items() if k != "output"} for t, r in results.items()
            }

    print("\n== cold start (import time of each handler module, median of 5) ==")
    starts = cold_starts()
    for module, seconds in starts.items():
        print(f"  {module:20} {seconds * 1000:6.0f} ms")
    # the layer of the last stage packaged or deployed, if any
    layers = sorted((PROJECT / "build").glob("*/pythonRequirements.zip"), key=lambda p: p.stat().st_mtime)
    for layer in layers[-1:]:
        print(f"  layer: {layer.stat().st_size / 2**20:.1f} MiB zipped")

    print("\n== handler path against the local cloud (S3 read -> convert -> S3 write), 12 MP ==")
    path_figures = handler_path(cases["12MP-baseline"], args.runs)
    png_bare = report["cases"]["12MP-baseline"]["png"]["ours"]["median"]
    thumb_bare = report["cases"]["12MP-baseline"]["thumbnail"]["ours"]["median"]
    print(f"  resizeImage   {path_figures['resizeImage']:.3f} s (bare conversion {png_bare:.3f} s)")
    print(f"  makeThumbnail {path_figures['makeThumbnail']:.3f} s (bare thumbnail {thumb_bare:.3f} s)")

    sizes = memory_sizes()
    cpu_bound = {
        "getFileType": inspect_seconds(cases["12MP-baseline"]),
        "checkDuplicate": hash_seconds(cases["12MP-baseline"]),
        "resizeImage": path_figures["resizeImage"],
        "makeThumbnail": path_figures["makeThumbnail"],
    }
    io_bound = {"copyFile": 0.05, "writeToDynamoDB": 0.03, "deleteFile": 0.03, "startWorkflow": 0.03}
    total, rows = cost_per_thousand(cpu_bound, io_bound, sizes)
    print("\n== estimated cost per 1,000 12 MP photos (arm64, us-east-1 list prices) ==")
    print("  CPU-bound steps: measured here, scaled by Lambda's CPU share (memory / 1769 MB);")
    print("  steps that only call S3/DynamoDB/Step Functions: an assumed round-trip time, not scaled")
    for function, memory, seconds, on_lambda, dollars in rows:
        print(f"  {function:16} {memory:5d} MB  local {seconds:.3f} s  on Lambda ~{on_lambda:.3f} s  ${dollars:.4f}")
    print(f"  + {TRANSITIONS_PER_PHOTO} state transitions per photo; total ~${total:.3f} per 1,000 photos")
    report.update({"cold_start_s": starts, "handler_path_s": path_figures, "cost_per_1000_usd": total})
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-images.json").write_text(json.dumps(report, indent=2, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
