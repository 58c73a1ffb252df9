"""Runs one tool on one file several times in this (fresh) process and prints JSON:
the times, the output size and the process's peak RSS. Used by bench/images.py so that
every measurement's peak memory is its own."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
LIMIT = 200_000_000
THUMB = 256


def run(tool: str, step: str, source: Path, output: Path) -> None:
    if tool == "ours":
        from handlers.core import images

        if step == "png":
            images.to_png(source, output, LIMIT, "fast")
        else:
            images.thumbnail(source, output, LIMIT, THUMB)
    elif tool == "pillow":  # Pillow with its defaults, as a straightforward port would use it
        from PIL import Image

        with Image.open(source) as image:
            if step == "png":
                image.convert("RGB").save(output, format="PNG")
            else:
                converted = image.convert("RGB")
                converted.thumbnail((THUMB, THUMB))
                converted.save(output, format="JPEG")
    elif tool == "vips":
        import pyvips

        if step == "png":
            pyvips.Image.new_from_file(str(source), access="sequential").write_to_file(str(output))
        else:
            pyvips.Image.thumbnail(str(source), THUMB).write_to_file(str(output))
    elif tool == "imagemagick":
        command = ["convert", str(source), str(output)]
        if step == "thumbnail":
            command[2:2] = ["-thumbnail", f"{THUMB}x{THUMB}"]
        subprocess.run(command, check=True)
    else:
        raise SystemExit(f"unknown tool {tool}")


def own_peak_kib() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that over from the parent
    across fork and exec, so a large benchmark driver would be counted here."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    tool, step, source, output, runs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(tool, step, source, output)
        times.append(time.perf_counter() - started)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if tool == "imagemagick" else own_peak_kib()
    print(json.dumps({"times": times, "bytes": output.stat().st_size, "peak_mib": peak_kib / 1024}))


if __name__ == "__main__":
    main()
