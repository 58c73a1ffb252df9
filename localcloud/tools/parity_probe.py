"""Run by the runtime's own interpreter (never the venv's) for `make parity`: with the path a
Lambda worker has for one stage's artifacts (localcloud/services/awslambda/worker.py), imports every handler and
converts the sample photos with the image functions' own code. Prints one JSON document.

    python3.13 -I parity_probe.py TASK OPT RUNTIME_DIR OUT HANDLERS_JSON SAMPLE...
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    task, opt, runtime_dir, out = sys.argv[1:5]
    handlers, samples = json.loads(sys.argv[5]), sys.argv[6:]
    spec = importlib.util.spec_from_file_location(
        "lambda_worker", Path(__file__).parents[1] / "services" / "awslambda" / "worker.py"
    )
    worker = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(worker)  # type: ignore[union-attr]
    sys.path[:] = worker._lambda_path(task, opt, runtime_dir)
    os.chdir(task)
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": os.uname().machine,
        "handlers": {},
        "outputs": {},
    }
    for handler in handlers:
        started = time.perf_counter()
        try:
            worker._load(handler)
            report["handlers"][handler] = {"ok": True, "seconds": time.perf_counter() - started}
        except worker._Fault as fault:
            report["handlers"][handler] = {"ok": False, "error": fault.error}
    from handlers.core import images

    for sample in samples:
        name = Path(sample).name
        conversions: tuple[tuple[str, Callable[[Path, Path], object]], ...] = (
            ("png", lambda src, dst: images.to_png(src, dst, 64_000_000, "fast")),
            ("thumbnail", lambda src, dst: images.thumbnail(src, dst, 64_000_000, 256)),
        )
        for kind, convert in conversions:
            target = Path(out) / f"{name}.{kind}.png"
            started = time.perf_counter()
            convert(Path(sample), target)
            digest = hashlib.sha256(target.read_bytes()).hexdigest()
            report["outputs"][f"{name} {kind}"] = {
                "file": str(target), "sha256": digest, "seconds": time.perf_counter() - started,
            }  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
