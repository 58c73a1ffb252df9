"""What a run would take and cost on AWS: Lambda durations predicted from what each local
invocation used, and the bill per 1,000 photos (Lambda, Step Functions Standard or Express,
S3, DynamoDB, SNS), at us-east-1 list prices for arm64.

The model, for one invocation of a function with memory M (MB):

    Lambda duration = CPU time here x speed / share(M) + waiting time here
    share(M)        = min(1, M / 1769)        (Lambda's vCPU share; 1,769 MB buys one vCPU)
    speed           = Lambda core time / this core's time, for the same work (calibrated)
    billed          = duration rounded up to 1 ms, x M / 1024 = GB-seconds

- CPU time is the worker's (all its threads), measured by the worker around the handler; it
  does not depend on how busy this machine is. A worker's start-up (imports) is predicted the
  same way and billed (Lambda bills the INIT phase of managed runtimes since August 2025).
- Waiting time is the handler's wall time minus its CPU time and minus the time it spent
  waiting for a CPU here (the kernel's run-queue delay of its main thread): time spent waiting
  for AWS calls, which stand in for S3's and DynamoDB's latencies. They are those of the
  local cloud (an in-process emulator, usually faster than AWS, slower when this machine is
  busy serving other workers), so short I/O-bound steps are the least certain figures.
- `speed` comes from one fixed single-threaded workload (zlib, Pillow, pure Python: what the
  functions do) timed on this machine once (`calibrate`, cached under .localcloud/) against
  the same workload's time on a Lambda arm64 vCPU (LAMBDA_REFERENCE_SECONDS). That reference
  is an estimate, not a measurement on Lambda (this project has no AWS account): this
  development machine's time x 1.7, from published single-thread comparisons of Graviton2
  (Neoverse N1, 2.5 GHz) with current x86 server cores for interpreted and zlib-heavy code.
  Replace it with the workload's time on Lambda (`python -m localcloud.tools.cost`) to remove that
  uncertainty; the calibration then carries it to any other machine.
- Above 1,769 MB Lambda adds vCPUs, which single-threaded code cannot use: share is capped at 1.

Step Functions: Standard bills each state transition (states entered, retries included);
Express bills each execution and its duration (rounded up to 100 ms) at 64 MB, the
duration being the predicted Lambda durations along the execution's path (a Parallel state
takes its longest branch), plus its CloudWatch Logs ingestion at level ALL (the logged
history's size). S3 and DynamoDB requests are counted as the functions and the state machine
make them (through localcloud/services/iam), plus the user's upload itself; DynamoDB write units from
the request size (1 KB each) times the table and its indexes (twice for each item of a
transaction), read units as one per request (strongly consistent, up to 4 KB). Storage, data
transfer and free tiers are left out.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud import PROJECT

FULL_VCPU_MB = 1769

# us-east-1 list prices, USD, arm64 (checked 2025).
LAMBDA_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
SFN_STANDARD_TRANSITION = 0.025 / 1000
SFN_EXPRESS_REQUEST = 1.00 / 1_000_000
SFN_EXPRESS_GB_SECOND = 0.00001667  # first 1,000 GB-hours a month
SFN_EXPRESS_MEMORY_MB = 64  # billed in 64 MB steps; this workflow's state is far below
LOGS_INGESTION_GB = 0.50
S3_TIER1 = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_TIER2 = 0.0004 / 1000  # GET, HEAD and the rest (DELETE is free)
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000  # on demand
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
SNS_PUBLISH = 0.50 / 1_000_000

S3_FREE = {"DeleteObject", "DeleteObjects"}
S3_TIER1_OPERATIONS = {
    "PutObject",
    "CopyObject",
    "PostObject",
    "ListObjects",
    "ListObjectsV2",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

# The calibration workload's time on a Lambda arm64 vCPU (1,769 MB), in seconds: see above.
LAMBDA_REFERENCE_SECONDS = 0.56  # 0.33 s measured on an AMD EPYC (Zen 4) KVM core x 1.7
CALIBRATION_FILE = Path(".localcloud") / "calibration.json"
WARN_FRACTION = 0.5  # warn when a predicted duration reaches this fraction of the timeout


# -- calibration -----------------------------------------------------------------------------
def workload() -> None:
    """The calibration workload: single-threaded, deterministic, a mix of what the functions
    spend CPU on (JPEG decoding, PNG/zlib encoding, hashing, Python code)."""
    import hashlib
    import io
    import zlib

    from PIL import Image

    gradient = Image.linear_gradient("L").resize((1600, 1200))
    picture = Image.merge("RGB", (gradient, gradient.rotate(90), gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    jpeg = io.BytesIO()
    picture.save(jpeg, format="JPEG", quality=90)
    for _ in range(3):
        with Image.open(io.BytesIO(jpeg.getvalue())) as decoded:
            decoded.load()
            png = io.BytesIO()
            decoded.save(png, format="PNG", compress_level=1)
    zlib.compress(png.getvalue() * 2, 6)
    hashlib.sha256(png.getvalue() * 8).hexdigest()
    table: dict[str, int] = {}
    for number in range(400_000):
        key = f"k{number % 5000}"
        table[key] = table.get(key, 0) + number
    json.dumps(table)


def measure_workload(runs: int = 3) -> float:
    """The workload's fastest time in a fresh interpreter (seconds of CPU time)."""
    code = (
        "import time, localcloud.tools.cost as c\n"
        "c.workload()\n"  # warm up (imports, caches)
        f"times = []\nfor _ in range({runs}):\n"
        "    t = time.process_time(); c.workload(); times.append(time.process_time() - t)\n"
        "print(min(times))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


@dataclass(frozen=True)
class Calibration:
    local_seconds: float  # the workload's time here
    speed: float  # Lambda vCPU time per CPU second here

    @classmethod
    def of(cls, local_seconds: float) -> Calibration:
        return cls(local_seconds, LAMBDA_REFERENCE_SECONDS / local_seconds)


def machine() -> str:
    return f"{platform.node()} {platform.machine()} {platform.processor()} {os.cpu_count()} cpus"


def calibrate(state_dir: Path | None = None, force: bool = False) -> Calibration:
    """This machine's calibration: measured once, then read from .localcloud/calibration.json."""
    path = (state_dir or Path.cwd()) / CALIBRATION_FILE
    if not force and path.is_file():
        try:
            saved = json.loads(path.read_text())
            if saved.get("machine") == machine() and saved.get("reference") == LAMBDA_REFERENCE_SECONDS:
                return Calibration.of(float(saved["localSeconds"]))
        except (ValueError, KeyError):
            pass
    seconds = measure_workload()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"machine": machine(), "localSeconds": seconds, "reference": LAMBDA_REFERENCE_SECONDS}) + "\n"
    )
    return Calibration.of(seconds)


# -- one invocation ----------------------------------------------------------------------------
def cpu_share(memory_mb: int) -> float:
    """Lambda's share of a vCPU for a memory size: one full vCPU at FULL_VCPU_MB, less below."""
    return min(1.0, memory_mb / FULL_VCPU_MB)


def lambda_usd(gb_seconds: float, invocations: int = 1) -> float:
    """Lambda's price of `invocations` billed `gb_seconds` in all: compute and requests."""
    return gb_seconds * LAMBDA_GB_SECOND + invocations * LAMBDA_REQUEST


@dataclass(frozen=True)
class Prediction:
    duration_ms: float  # the handler on Lambda
    init_ms: float  # a new worker's start-up on Lambda (0 when warm)
    billed_gb_seconds: float


def predict(
    memory_mb: int,
    calibration: Calibration,
    cpu_ms: float,
    wall_ms: float,
    queued_ms: float = 0.0,
    init_cpu_ms: float = 0.0,
    init_ms: float = 0.0,
) -> Prediction:
    share = cpu_share(memory_mb)
    waiting = max(0.0, wall_ms - cpu_ms - queued_ms)
    duration = cpu_ms * calibration.speed / share + waiting
    init = init_cpu_ms * calibration.speed / share + max(0.0, init_ms - init_cpu_ms) if init_ms else 0.0
    billed_ms = math.ceil(duration) + math.ceil(init)
    return Prediction(duration, init, memory_mb / 1024 * billed_ms / 1000)


# -- what a run used ---------------------------------------------------------------------------
@dataclass
class Call:
    """One invocation as the meter keeps it."""

    function: str
    memory_mb: int
    timeout_s: float
    local_ms: float
    peak_mb: float | None
    prediction: Prediction | None
    errored: bool
    out_of_memory: bool
    started_at: float
    ended_at: float
    cpu_ms: float | None = None
    init_cpu_ms: float | None = None
    init_ms: float | None = None  # a new worker's start-up here, on the runtime's interpreter


# (service, operation) -> requests
Requests = Counter[tuple[str, str]]
# "read"/"write" -> DynamoDB capacity units, fractions included: a Counter adds and subtracts
# them as they are (typeshed types a Counter's counts as int).
CapacityUnits = Counter[str]


@dataclass
class Meter:
    """Collects every invocation (LambdaRuntime.observe) and every AWS request the deployed
    functions and state machine make (Iam.observe), with predictions made as they arrive."""

    calibration: Calibration
    calls: list[Call] = field(default_factory=list)
    requests: Requests = field(default_factory=Counter)
    dynamodb_units: CapacityUnits = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invocation(self, function: Any, invocation: Any) -> None:
        memory = int(getattr(function, "memory_size", 128) or 128)
        prediction = None
        if invocation.cpu_ms is not None and invocation.handler_ms is not None:
            prediction = predict(
                memory,
                self.calibration,
                invocation.cpu_ms,
                invocation.handler_ms,
                invocation.queued_ms or 0.0,
                invocation.init_cpu_ms or 0.0,
                invocation.init_ms or 0.0,
            )
        local = invocation.handler_ms if invocation.handler_ms is not None else invocation.duration_ms
        call = Call(
            function.function_name,
            memory,
            float(getattr(function, "timeout", 3) or 3),
            local,
            invocation.peak_memory_mb,
            prediction,
            invocation.errored,
            invocation.out_of_memory,
            invocation.started_at,
            invocation.started_at + invocation.duration_ms / 1000,
            invocation.cpu_ms,
            invocation.init_cpu_ms,
            invocation.init_ms,
        )
        with self._lock:
            self.calls.append(call)

    def request(self, service: str, operation: str, units: tuple[str, float] | None = None) -> None:
        with self._lock:
            self.requests[(service, operation)] += 1
            if units:
                self.dynamodb_units[units[0]] += units[1]  # type: ignore[assignment]  # fractional units: see CapacityUnits

    def mark(self) -> tuple[int, Requests, CapacityUnits]:
        """Where a run starts: `since(mark)` then covers only what came after."""
        with self._lock:
            return len(self.calls), Counter(self.requests), Counter(self.dynamodb_units)

    def since(self, mark: tuple[int, Requests, CapacityUnits]) -> tuple[list[Call], Requests, CapacityUnits]:
        with self._lock:
            return self.calls[mark[0] :], self.requests - mark[1], self.dynamodb_units - mark[2]

    def matching(self, function: str, started: float, ended: float) -> Call | None:
        """The invocation of `function` that fits best in [started, ended] (epoch seconds):
        how the console ties a Task's history events to what the invocation used."""
        with self._lock:
            candidates = [c for c in self.calls if c.function == function]
        fitting = [c for c in candidates if c.started_at >= started - 0.05 and c.ended_at <= ended + 0.05]
        pool = fitting or candidates
        if not pool:
            return None
        return min(pool, key=lambda c: abs(c.started_at - started) + abs(c.ended_at - ended))


def dynamodb_units(operation: str, table_arns: list[str], content_length: int) -> tuple[str, float]:
    """Request units of one DynamoDB request (see the module's docstring)."""
    if operation == "TransactWriteItems":
        # Each item of a transaction costs twice a plain write of it (DynamoDB's prepare and
        # commit), on its own table and that table's indexes; the request's size is shared out.
        each_kb = max(1, math.ceil(content_length / max(1, len(table_arns)) / 1024))
        return "write", sum(2 * each_kb * (1 + _index_count(arn)) for arn in table_arns)
    if operation in DYNAMODB_WRITES:
        indexes = max((_index_count(arn) for arn in table_arns), default=0)
        return "write", max(1, math.ceil(content_length / 1024)) * (1 + indexes)
    return "read", 1.0


def _index_count(table_arn: str) -> int:
    if "/index/" in table_arn or ":table/" not in table_arn:
        return 0
    from moto.dynamodb.models import dynamodb_backends

    parts = table_arn.split(":")
    try:
        table = dynamodb_backends[parts[4]][parts[3]].get_table(table_arn.split(":table/")[1])
    except Exception:  # the table is gone
        return 0
    return len(table.global_indexes or [])


# -- executions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExecutionShape:
    """What an execution's history says about its bill: transitions (Standard) and the
    Lambda functions on its path (Express), and the size of its history as logged."""

    transitions: int
    sequential: tuple[str, ...]  # functions run one after the other (retries included)
    parallel: tuple[tuple[str, ...], ...]  # per Parallel state, the functions of its branches
    logged_bytes: int


def shape(events: list[dict[str, Any]]) -> ExecutionShape:
    transitions, depth = 0, 0
    sequential: list[str] = []
    parallel: list[list[str]] = []
    size = 0
    for event in events:
        kind = event["type"]
        size += len(json.dumps(event, default=str))
        if kind.endswith("StateEntered"):
            transitions += 1
        if kind == "ParallelStateEntered":
            depth += 1
            if depth == 1:
                parallel.append([])
        elif kind == "ParallelStateExited":
            depth -= 1
        elif kind == "LambdaFunctionScheduled":
            function = event["lambdaFunctionScheduledEventDetails"]["resource"].split(":")[6]
            (parallel[-1] if depth and parallel else sequential).append(function)
            if _is_retry(event, events):
                transitions += 1
    return ExecutionShape(transitions, tuple(sequential), tuple(tuple(p) for p in parallel), size)


def _is_retry(event: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    """A Task's second and later attempts follow a failure rather than the state's entry."""
    previous = next((e for e in events if e["id"] == event.get("previousEventId")), None)
    return previous is not None and previous["type"].endswith(("Failed", "TimedOut"))


# -- the bill -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionFigures:
    function: str
    invocations: int
    local_p50: float
    local_p95: float
    lambda_p50: float | None
    lambda_p95: float | None
    lambda_max: float | None
    peak_mb: float | None
    memory_mb: int
    timeout_s: float
    out_of_memory: int
    dollars: float  # Lambda compute and requests, all invocations
    # Cold starts (Lambda's Init Duration): the median start-up of a new worker here (importing
    # the handler on the runtime's own Python, from the deployed package and layers) and as
    # predicted on Lambda; None when no invocation started a worker.
    init_local_p50: float | None = None
    init_lambda_p50: float | None = None


@dataclass(frozen=True)
class Bill:
    photos: int
    functions: list[FunctionFigures]
    per_thousand: dict[str, float]  # line -> USD per 1,000 photos
    standard_total: float
    express_total: float
    workflow_type: str
    warnings: list[str]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def _cold_starts(group: list[Call]) -> tuple[float | None, float | None]:
    cold = [c for c in group if c.init_ms]
    if not cold:
        return None, None
    predicted = [c.prediction.init_ms for c in cold if c.prediction]
    local = percentile([c.init_ms or 0.0 for c in cold], 0.5)
    return local, percentile(predicted, 0.5) if predicted else None


def bill(
    calls: list[Call],
    requests: Requests,
    units: CapacityUnits,
    shapes: list[ExecutionShape],
    photos: int,
    workflow_type: str = "STANDARD",
) -> Bill:
    by_function: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_function[call.function].append(call)
    figures, warnings = [], []
    mean_predicted: dict[str, float] = {}
    lambda_dollars = 0.0
    for name, group in sorted(by_function.items()):
        predicted = [c.prediction.duration_ms for c in group if c.prediction]
        gb_seconds = sum(c.prediction.billed_gb_seconds for c in group if c.prediction)
        dollars = lambda_usd(gb_seconds, len(group))
        lambda_dollars += dollars
        peaks = [c.peak_mb for c in group if c.peak_mb is not None]
        mean_predicted[name] = statistics.fmean(predicted) if predicted else 0.0
        short = name.rsplit("-", 1)[-1]
        row = FunctionFigures(
            short,
            len(group),
            percentile([c.local_ms for c in group], 0.5),
            percentile([c.local_ms for c in group], 0.95),
            percentile(predicted, 0.5) if predicted else None,
            percentile(predicted, 0.95) if predicted else None,
            max(predicted) if predicted else None,
            max(peaks) if peaks else None,
            group[0].memory_mb,
            group[0].timeout_s,
            sum(c.out_of_memory for c in group),
            dollars,
            *_cold_starts(group),
        )
        figures.append(row)
        if row.lambda_max is not None and row.lambda_max >= WARN_FRACTION * row.timeout_s * 1000:
            warnings.append(
                f"{short}: a predicted Lambda duration of {row.lambda_max / 1000:.1f} s is "
                f"{row.lambda_max / 10 / row.timeout_s:.0f}% of its {row.timeout_s:g} s timeout"
            )
        if row.out_of_memory:
            warnings.append(f"{short}: {row.out_of_memory} invocation(s) ran out of its {row.memory_mb} MB")
    scale = 1000 / photos if photos else 0.0
    s3 = sum(
        n * (S3_TIER1 if op in S3_TIER1_OPERATIONS else S3_TIER2)
        for (service, op), n in requests.items()
        if service == "s3" and op not in S3_FREE
    )
    s3 += photos * S3_TIER1  # the user's upload itself (its own credentials: not metered)
    dynamodb = units["write"] * DYNAMODB_WRITE_UNIT + units["read"] * DYNAMODB_READ_UNIT
    sns = sum(n for (service, op), n in requests.items() if service == "sns" and op == "Publish") * SNS_PUBLISH
    standard = sum(s.transitions for s in shapes) * SFN_STANDARD_TRANSITION
    express = 0.0
    for execution in shapes:
        path_ms = sum(mean_predicted.get(f, 0.0) for f in execution.sequential)
        path_ms += sum(max((mean_predicted.get(f, 0.0) for f in branch), default=0.0) for branch in execution.parallel)
        billed_s = math.ceil(path_ms / 100) / 10
        express += SFN_EXPRESS_REQUEST + billed_s * SFN_EXPRESS_MEMORY_MB / 1024 * SFN_EXPRESS_GB_SECOND
        express += execution.logged_bytes / 1e9 * LOGS_INGESTION_GB
    lines = {
        "Lambda": lambda_dollars * scale,
        "S3 requests": s3 * scale,
        "DynamoDB requests": dynamodb * scale,
        "SNS": sns * scale,
        "Step Functions Standard": standard * scale,
        "Step Functions Express (+ its logs)": express * scale,
    }
    common = lines["Lambda"] + lines["S3 requests"] + lines["DynamoDB requests"] + lines["SNS"]
    return Bill(
        photos,
        figures,
        lines,
        common + lines["Step Functions Standard"],
        common + lines["Step Functions Express (+ its logs)"],
        workflow_type,
        warnings,
    )


def main() -> None:
    """`python -m localcloud.tools.cost`: this machine's calibration (and the workload's time, to run
    on Lambda to replace the estimated reference)."""
    calibration = calibrate(force="--again" in sys.argv)
    print(f"calibration workload here: {calibration.local_seconds:.3f} s of CPU")
    print(f"Lambda reference (arm64 vCPU, estimated): {LAMBDA_REFERENCE_SECONDS:.3f} s")
    print(f"-> 1 s of CPU here ~ {calibration.speed:.2f} s on a full Lambda vCPU")
    started = time.process_time()
    workload()
    print(f"(one more run just now: {time.process_time() - started:.3f} s)")


if __name__ == "__main__":
    main()
