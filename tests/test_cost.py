"""The cost model (localcloud/tools/cost.py): predicted Lambda durations from CPU time and the CPU
share memorySize buys, the bill per 1,000 photos, warnings, and a table that fits 100 columns."""

from collections import Counter

import pytest

from localcloud.tools import cost, report

CALIBRATION = cost.Calibration(local_seconds=0.5, speed=2.0)


def test_cpu_time_is_scaled_by_the_core_speed_and_the_share_memory_buys():
    full = cost.predict(1769, CALIBRATION, cpu_ms=100, wall_ms=130)
    assert full.duration_ms == pytest.approx(100 * 2.0 + 30)  # the waiting is not scaled
    quarter = cost.predict(1769 // 4, CALIBRATION, cpu_ms=100, wall_ms=130)
    assert quarter.duration_ms == pytest.approx(100 * 2.0 * 1769 / (1769 // 4) + 30)
    # above one vCPU a single-threaded handler gets no faster
    assert cost.predict(3538, CALIBRATION, cpu_ms=100, wall_ms=130).duration_ms == pytest.approx(full.duration_ms)
    # waiting for this machine's CPU is not waiting for AWS
    assert cost.predict(1769, CALIBRATION, cpu_ms=100, wall_ms=130, queued_ms=30).duration_ms == pytest.approx(200)
    # billed: memory x duration rounded up to 1 ms, start-up included
    cold = cost.predict(1024, CALIBRATION, cpu_ms=100, wall_ms=100, init_cpu_ms=50, init_ms=60)
    billed_ms = -(-cold.duration_ms // 1) + -(-cold.init_ms // 1)
    assert cold.billed_gb_seconds == pytest.approx(1024 / 1024 * billed_ms / 1000)


def call(function: str, memory: int, timeout: float, cpu_ms: float, peak: float = 60.0) -> cost.Call:
    prediction = cost.predict(memory, CALIBRATION, cpu_ms, cpu_ms)
    return cost.Call(function, memory, timeout, cpu_ms, peak, prediction, False, False, 0.0, 0.0, cpu_ms)


def test_the_bill_compares_standard_and_express_and_warns_near_a_timeout():
    calls = [call("app-test-resizeImage", 1769, 10, 3000), call("app-test-getFileType", 512, 25, 10)]
    calls += [call("app-test-resizeImage", 1769, 10, 100)]
    shape = cost.ExecutionShape(transitions=15, sequential=("app-test-getFileType",), parallel=(), logged_bytes=25_000)
    requests = Counter({("s3", "GetObject"): 4, ("s3", "PutObject"): 2, ("s3", "DeleteObject"): 1})
    bill = cost.bill(calls, requests, Counter(write=3, read=2), [shape, shape], photos=2)
    assert bill.per_thousand["Step Functions Standard"] == pytest.approx(15 * 2 * cost.SFN_STANDARD_TRANSITION * 500)
    s3 = (4 * cost.S3_TIER2 + 2 * cost.S3_TIER1 + 2 * cost.S3_TIER1) * 500  # + the users' two uploads
    assert bill.per_thousand["S3 requests"] == pytest.approx(s3)
    assert bill.standard_total > bill.express_total > 0
    [resize] = [f for f in bill.functions if f.function == "resizeImage"]
    assert resize.invocations == 2 and resize.lambda_max == pytest.approx(6000)
    assert bill.warnings == ["resizeImage: a predicted Lambda duration of 6.0 s is 60% of its 10 s timeout"]
    lines = report.bill_lines(bill, CALIBRATION).splitlines()
    assert all(len(line) <= report.WIDTH for line in lines)
    assert any(line.startswith("resizeImage") for line in lines) and lines[-1].startswith("warning: resizeImage")


def test_an_execution_history_gives_transitions_and_the_path_of_functions():
    def scheduled(event_id: int, previous: int, function: str) -> dict:
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        details = {"resource": arn}
        return {"id": event_id, "previousEventId": previous, "type": "LambdaFunctionScheduled",
                "lambdaFunctionScheduledEventDetails": details}  # fmt: skip

    events = [
        {"id": 1, "previousEventId": 0, "type": "TaskStateEntered"},
        scheduled(2, 1, "a"),
        {"id": 3, "previousEventId": 2, "type": "LambdaFunctionFailed"},
        scheduled(4, 3, "a"),  # a retry: another transition
        {"id": 5, "previousEventId": 4, "type": "ParallelStateEntered"},
        {"id": 6, "previousEventId": 5, "type": "TaskStateEntered"},
        scheduled(7, 6, "b"),
        {"id": 8, "previousEventId": 5, "type": "TaskStateEntered"},
        scheduled(9, 8, "c"),
        {"id": 10, "previousEventId": 9, "type": "ParallelStateExited"},
    ]
    shape = cost.shape(events)
    assert shape.transitions == 5 and shape.sequential == ("a", "a") and shape.parallel == (("b", "c"),)


def test_each_item_of_a_transaction_costs_two_write_units():
    tables = [f"arn:aws:dynamodb:us-east-1:123456789012:table/absent-{n}" for n in range(3)]
    assert cost.dynamodb_units("PutItem", tables[:1], 1500) == ("write", 2)  # 2 KB, once
    assert cost.dynamodb_units("TransactWriteItems", tables, 1500) == ("write", 6)  # 3 items of 1 KB, twice each
    assert cost.dynamodb_units("GetItem", tables[:1], 100) == ("read", 1.0)


def test_cold_starts_are_reported_per_function_here_and_as_predicted_on_lambda():
    """A new worker's start-up (measured on the runtime's interpreter) is Lambda's Init
    Duration: billed, and reported beside the handler's durations."""
    warm = call("app-test-getFileType", 512, 25, 10)
    cold = cost.Call("app-test-getFileType", 512, 25, 10, 60.0,
                     cost.predict(512, CALIBRATION, 10, 10, init_cpu_ms=300, init_ms=400),
                     False, False, 0.0, 0.0, 10, 300, 400)  # fmt: skip
    bill = cost.bill([warm, cold], Counter(), Counter(), [], photos=1)
    [figures] = bill.functions
    assert figures.init_local_p50 == 400 and figures.init_lambda_p50 == pytest.approx(cold.prediction.init_ms)
    assert figures.init_lambda_p50 > 300 * CALIBRATION.speed  # 512 MB: under a third of a vCPU
    lines = report.bill_lines(bill, CALIBRATION).splitlines()
    assert all(len(line) <= report.WIDTH for line in lines)
    [row] = [line for line in lines if line.startswith("getFileType")]
    assert row.rstrip().endswith(f"0.40/{figures.init_lambda_p50 / 1000:.2f} s")
    assert cost.bill([warm], Counter(), Counter(), [], photos=1).functions[0].init_local_p50 is None
