"""The Lambda runtime of the local cloud: runs deployed function code in warm workers.

Each function (by ARN, code hash and configuration) has a pool of worker processes
(localcloud/services/awslambda/worker.py) that grows on demand up to `max_workers_per_function`, so concurrent
invocations run in parallel and later ones reuse a warm process. A worker gets exactly the
environment the function declares plus the variables the Lambda runtime sets, and the
function's timeout is enforced: a worker that overruns is killed and the invocation fails
with `Sandbox.Timedout`, as on Lambda. Every invocation's output goes to the function's
CloudWatch log group.

Each worker runs within the function's memorySize (localcloud/services/awslambda/limits.py): a worker that goes
over it is killed and the invocation fails with `Runtime.OutOfMemory`, as on Lambda. Every
invocation records what Lambda's REPORT line says (duration, peak memory, and the start-up of
a new worker) plus the CPU time it used, from which localcloud/tools/cost.py predicts the Lambda
duration and bill.

What a worker runs is what Lambda runs: the function's deployed zip, unpacked (its /var/task),
and the zips of its attached layers unpacked in order (its /opt: localcloud/services/awslambda/layers.py), on the
runtime's own interpreter (CPython 3.13 for `python3.13`, fetched once per machine:
localcloud/services/awslambda/interpreter.py), with nothing of this project's venv on its path. A function gets
what its package and layers bring, plus the boto3 the runtime brings, and only that. A function
of another runtime fails each invocation with `Runtime.InvalidRuntime` rather than run on a
Python it was not built for.

With IAM enforcement on (localcloud/services/iam), a worker's AWS credentials are temporary ones of the
function's execution role, as on Lambda, so every call it makes is checked against that role;
its logs are written only if the role may write them. Otherwise workers get admin keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import interpreter, layers
from .limits import Limit, Limits

if TYPE_CHECKING:
    from localcloud.services.iam import Iam

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
_SIGNAL_WORDS = {9: "killed", 15: "terminated", 11: "segmentation fault", 6: "aborted"}


@dataclass
class Invocation:
    """What one invocation returned: the payload text, whether it is an error, its logs, and
    how long it ran (milliseconds, wall clock, as the caller waited: a new worker's start-up
    included). What it used, when the worker could tell (None otherwise):
    `handler_ms` (the handler's wall time: Lambda's Duration), `cpu_ms` (CPU time of the
    worker during the handler, all threads), `peak_memory_mb` (the worker's peak resident
    memory during it: Lambda's Max Memory Used), `init_ms`/`init_cpu_ms` (the worker's start-up,
    on the first invocation of a new worker: Lambda's Init Duration). `memory_size_mb` is the
    function's memorySize; `out_of_memory` says the worker was killed for going over it."""

    payload: str
    errored: bool
    logs: str
    duration_ms: float = 0.0
    # Refused before running: the function was at its reserved concurrency (Lambda answers
    # TooManyRequestsException and counts the request in Throttles, not in Invocations).
    throttled: bool = False
    handler_ms: float | None = None
    cpu_ms: float | None = None
    queued_ms: float | None = None  # of the handler's wall time, waiting for a CPU of this machine
    peak_memory_mb: float | None = None
    init_ms: float | None = None
    init_cpu_ms: float | None = None
    memory_size_mb: int = 0
    out_of_memory: bool = False
    started_at: float = 0.0  # epoch seconds, when the runtime took the invocation
    request_id: str = ""

    def usage(self, answer: dict[str, Any]) -> Invocation:
        """Fills in what the worker measured (its answer's `usage` and `init`)."""
        used, init = answer.get("usage") or {}, answer.get("init") or {}
        self.handler_ms, self.cpu_ms, self.queued_ms = used.get("durationMs"), used.get("cpuMs"), used.get("queuedMs")
        self.peak_memory_mb = used.get("peakMb")
        self.init_ms, self.init_cpu_ms = init.get("durationMs"), init.get("cpuMs")
        return self


@dataclass
class Fault:
    """An injected failure: the next `times` invocations of a function fail with `error` (only
    those whose event contains `match`, when given: a fault for one object)."""

    error: str
    message: str
    times: int
    match: str | None = None


@dataclass
class Stats:
    invocations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    workers_started: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    peak_concurrency: int = 0


class Worker:
    """One worker process. `python` is the interpreter's command (the runtime's, with `opt` and
    `runtime_dir`: see LambdaRuntime); without it, this venv's Python runs the working tree's
    code, as `sls invoke local` does (localcloud/tools/invoke.py)."""

    def __init__(
        self,
        code_dir: Path,
        handler: str,
        env: dict[str, str],
        limit: Limit | None = None,
        python: list[str] | None = None,
        opt: str = "",
        runtime_dir: str = "",
    ) -> None:
        self.limit = limit or Limit(0)
        command = [*(python or [sys.executable]), "-I", str(WORKER_SCRIPT), str(code_dir), handler, opt, runtime_dir]
        self.process = subprocess.Popen(
            self.limit.command(command),
            cwd=code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.limit.started(self.process.pid)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, event: Any, timeout: float) -> Invocation:
        request_id = str(uuid.uuid4())
        deadline = time.time() + timeout
        assert self.process.stdin and self.process.stdout
        request = {"event": event, "requestId": request_id, "deadlineMs": int(deadline * 1000)}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return self._crashed(request_id)
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(max(0.0, deadline - time.time())):
                self.stop()
                message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                return Invocation(_error("Sandbox.Timedout", message), True, message + "\n")
        line = self.process.stdout.readline()
        if not line:
            return self._crashed(request_id)
        answer = json.loads(line)
        result = Invocation(json.dumps(answer["payload"]), not answer["ok"], answer["logs"]).usage(answer)
        result.request_id = request_id
        return result

    def _crashed(self, request_id: str) -> Invocation:
        code = self.process.wait()
        # Lambda's words: "exit status 1" for an exit, "signal: killed" for SIGKILL.
        how = f"signal: {_SIGNAL_WORDS.get(-code, f'signal {-code}')}" if code < 0 else f"exit status {code}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
        if code == -signal.SIGKILL and self.limit.killed_for_memory():
            # Lambda's own error type for a sandbox killed over its memory size.
            result = Invocation(_error("Runtime.OutOfMemory", message), True, message + "\nRuntime.OutOfMemory\n")
            result.out_of_memory, result.peak_memory_mb = True, float(self.limit.memory_mb)
            return result
        return Invocation(_error("Runtime.ExitError", message), True, message + "\n")

    def stop(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        self.limit.close()


class FunctionPool:
    """Warm workers of one function version."""

    def __init__(
        self,
        code_dir: Path,
        handler: str,
        env: dict[str, str],
        max_workers: int,
        new_limit: Callable[[], Limit] | None = None,
        runtime: tuple[list[str], str, str] | None = None,
    ) -> None:
        self.code_dir, self.handler, self.env, self.max_workers = code_dir, handler, env, max_workers
        self.runtime = runtime or (None, "", "")  # the interpreter's command, /opt, its own packages
        self.new_limit = new_limit or (lambda: Limit(0))
        self.idle: list[Worker] = []
        self.busy: set[Worker] = set()  # workers running an invocation now
        self.retired = False  # stopped: workers released from now on stop too
        self.running = 0
        self.condition = threading.Condition()

    def acquire(self) -> tuple[Worker, bool]:
        with self.condition:
            while not self.idle and self.running >= self.max_workers:
                self.condition.wait()
            self.running += 1
            if self.idle:
                worker = self.idle.pop()
                self.busy.add(worker)
                return worker, False
        try:
            python, opt, runtime_dir = self.runtime
            worker = Worker(self.code_dir, self.handler, self.env, self.new_limit(), python, opt, runtime_dir)
        except BaseException:
            self.release(None)
            raise
        with self.condition:
            self.busy.add(worker)
        return worker, True

    def release(self, worker: Worker | None) -> None:
        with self.condition:
            self.running -= 1
            self.busy.discard(worker)
            if worker is not None and worker.alive and self.retired:
                worker.stop()
            elif worker is not None and worker.alive:
                self.idle.append(worker)
            elif worker is not None:
                worker.stop()  # reaps it and frees its limit
            self.condition.notify()

    def stop(self) -> None:
        """Stops the idle workers; busy ones stop when they are released."""
        with self.condition:
            self.retired = True
            for worker in self.idle:
                worker.stop()
            self.idle.clear()


class LambdaRuntime:
    def __init__(
        self, state_dir: Path, endpoint: str, max_workers_per_function: int = 4, iam: Iam | None = None
    ) -> None:
        self.iam = iam
        self.code_root = state_dir / "functions"
        self.endpoint = endpoint
        self.max_workers = max_workers_per_function
        self.pools: dict[tuple[str, ...], FunctionPool] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.stats = Stats()
        self.limits = Limits()
        self._lock = threading.Lock()
        self._active = 0
        self._async = ThreadPoolExecutor(max_workers=16, thread_name_prefix="lambda-async")
        self._observers: list[Callable[[Any, Invocation], None]] = []
        self._running: dict[str, int] = defaultdict(int)  # invocations in flight per function

    def observe(self, observer: Callable[[Any, Invocation], None]) -> None:
        """Calls `observer(function, invocation)` after every invocation (metrics, reports)."""
        self._observers.append(observer)

    # -- invoking ---------------------------------------------------------------------
    def invoke(self, function: Any, event: Any) -> Invocation:
        """Runs one invocation of a moto LambdaFunction synchronously; over the function's
        reserved concurrency it is refused at once (`throttled`), as Lambda does."""
        name = function.function_name
        if not self._admit(function):
            return self._throttle(function)
        with self._lock:
            self.stats.invocations[name] += 1
            self._active += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self._active)
        started, started_at = time.perf_counter(), time.time()
        try:
            fault = self._take_fault(name, event)
            if fault:
                message = f"{fault.message} (fault injected by localcloud)"
                result = Invocation(_error(fault.error, message), True, f"[ERROR] {fault.error}: {message}\n")
            elif function.run_time != interpreter.RUNTIME:
                message = f"the local cloud runs {interpreter.RUNTIME} only; {name} declares {function.run_time}"
                result = Invocation(_error("Runtime.InvalidRuntime", message), True, f"[ERROR] {message}\n")
            else:
                pool = self._pool(function)
                worker, cold = pool.acquire()
                if cold:
                    with self._lock:
                        self.stats.workers_started[name] += 1
                try:
                    result = worker.invoke(event, float(function.timeout))
                finally:
                    pool.release(worker)
        finally:
            with self._lock:
                self._active -= 1
                self._running[name] -= 1
        result.duration_ms = (time.perf_counter() - started) * 1000
        result.started_at, result.memory_size_mb = started_at, int(function.memory_size)
        if self.iam is None or self.iam.may_write_logs(function):
            function.save_logs(_platform_lines(result, function))
        for observer in self._observers:
            observer(function, result)
        return result

    def _admit(self, function: Any) -> bool:
        reserved = getattr(function, "reserved_concurrency", None)
        with self._lock:
            if reserved not in (None, "") and self._running[function.function_name] >= int(reserved):
                return False
            self._running[function.function_name] += 1
            return True

    def _throttle(self, function: Any) -> Invocation:
        result = Invocation(_error("TooManyRequestsException", "Rate Exceeded."), True, "", throttled=True)
        for observer in self._observers:
            observer(function, result)
        return result

    def submit(self, work: Callable[[], None]) -> None:
        """Runs `work` on the queue of asynchronous invocations (Lambda's internal event queue:
        retries, event age and destinations are in adapter.py). What `work`
        raises is lost (the executor keeps it in a future no one reads): it handles its own."""
        self._async.submit(work)

    # -- faults -----------------------------------------------------------------------
    def kill_running(self, function_name: str) -> int:
        """SIGKILLs the workers running an invocation of the function now (as Lambda's sandbox
        kills a runtime); each of those invocations fails with Runtime.ExitError."""
        with self._lock:
            pools = [pool for key, pool in self.pools.items() if key[0].rsplit(":", 1)[-1] == function_name]
        killed = 0
        for pool in pools:
            with pool.condition:
                busy = list(pool.busy)
            for worker in busy:
                if worker.alive:
                    worker.process.kill()
                    killed += 1
        return killed

    def inject_fault(self, function_name: str, error: str, message: str, times: int, match: str | None = None) -> None:
        """A fault without `match` replaces the function's faults; one with `match` adds to them."""
        with self._lock:
            fault = Fault(error, message, times, match)
            self.faults[function_name] = [*self.faults.get(function_name, []), fault] if match else [fault]

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, function_name: str, event: Any) -> Fault | None:
        text = json.dumps(event) if any(f.match for f in self.faults.get(function_name, [])) else ""
        with self._lock:
            for fault in self.faults.get(function_name, []):
                if fault.times > 0 and (fault.match is None or fault.match in text):
                    fault.times -= 1
                    return fault
            return None

    # -- workers ----------------------------------------------------------------------
    def _pool(self, function: Any) -> FunctionPool:
        # Any new configuration (UpdateFunctionConfiguration) starts new workers, as Lambda starts
        # new sandboxes: a worker keeps the memory limit, handler and environment it started with.
        configuration = {
            "environment": function.environment_vars,
            "memory": function.memory_size,
            "handler": function.handler,
            "timeout": function.timeout,
            "runtime": function.run_time,
            "layers": getattr(function, "layers", None),
            "role": getattr(function, "role", None),
        }
        key = (function.function_arn, function.code_sha_256, json.dumps(configuration, sort_keys=True, default=str))
        with self._lock:
            pool = self.pools.get(key)
            if pool is None:
                for other in [k for k in self.pools if k[0] == function.function_arn]:
                    self.pools.pop(other).stop()
                code_dir = self._unpack(function)
                opt = layers.unpack(function, self.code_root)
                memory_mb, name = int(function.memory_size), function.function_name
                # The function's CPU: arm64 runs under emulation here (slow, but what was built).
                python = interpreter.interpreter((getattr(function, "architectures", None) or ["x86_64"])[0])
                pool = FunctionPool(
                    code_dir,
                    function.handler,
                    self._environment(function, code_dir),
                    self.max_workers,
                    lambda: self.limits.limit(name, memory_mb),
                    (python.command, str(opt), str(python.runtime_dir)),
                )
                self.pools[key] = pool
            return pool

    def _unpack(self, function: Any) -> Path:
        """The function's /var/task: its package unzipped once per distinct package (the stage's
        functions share one package, and so does every stage built from the same code), which
        keeps the state folder to megabytes where a folder per function took gigabytes in a run
        of the suite. Lambda's /var/task is read-only, so sharing it changes nothing a handler sees."""
        digest = hashlib.sha256(function.code_sha_256.encode()).hexdigest()[:16]
        code_dir = self.code_root / f"task-{digest}"
        if not code_dir.exists():
            staging = code_dir.with_suffix(".partial")
            shutil.rmtree(staging, ignore_errors=True)
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(staging)
            staging.rename(code_dir)
        return code_dir

    def _environment(self, function: Any, code_dir: Path) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        credentials = self.iam.function_credentials(function) if self.iam else None
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "localcloud",
                "AWS_SECRET_ACCESS_KEY": "localcloud",
                "AWS_SESSION_TOKEN": "localcloud",
                **(credentials.environment() if credentials else {}),
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
                "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": function.logs_group_name,
                "LAMBDA_TASK_ROOT": str(code_dir),
                "LOCALCLOUD_FUNCTION_ARN": function.function_arn,
                "_HANDLER": function.handler,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update({name: str(value) for name, value in function.environment_vars.items()})
        return env

    def stop(self) -> None:
        self._async.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pools = list(self.pools.values())
        for pool in pools:
            pool.stop()
        self.limits.close()


def _platform_lines(result: Invocation, function: Any) -> str:
    """The invocation's log as Lambda writes it: START, what the function printed, END and
    REPORT (Init Duration on a new worker's first invocation)."""
    request_id = result.request_id or str(uuid.uuid4())
    duration = result.handler_ms if result.handler_ms is not None else result.duration_ms
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms"
        f"\tMemory Size: {function.memory_size} MB"
    )
    if result.peak_memory_mb is not None:
        report += f"\tMax Memory Used: {math.ceil(result.peak_memory_mb)} MB"
    if result.init_ms is not None:
        report += f"\tInit Duration: {result.init_ms:.2f} ms"
    body = result.logs if not result.logs or result.logs.endswith("\n") else result.logs + "\n"
    return f"START RequestId: {request_id} Version: $LATEST\n{body}END RequestId: {request_id}\n{report}\n"


def _error(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message})
