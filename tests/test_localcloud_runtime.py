"""The local Lambda runtime: the deployed code in warm workers, as Lambda runs it."""

import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from localcloud.services.awslambda import interpreter
from localcloud.services.awslambda.runtime import LambdaRuntime

HANDLER = """
import os, time
def handler(event, context):
    print("log line from", context.function_name)
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"env": sorted(os.environ), "pid": os.getpid(), "remaining": context.get_remaining_time_in_millis()}
"""


def fake_function(tmp_path, timeout: int = 2) -> SimpleNamespace:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as code:
        code.writestr("fn/app.py", HANDLER)
    logs: list[str] = []
    return SimpleNamespace(
        function_name="probe",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:probe",
        code_sha_256="abc123",
        code_bytes=archive.getvalue(),
        handler="fn/app.handler",
        timeout=timeout,
        region="us-east-1",
        run_time="python3.13",
        memory_size=128,
        logs_group_name="/aws/lambda/probe",
        environment_vars={"DECLARED": "yes"},
        save_logs=logs.append,
        logs=logs,
    )


@pytest.fixture
def runtime(tmp_path):
    local = LambdaRuntime(tmp_path, "http://127.0.0.1:1")
    yield local
    local.stop()


def test_a_worker_gets_exactly_the_declared_environment_and_stays_warm(runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_OF_THE_HOST", "must not leak")
    function = fake_function(tmp_path)
    first = runtime.invoke(function, {})
    second = runtime.invoke(function, {})
    assert not first.errored
    body, again = json.loads(first.payload), json.loads(second.payload)
    assert "DECLARED" in body["env"] and "AWS_LAMBDA_FUNCTION_NAME" in body["env"]
    assert "SECRET_OF_THE_HOST" not in body["env"]
    assert body["pid"] == again["pid"] and runtime.stats.workers_started["probe"] == 1
    assert 0 < body["remaining"] <= 2000
    assert "log line from probe" in function.logs[0]


def test_the_timeout_is_enforced_like_lambda(runtime, tmp_path):
    function = fake_function(tmp_path, timeout=1)
    result = runtime.invoke(function, {"sleep": 30})
    assert result.errored and json.loads(result.payload)["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in json.loads(result.payload)["errorMessage"]
    assert not runtime.invoke(function, {}).errored  # a fresh worker replaces the killed one


def test_a_handler_exception_is_a_function_error_with_its_type(runtime, tmp_path):
    result = runtime.invoke(fake_function(tmp_path), {"fail": True})
    payload = json.loads(result.payload)
    assert result.errored and payload["errorType"] == "ValueError" and payload["errorMessage"] == "asked to fail"


def test_injected_faults_fail_the_next_invocations_only(runtime, tmp_path):
    function = fake_function(tmp_path)
    runtime.inject_fault("probe", "ClientError", "throttled", times=2)
    assert [runtime.invoke(function, {}).errored for _ in range(3)] == [True, True, False]


def test_concurrent_invocations_get_their_own_workers(runtime, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    function = fake_function(tmp_path)
    with ThreadPoolExecutor(3) as pool:
        pids = {
            json.loads(r.payload)["pid"] for r in pool.map(lambda _: runtime.invoke(function, {"sleep": 0.5}), range(3))
        }
    assert len(pids) == 3 and runtime.stats.peak_concurrency == 3


def test_observers_see_every_invocation_with_its_duration(runtime, tmp_path):
    function = fake_function(tmp_path)
    seen = []
    runtime.observe(lambda fn, invocation: seen.append((fn.function_name, invocation.errored, invocation.duration_ms)))
    runtime.invoke(function, {"sleep": 0.2})
    runtime.invoke(function, {"fail": True})
    assert [(name, errored) for name, errored, _ in seen] == [("probe", False), ("probe", True)]
    assert seen[0][2] >= 200


def test_a_new_configuration_starts_new_workers(runtime, tmp_path):
    """UpdateFunctionConfiguration: Lambda starts new sandboxes, so no worker keeps the memory
    limit, timeout or layers it started with."""
    function = fake_function(tmp_path)
    pids = [json.loads(runtime.invoke(function, {}).payload)["pid"]]
    for setting, value in (("memory_size", 256), ("timeout", 3), ("layers", [{"Arn": "arn:layer:1"}])):
        setattr(function, setting, value)
        pids.append(json.loads(runtime.invoke(function, {}).payload)["pid"])
    assert len(set(pids)) == 4 and runtime.stats.workers_started["probe"] == 4
    assert json.loads(runtime.invoke(function, {}).payload)["pid"] == pids[-1]  # unchanged: warm


# -- the asynchronous queue (moto_adapter/awslambda.py) ---------------------------------------
class QueueRuntime:
    """Stands in for the runtime under one asynchronous event: answers with `answers` in turn
    (an exception is raised), running the queued work at once."""

    iam = None

    def __init__(self, *answers) -> None:
        self.answers = list(answers)

    def submit(self, work) -> None:
        work()

    def invoke(self, function, event):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def queued(runtime, clock=None):
    """One event on the asynchronous queue; returns the Event set when Lambda is done with it
    and the list that then holds its last result."""
    import threading

    from localcloud.services.awslambda import adapter as awslambda

    function = SimpleNamespace(function_name="probe", function_arn="arn:aws:lambda:::function:probe")
    finished, results = threading.Event(), []

    def done(result) -> None:
        results.append(result)
        finished.set()

    clock = clock or awslambda.AsyncClock(scale=0)
    awslambda._AsyncEvent(runtime, clock, function, {"n": 1}, done).submit()
    return finished, results


def test_an_async_event_the_local_cloud_fails_on_is_logged_and_ends_as_a_failure(caplog):
    finished, [result] = queued(QueueRuntime(OSError("no worker could start")))
    assert finished.is_set() and result.errored
    assert json.loads(result.payload)["errorType"] == "Runtime.Unknown"
    assert "no worker could start" in caplog.text


def test_a_throttled_async_event_backs_off_up_to_five_minutes(monkeypatch):
    from localcloud.services.awslambda import adapter as awslambda
    from localcloud.services.awslambda.runtime import Invocation

    monkeypatch.setattr(awslambda, "THROTTLE_FLOOR", 0.01)  # the waits are recorded, not waited
    throttled = [Invocation("", True, "", throttled=True) for _ in range(11)]
    clock = awslambda.AsyncClock(scale=0)
    finished, results = queued(QueueRuntime(*throttled, Invocation("{}", False, "")), clock)
    assert finished.wait(30) and not results[0].errored
    assert clock.take() == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_waiting_async_tries_are_dropped_when_the_cloud_stops():
    import threading

    from localcloud.services.awslambda import adapter as awslambda

    clock, ran = awslambda.AsyncClock(scale=1), threading.Event()
    clock.after(0.3, ran.set)
    clock.stop()
    assert not ran.wait(0.6)


# -- memory, CPU time and layers, as on Lambda ------------------------------------------------
GREEDY = """
import time
def handler(event, context):
    hoard = bytearray(event["mb"] << 20)
    for page in range(0, len(hoard), 4096):  # touch every page: resident, not just reserved
        hoard[page] = 1
    spin = time.process_time() + event.get("spin", 0)
    while time.process_time() < spin:
        pass
    return {"mb": event["mb"], "limit": context.memory_limit_in_mb}
"""


def greedy_function(tmp_path, memory_mb: int) -> SimpleNamespace:
    function = fake_function(tmp_path, timeout=20)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as code:
        code.writestr("fn/app.py", GREEDY)
    function.code_bytes, function.code_sha_256 = archive.getvalue(), f"greedy{memory_mb}"
    function.memory_size = memory_mb
    return function


def test_a_function_over_its_memory_size_fails_with_runtime_out_of_memory(runtime, tmp_path):
    function = greedy_function(tmp_path, 128)
    result = runtime.invoke(function, {"mb": 300})
    payload = json.loads(result.payload)
    assert result.errored and result.out_of_memory
    assert payload["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in payload["errorMessage"]
    assert result.peak_memory_mb == 128
    # within its size the same function runs, in a fresh worker
    fine = runtime.invoke(function, {"mb": 40})
    assert not fine.errored and json.loads(fine.payload) == {"mb": 40, "limit": 128}
    assert runtime.stats.workers_started["probe"] == 2


def test_each_invocation_records_its_cpu_time_peak_memory_and_the_start_up(runtime, tmp_path):
    function = greedy_function(tmp_path, 512)
    first = runtime.invoke(function, {"mb": 150, "spin": 0.3})
    second = runtime.invoke(function, {"mb": 10})
    assert not first.errored and not second.errored
    assert first.init_ms is not None and first.init_cpu_ms > 0 and second.init_ms is None  # a warm worker
    assert first.cpu_ms >= 300 and second.cpu_ms < first.cpu_ms
    assert first.handler_ms >= first.cpu_ms * 0.9
    # the peak is per invocation: the second one does not inherit the first one's 150 MiB
    assert 150 <= first.peak_memory_mb < 512 and second.peak_memory_mb < 100
    assert first.memory_size_mb == 512 and first.started_at > 0


def layer_version(arn: str, files: dict[str, bytes | str]) -> SimpleNamespace:
    """A deployed layer version as moto keeps it (its zip): an in-process moto mock would
    reset the session's local cloud, so the region's layers are stand-ins."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return SimpleNamespace(arn=arn, code_bytes=buffer.getvalue(), code_sha_256=arn)


def deploy_layers(monkeypatch, *versions: SimpleNamespace) -> None:
    from localcloud.services.awslambda import layers

    region = {version.arn: SimpleNamespace(layer_versions={"1": version}) for version in versions}
    backend = SimpleNamespace(_layers=SimpleNamespace(_layers=region))
    monkeypatch.setattr(layers, "_backend", lambda function: backend)


def with_code(tmp_path, files: dict[str, str], handler: str = "fn/app.handler", layers=()) -> SimpleNamespace:
    function = fake_function(tmp_path)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as code:
        for name, content in files.items():
            code.writestr(name, content)
    function.code_bytes, function.handler = archive.getvalue(), handler
    function.code_sha_256 = str(abs(hash((tuple(files.items()), handler))))
    function.function_arn += function.code_sha_256  # a pool of its own
    function.layers = [{"Arn": arn} for arn in layers]
    return function


IMPORTER = "import importlib, sys\ndef handler(event, context):\n    m = importlib.import_module(event['module'])\n"
IMPORTER += "    return {'from': getattr(m, '__file__', None), 'value': getattr(m, 'VALUE', None),"
IMPORTER += " 'version': list(sys.version_info[:2])}\n"


def test_a_function_imports_its_own_layers_in_order_and_nothing_from_the_venv(runtime, tmp_path, monkeypatch):
    """Lambda extracts the attached layers in order into /opt (a later one's file wins) and puts
    /opt/python on the path; the runtime brings boto3; the venv's packages are not there."""
    first = layer_version("arn:aws:lambda:us-east-1:123456789012:layer:a:1", {
        "python/only_in_a.py": "VALUE = 'a'", "python/shared.py": "VALUE = 'a'"})  # fmt: skip
    second = layer_version("arn:aws:lambda:us-east-1:123456789012:layer:b:1", {"python/shared.py": "VALUE = 'b'"})
    deploy_layers(monkeypatch, first, second)
    layered = with_code(tmp_path, {"fn/app.py": IMPORTER}, layers=[first.arn, second.arn])

    def run(function, module):
        result = runtime.invoke(function, {"module": module})
        return json.loads(result.payload), result.errored

    assert run(layered, "only_in_a")[0]["value"] == "a"
    assert run(layered, "shared")[0]["value"] == "b"
    runtime_boto3, errored = run(layered, "boto3")
    assert not errored and runtime_boto3["version"] == [3, 13]
    assert "/.venv/" not in runtime_boto3["from"] and runtime_boto3["from"].endswith("var/runtime/boto3/__init__.py")
    for module in ("moto", "PIL", "aws_lambda_powertools"):  # all in the venv, in no layer here
        refused, errored = run(layered, module)
        assert errored and refused["errorType"] == "ModuleNotFoundError", module
    bare = with_code(tmp_path, {"fn/app.py": "import only_in_a\ndef handler(event, context):\n    return 1\n"})
    failed = json.loads(runtime.invoke(bare, {}).payload)
    assert failed["errorType"] == "Runtime.ImportModuleError"
    assert failed["errorMessage"] == "Unable to import module 'fn/app': No module named 'only_in_a'"


# -- each way a first deploy fails, as Lambda reports it ---------------------------------------
def pillow_layer(tmp_path, platform: str, python_version: str) -> dict[str, bytes]:
    """A Pillow layer as a wrong build would make it: the wheel for another CPU or Python,
    unzipped under python/ (pip's cache keeps the download once per machine)."""
    folder = tmp_path / f"wheels-{platform}-{python_version}"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--platform", platform, "--python-version", python_version, "--dest", str(folder), PILLOW]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    files = {}
    for wheel in folder.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            files.update({f"python/{name}": archive.read(name) for name in archive.namelist()})
    return files


PILLOW = next(
    line for line in Path("layers/pillow/requirements.txt").read_text().splitlines() if line.startswith("Pillow==")
)
USES_PILLOW = "from PIL import Image\ndef handler(event, context):\n    return Image.new('RGB', (2, 2)).size\n"


@pytest.mark.parametrize(
    ("platform", "python_version", "built_for"),
    [("manylinux_2_28_aarch64", "3.13", "arm64"), ("manylinux_2_28_x86_64", "3.12", "CPython 3.12")],
)
def test_a_layer_built_for_another_cpu_or_python_fails_as_on_lambda(
    runtime, tmp_path, monkeypatch, platform, python_version, built_for
):
    """Pillow's most reported Lambda failure: `cannot import name '_imaging' from 'PIL'`, the
    layer's compiled module being for another CPU or Python than the runtime's."""
    wrong = layer_version(f"arn:aws:lambda:us-east-1:123456789012:layer:pillow-{python_version}:1",
                          pillow_layer(tmp_path, platform, python_version))  # fmt: skip
    assert any(name.endswith(".so") for name in zipfile.ZipFile(io.BytesIO(wrong.code_bytes)).namelist()), built_for
    deploy_layers(monkeypatch, wrong)
    result = runtime.invoke(with_code(tmp_path, {"fn/app.py": USES_PILLOW}, layers=[wrong.arn]), {})
    payload = json.loads(result.payload)
    assert result.errored and payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"].startswith(
        "Unable to import module 'fn/app': cannot import name '_imaging' from 'PIL'"
    )
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module 'fn/app'" in result.logs


def test_a_package_without_its_dependency_fails_though_the_venv_has_it(runtime, tmp_path):
    code = "from aws_lambda_powertools import Logger\ndef handler(event, context):\n    return 1\n"
    payload = json.loads(runtime.invoke(with_code(tmp_path, {"fn/app.py": code}), {}).payload)
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"] == "Unable to import module 'fn/app': No module named 'aws_lambda_powertools'"


@pytest.mark.parametrize("removed", ["imp", "distutils", "asynchat"])
def test_a_module_the_runtime_python_removed_fails_though_the_venv_python_has_it(runtime, tmp_path, removed):
    code = f"import {removed}\ndef handler(event, context):\n    return 1\n"
    first, again = (runtime.invoke(with_code(tmp_path, {"fn/app.py": code}), {}) for _ in range(2))
    for result in (first, again):  # an initialisation error is answered on every invocation
        payload = json.loads(result.payload)
        assert payload["errorType"] == "Runtime.ImportModuleError"
        assert payload["errorMessage"] == f"Unable to import module 'fn/app': No module named '{removed}'"
    assert runtime.stats.workers_started["probe"] == 1


def test_errors_context_and_logs_have_lambdas_formats(runtime, tmp_path):
    missing = json.loads(runtime.invoke(with_code(tmp_path, {"fn/app.py": "x = 1\n"}, "fn/app.nothing"), {}).payload)
    assert missing["errorType"] == "Runtime.HandlerNotFound"
    assert missing["errorMessage"] == "Handler 'nothing' missing on module 'fn/app'"
    malformed = json.loads(runtime.invoke(with_code(tmp_path, {"app.py": ""}, "app"), {}).payload)
    assert malformed["errorType"] == "Runtime.MalformedHandlerName"
    syntax = json.loads(runtime.invoke(with_code(tmp_path, {"fn/app.py": "def handler(:\n"}), {}).payload)
    assert syntax["errorType"] == "Runtime.UserCodeSyntaxError" and "fn/app.py" in syntax["stackTrace"][0]
    code = "import logging\ndef handler(event, context):\n    logging.getLogger().warning('careful')\n"
    code += "    raise KeyError(context.aws_request_id)\n"
    function = with_code(tmp_path, {"fn/app.py": code})
    failed = runtime.invoke(function, {})
    error = json.loads(failed.payload)
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "KeyError" and error["errorMessage"] == repr(error["requestId"])
    assert len(error["stackTrace"]) == 1 and 'fn/app.py", line 4, in handler' in error["stackTrace"][0]
    log = function.logs[-1].splitlines()
    assert log[0] == f"START RequestId: {error['requestId']} Version: $LATEST"
    assert re.fullmatch(rf"\[WARNING\]\t\d{{4}}-\d\d-\d\dT[\d:.]+Z\t{error['requestId']}\tcareful", log[1])
    assert log[2] == f"[ERROR] KeyError: {error['errorMessage']}" and log[3] == "Traceback (most recent call last):"
    assert log[-2] == f"END RequestId: {error['requestId']}"
    report = rf"REPORT RequestId: {error['requestId']}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms"
    report += r"\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms"
    assert re.fullmatch(report, log[-1])
    returned = with_code(tmp_path, {"fn/app.py": "def handler(event, context):\n    return object()\n"})
    marshal = json.loads(runtime.invoke(returned, {}).payload)
    assert marshal["errorType"] == "Runtime.MarshalError"
    assert marshal["errorMessage"].startswith("Unable to marshal response: Object of type object is not JSON")


def test_a_function_of_another_runtime_is_not_run_on_this_one(runtime, tmp_path):
    function = with_code(tmp_path, {"fn/app.py": IMPORTER})
    function.run_time = "python3.12"
    payload = json.loads(runtime.invoke(function, {"module": "json"}).payload)
    assert payload["errorType"] == "Runtime.InvalidRuntime" and "python3.12" in payload["errorMessage"]


def test_where_no_cgroup_can_be_made_a_watchdog_enforces_the_memory_size(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_MEMORY", "watchdog")
    runtime = LambdaRuntime(tmp_path, "http://127.0.0.1:1")
    try:
        assert runtime.limits.mode == "watchdog"
        result = runtime.invoke(greedy_function(tmp_path, 128), {"mb": 300})
        assert result.out_of_memory and json.loads(result.payload)["errorType"] == "Runtime.OutOfMemory"
    finally:
        runtime.stop()


def test_a_function_built_for_arm64_runs_on_arm64_under_emulation(runtime, tmp_path):
    """The runtime runs a function on the CPU it was deployed for: arm64 under
    qemu-aarch64-static with the arm64 build of the same Python (slow, but what was built)."""
    if shutil.which(interpreter.QEMU) is None:  # .ci/run installs it
        pytest.skip(f"{interpreter.QEMU} is not installed (Debian: qemu-user-static)")
    code = "import platform, sys\ndef handler(event, context):\n    return [platform.machine(), sys.version]\n"
    function = with_code(tmp_path, {"fn/app.py": code})
    function.architectures, function.timeout = ["arm64"], 60  # emulation is 10-25x slower
    result = runtime.invoke(function, {})
    machine, version = json.loads(result.payload)
    assert not result.errored and machine == "aarch64" and version.startswith("3.13.")
