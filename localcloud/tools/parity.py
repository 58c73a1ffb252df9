"""`make parity`: a stage's arm64 artifacts, run on arm64, give what the x86_64 ones give here.

AWS runs the functions on arm64 (Graviton); the local cloud runs its stages' x86_64 build
natively (serverless.yml, custom.architecture). This check closes the gap once per run, not per
test (emulation is 10-25x slower): it packages the stage as `make package` does (arm64) and the
reference stage for this machine (x86_64), unpacks each function package and its layers as
Lambda does, and on the runtime's own interpreter of each CPU (arm64 under
qemu-aarch64-static: localcloud/services/awslambda/interpreter.py) imports every function's handler and turns the
samples (a JPEG, a HEIC) into the image functions' PNG and thumbnail. The two runs' outputs are
compared pixel by pixel (and byte by byte: where the encoders differ, it says by how much).

    python -m localcloud.tools.parity [--stage dev] [--reference local]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud import PROJECT
from localcloud.services.awslambda import interpreter

from .deploy import package

PROBE = Path(__file__).with_name("parity_probe.py")
WIDTH = 100


@dataclass
class Run:
    architecture: str
    report: dict[str, Any]
    seconds: float


@dataclass
class Comparison:
    handler_failures: dict[str, str] = field(default_factory=dict)  # "arch handler" -> error
    differences: dict[str, str] = field(default_factory=dict)  # output -> how it differs
    bytes_differ: list[str] = field(default_factory=list)  # same pixels, other bytes

    @property
    def ok(self) -> bool:
        return not self.handler_failures and not self.differences


def functions(folder: Path) -> tuple[list[str], list[str]]:
    """The packaged template's handlers: all of them, and those with a layer (image functions)."""
    template = json.loads((folder / "cloudformation-template-update-stack.json").read_text())
    found = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    handlers = sorted({f["Handler"] for f in found if f.get("Runtime", "").startswith("python")})
    return handlers, sorted({f["Handler"] for f in found if f.get("Layers")})


def unpack(folder: Path, target: Path) -> tuple[Path, Path]:
    """The function package (/var/task) and the layer (/opt), unzipped as Lambda does."""
    task, opt = target / "task", target / "opt"
    zipfile.ZipFile(folder / "image-converter.zip").extractall(task)
    zipfile.ZipFile(folder / "pythonRequirements.zip").extractall(opt)
    return task, opt


def run_probe(architecture: str, folder: Path, work: Path, samples: list[Path]) -> Run:
    python = interpreter.interpreter(architecture)
    task, opt = unpack(folder, work / architecture)
    out = work / architecture / "out"
    out.mkdir()
    handlers, _ = functions(folder)
    command = [*python.command, "-I", str(PROBE), str(task), str(opt), str(python.runtime_dir), str(out)]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.update({"AWS_ACCESS_KEY_ID": "parity", "AWS_SECRET_ACCESS_KEY": "parity", "POWERTOOLS_SERVICE_NAME": "parity"})
    started = time.perf_counter()
    result = subprocess.run(
        [*command, json.dumps(handlers), *map(str, samples)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"parity: the {architecture} run failed:\n{result.stderr[-3000:]}")
    return Run(architecture, json.loads(result.stdout.splitlines()[-1]), time.perf_counter() - started)


def compare(arm: Run, native: Run) -> Comparison:
    from PIL import Image, ImageChops

    found = Comparison()
    for run in (arm, native):
        for handler, outcome in run.report["handlers"].items():
            if not outcome["ok"]:
                error = outcome["error"]
                found.handler_failures[f"{run.architecture} {handler}"] = (
                    f"{error['errorType']}: {error['errorMessage']}"
                )
    for name, theirs in arm.report["outputs"].items():
        ours = native.report["outputs"][name]
        if theirs["sha256"] == ours["sha256"]:
            continue
        with Image.open(theirs["file"]) as a, Image.open(ours["file"]) as b:
            if a.size != b.size or a.mode != b.mode:
                found.differences[name] = f"{a.size} {a.mode} on arm64, {b.size} {b.mode} here"
                continue
            difference = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
            if difference.getbbox() is None:
                size_a, size_b = Path(theirs["file"]).stat().st_size, Path(ours["file"]).stat().st_size
                found.bytes_differ.append(f"{name}: PNG encoder output {size_a} vs {size_b} bytes")
                continue
            changed = sum(1 for pixel in difference.get_flattened_data() if pixel != (0, 0, 0))
            # an RGB image: one (lowest, highest) pair per band
            largest = max(band[1] for band in difference.getextrema() if isinstance(band, tuple))
            found.differences[name] = f"{changed} of {a.width * a.height} pixels differ, by up to {largest}"
    return found


def sample_files(work: Path) -> list[Path]:
    """A real JPEG from samples/ and a HEIC made from it (pillow-heif's x265 encoder, as the
    tests make theirs)."""
    from PIL import Image

    sys.path.insert(0, str(PROJECT))
    from tests.images import heic

    jpeg = PROJECT / "samples" / "chelsea.jpg"
    with Image.open(jpeg) as photo:
        picture = heic(photo.convert("RGB"))
    target = work / "chelsea.heic"
    target.write_bytes(picture)
    return [jpeg, target]


def check(
    stage: str = "dev", reference: str = "local", cloud_env: dict[str, str] | None = None
) -> tuple[Comparison, list[Run]]:
    """Packages both stages (`sls package` asks a cloud for the account: this one's, or a
    local cloud started for it), runs both probes and compares them."""
    from localcloud.cloud import LocalCloud

    work = Path(tempfile.mkdtemp(prefix="parity-"))
    try:
        with contextlib.ExitStack() as stack:
            if cloud_env is None:
                cloud_env = stack.enter_context(
                    LocalCloud(enforce_iam=False, fire_schedules=False)
                ).client_environment()
            arm_folder = package(cloud_env, stage, work / "package-arm64")
            native_folder = package(cloud_env, reference, work / "package-native")
        samples = sample_files(work)
        arm = run_probe("arm64", arm_folder, work, samples)
        native = run_probe(interpreter.machine_architecture(), native_folder, work, samples)
        return compare(arm, native), [arm, native]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report_lines(found: Comparison, runs: list[Run]) -> list[str]:
    lines = []
    for run in runs:
        slowest = max((h.get("seconds", 0) for h in run.report["handlers"].values()), default=0)
        lines.append(
            f"{run.architecture:7} CPython {run.report['python']} ({run.report['machine']}): "
            f"{len(run.report['handlers'])} handlers imported (slowest {slowest:.1f} s), run {run.seconds:.0f} s"
        )
        conversions = "; ".join(f"{name} {o['seconds']:.1f} s" for name, o in run.report["outputs"].items())
        lines += textwrap.wrap(conversions, WIDTH, initial_indent="  ", subsequent_indent="  ")
    lines += [f"FAIL import {name}: {error}"[:WIDTH] for name, error in found.handler_failures.items()]
    lines += [f"FAIL {name}: {how}"[:WIDTH] for name, how in found.differences.items()]
    lines += [f"same pixels, other bytes: {line}"[:WIDTH] for line in found.bytes_differ]
    outputs = len(runs[0].report["outputs"])
    equal = outputs - len(found.differences)
    lines.append(f"parity {'ok' if found.ok else 'FAILED'}: {equal}/{outputs} outputs pixel-equal on arm64 and here")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.tools.parity", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default="dev", help="the stage whose arm64 build is checked (default dev)")
    parser.add_argument("--reference", default="local", help="the stage built for this machine (default local)")
    args = parser.parse_args()
    try:
        found, runs = check(args.stage, args.reference)
    except interpreter.RuntimeUnavailable as error:
        print(f"parity: {error}", file=sys.stderr)
        return 1
    print("\n".join(report_lines(found, runs)))
    return 0 if found.ok else 1


if __name__ == "__main__":
    sys.exit(main())
