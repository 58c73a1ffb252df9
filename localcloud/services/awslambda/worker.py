"""One warm Lambda worker: runs a deployed function's handler for each request it reads.

Started by the runtime (runtime.py, beside this file) on the runtime's own interpreter (interpreter.py) as
`python3.13 -I worker.py TASK_ROOT HANDLER OPT RUNTIME_DIR`, with the function's environment
and TASK_ROOT (the unzipped deployment package) as its working directory, like /var/task on
Lambda. Its path is Lambda's: the package, the layers (OPT/python/lib/python3.13/site-packages,
OPT/python), the runtime's boto3 (RUNTIME_DIR), then the standard library: nothing of this
project's venv. (Started on the venv's Python with empty OPT and RUNTIME_DIR, it runs the
working tree's code as `sls invoke local` does: localcloud/tools/invoke.py.) Requests arrive as
JSON lines on stdin; each answer is one JSON line on the original stdout. While a handler
runs, file descriptors 1 and 2 go to a scratch file, so everything the handler prints
(Powertools' JSON logs included) is returned as its logs.

Errors, the context and logs are those of Lambda's Python runtime (awslambdaric's bootstrap):
`Runtime.ImportModuleError` ("Unable to import module 'MODULE': ..."), `Runtime.HandlerNotFound`,
`Runtime.MalformedHandlerName`, `Runtime.UserCodeSyntaxError`, `Runtime.MarshalError`, and a
handler's exception as its type with `errorMessage`, `stackTrace` (its frames) and `requestId`;
an error is logged as `[ERROR] Type: message` and its traceback; the root logger writes
`[LEVEL]\tTIME\tREQUEST_ID\tmessage`. An initialisation error is answered on every
invocation, as Lambda does.

Each answer also carries what the invocation used, as Lambda's REPORT line does: the handler's
wall time, the CPU time of the process (all its threads) and its peak resident memory (the
high-water mark is reset before each invocation), and, on the first answer, the same for the
start-up (imports: Lambda's Init Duration).
"""

from __future__ import annotations

import importlib
import json
import logging
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


def _error(error_type: str, message: str, trace: list[str] | None = None, request_id: str = "") -> dict[str, Any]:
    """Lambda's error document (awslambdaric's make_error)."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace or []}


class _Fault(Exception):
    """An error of the runtime itself (Lambda's `Runtime.*` types)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error = _error(error_type, message, trace)


def _log_error(error: dict[str, Any]) -> None:
    """How Lambda's runtime logs an error: `[ERROR] Type: message`, then the traceback."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}", "Traceback (most recent call last):"]
    lines += [line for frame in error["stackTrace"] for line in frame.splitlines()]
    print("\n".join(lines), file=sys.stdout, flush=True)


_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def _setup_logging() -> None:
    """The root logger's handler that Lambda's Python runtime installs, with its format."""
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
        )
    )
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


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
    """The handler function, or the _Fault Lambda's runtime reports (its _get_handler)."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        raise _Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {error}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _Fault("Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise _Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from None
    except SyntaxError as error:
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        message = f"Syntax error in module '{module_name}': {error}"
        raise _Fault("Runtime.UserCodeSyntaxError", message, trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise _Fault(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None


def _lambda_path(task_root: str, opt: str, runtime_dir: str) -> list[str]:
    """Lambda's sys.path: the package, the layers, the runtime's own packages, the stdlib."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    layers = [f"{opt}/python/lib/python{version}/site-packages", f"{opt}/python"] if opt else []
    return [task_root, *layers, *([runtime_dir] if runtime_dir else []), *sys.path]


def _frames(error: BaseException) -> list[str]:
    """The traceback's frames as Lambda's stackTrace lists them (this file's left out)."""
    frames = traceback.extract_tb(error.__traceback__)
    return traceback.format_list([frame for frame in frames if frame.filename != __file__])


def main() -> None:
    global _request_id
    code_dir, handler_name, opt, runtime_dir = sys.argv[1:5]
    init_wall, init_cpu = time.perf_counter(), 0.0  # CPU time counts from the process start
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    logs = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the worker)
    os.dup2(logs.fileno(), 1)
    os.dup2(logs.fileno(), 2)
    sys.path[:] = _lambda_path(code_dir, opt, runtime_dir)
    _setup_logging()

    init_error: dict[str, Any] | None = None
    try:
        handler = _load(handler_name)
    except _Fault as fault:  # reported on every invocation, as Lambda does
        init_error = fault.error
    except Exception as error:  # the module's own code failed while importing
        init_error = _error(type(error).__name__, str(error), _frames(error))
    if init_error:
        _log_error(init_error)
    init: dict[str, Any] | None = _usage(init_wall, init_cpu, 0)

    for line in sys.stdin:
        request = json.loads(line)  # the logs of the start-up go with the first invocation's
        ok = False
        _reset_peak()
        wall, cpu, queued = time.perf_counter(), time.process_time(), _run_queue_ns()
        _request_id = request["requestId"]
        if init_error:
            payload: Any = {**init_error, "requestId": _request_id}
        else:
            try:
                result = handler(request["event"], Context(request["requestId"], request["deadlineMs"]))
            except Exception as error:
                payload = _error(type(error).__name__, str(error), _frames(error), _request_id)
                _log_error(payload)
            else:
                try:
                    json.dumps(result)
                    payload, ok = result, True
                except (TypeError, ValueError) as error:
                    message = f"Unable to marshal response: {error}"
                    payload = _error("Runtime.MarshalError", message, request_id=_request_id)
                    _log_error(payload)
        sys.stdout.flush()
        sys.stderr.flush()
        logs.seek(0)
        output = logs.read().decode("utf-8", errors="replace")
        answer = {"ok": ok, "payload": payload, "logs": output, "usage": _usage(wall, cpu, queued), "init": init}
        init = None
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
        logs.seek(0)
        logs.truncate()


if __name__ == "__main__":
    main()
