"""The local Lambda runtime: the deployed code in warm workers, as Lambda runs it."""

import io
import json
import zipfile
from types import SimpleNamespace

import pytest

from localcloud.runtime import LambdaRuntime

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
        run_time="python3.12",
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
