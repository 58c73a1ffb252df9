"""One warm Lambda worker: runs a deployed function's handler for each request it reads.

Started by localcloud.runtime as `python -I worker.py CODE_DIR HANDLER`, with the function's
environment and CODE_DIR (the unzipped deployment package) as its working directory, like
/var/task on Lambda. Requests arrive as JSON lines on stdin; each answer is one JSON line on
the original stdout. While a handler runs, file descriptors 1 and 2 go to a scratch file,
so everything the handler prints (Powertools' JSON logs included) is returned as its logs.

Each answer also carries what the invocation used, as Lambda's REPORT line does: the handler's
wall time, the CPU time of the process (all its threads) and its peak resident memory (the
high-water mark is reset before each invocation), and, on the first answer, the same for the
start-up (imports: Lambda's Init Duration). Modules that only a layer the function does not
have would bring (localcloud/layers.py) cannot be imported, as on Lambda.
"""

from __future__ import annotations

import importlib
import importlib.abc
import json
import os
import re
import sys
import tempfile
import time
import traceback
from typing import Any

_STATUS = "/proc/self/status"


class Context:
    """The parts of the Lambda context object that handlers and Powertools read."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = os.environ.get("LOCALCLOUD_FUNCTION_ARN", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(error_type: str, message: str, trace: list[str] | None = None) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message, "stackTrace": trace or []}


class _NotInLayers(importlib.abc.MetaPathFinder):
    """Refuses the top-level modules that only a layer the function lacks would provide."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{fullname}'", name=fullname)
        return None


def _reset_peak() -> None:
    """Resets the process's resident-memory high-water mark (Linux 4.0+; elsewhere a no-op)."""
    try:
        with open("/proc/self/clear_refs", "w") as control:
            control.write("5")
    except OSError:
        pass


def _peak_mb() -> float | None:
    try:
        with open(_STATUS) as status:
            found = re.search(r"^VmHWM:\s+(\d+) kB", status.read(), re.M)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def _run_queue_ns() -> int:
    """How long this thread has waited for a CPU so far (the kernel's schedstat), 0 if unknown:
    on a busy machine that is part of the wall time but not of the work."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _usage(wall: float, cpu: float, queued: int) -> dict[str, Any]:
    return {
        "durationMs": (time.perf_counter() - wall) * 1000,
        "cpuMs": (time.process_time() - cpu) * 1000,
        "queuedMs": (_run_queue_ns() - queued) / 1e6,
        "peakMb": _peak_mb(),
    }


def _load(handler: str) -> Any:
    module_path, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_path.replace("/", "."))
    return getattr(module, function_name)


def main() -> None:
    code_dir, handler_name = sys.argv[1], sys.argv[2]
    init_wall, init_cpu = time.perf_counter(), 0.0  # CPU time counts from the process start
    blocked = {name for name in os.environ.pop("LOCALCLOUD_NOT_IN_LAYERS", "").split(",") if name}
    if blocked:
        sys.meta_path.insert(0, _NotInLayers(blocked))
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    logs = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the worker)
    os.dup2(logs.fileno(), 1)
    os.dup2(logs.fileno(), 2)
    sys.path.insert(0, code_dir)

    init_error: dict[str, Any] | None = None
    try:
        handler = _load(handler_name)
    except Exception as error:  # reported on every invocation, as Lambda does
        init_error = _error("Runtime.ImportModuleError", f"Unable to import module '{handler_name}': {error}")
    init: dict[str, Any] | None = _usage(init_wall, init_cpu, 0)

    for line in sys.stdin:
        request = json.loads(line)
        logs.seek(0)
        logs.truncate()
        ok = False
        _reset_peak()
        wall, cpu, queued = time.perf_counter(), time.process_time(), _run_queue_ns()
        if init_error:
            payload: Any = init_error
        else:
            try:
                payload = handler(request["event"], Context(request["requestId"], request["deadlineMs"]))
                json.dumps(payload)
                ok = True
            except TypeError as error:
                payload = _error("Runtime.MarshalError", f"Unable to marshal response: {error}")
            except Exception as error:
                frames = traceback.format_exception(error)
                payload = _error(type(error).__name__, str(error), frames)
                print(f"[ERROR] {type(error).__name__}: {error}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        logs.seek(0)
        output = logs.read().decode("utf-8", errors="replace")
        answer = {"ok": ok, "payload": payload, "logs": output, "usage": _usage(wall, cpu, queued), "init": init}
        init = None
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
