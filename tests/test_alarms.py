"""Alarms: the stack's alarm definitions exist in the local cloud, the metrics AWS would publish
are published, and alarms are evaluated as CloudWatch evaluates them, their actions reaching
the operations topic (read here through an SQS queue subscribed to it)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.services.cloudwatch import alarms
from tests import serverless_yml
from tests.test_workflow import control

PERIOD = 60


def evaluate_now(cloud, at: float | None = None) -> list[dict]:
    return control(cloud, "alarms", {} if at is None else {"at": at}, "POST")["changes"]


@pytest.fixture(scope="module")
def operations_queue(stack):
    """An SQS queue subscribed to the operations topic: what an operator's tooling would read."""
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName=f"ops-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.outputs["OperationsTopicArn"], Protocol="sqs", Endpoint=arn)
    return url


def alarm_messages(queue_url: str, alarm_name: str, state: str, timeout: float = 60) -> list[dict]:
    """The alarm's state-change notices to `state` that reached the queue, waiting for one."""
    sqs = boto3.client("sqs")
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            envelope = json.loads(message["Body"])
            notice = json.loads(envelope["Message"])
            if notice.get("AlarmName") == alarm_name and notice.get("NewStateValue") == state:
                found.append({"subject": envelope.get("Subject"), **notice})
    return found


def describe(name: str) -> dict:
    return boto3.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


# -- the stack's alarms ---------------------------------------------------------------------------


def things_alarm(name: str, unique: str, **overrides) -> dict:
    """An alarm on a test metric: one datapoint of 1 or more in a period sets it off."""
    return {
        "AlarmName": name,
        "Namespace": f"Test/{unique}",
        "MetricName": "Things",
        "Statistic": "Sum",
        "Period": PERIOD,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    } | overrides


def test_the_stacks_alarms_come_from_the_template(stack):
    cloudwatch = boto3.client("cloudwatch")
    found = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"{stack.name}-")["MetricAlarms"]}
    functions = [
        f["FunctionName"].removeprefix(f"{stack.name}-")
        for f in boto3.client("lambda").list_functions()["Functions"]
        if f["FunctionName"].startswith(f"{stack.name}-")
    ]
    assert set(functions) == set(serverless_yml.functions())
    expected = {f"{stack.name}-{f}-{kind}" for f in functions for kind in ("errors", "throttles")}
    near_timeout = serverless_yml.serverless()["custom"]["functionAlarms"]["durationNearTimeout"]
    expected |= {f"{stack.name}-{f}-duration" for f in near_timeout}
    expected |= {f"{stack.name}-workflow-executions-{kind}" for kind in ("failed", "timed-out", "throttled")}
    assert expected <= set(found)
    topic = stack.outputs["OperationsTopicArn"]
    for alarm in (found[name] for name in expected):
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        assert alarm["TreatMissingData"] == "notBreaching"
    errors = found[f"{stack.name}-getFileType-errors"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": f"{stack.name}-getFileType"}]
    duration = found[f"{stack.name}-resizeImage-duration"]
    assert (duration["MetricName"], duration["Statistic"], duration["Threshold"]) == ("Duration", "Maximum", 44000.0)
    failed = found[f"{stack.name}-workflow-executions-failed"]
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": stack.outputs["ImageWorkflowArn"]}]


def test_an_alarm_starts_with_insufficient_data_and_keeps_its_state_when_updated(cloud, unique):
    cloudwatch = boto3.client("cloudwatch")
    definition = things_alarm(f"keep-{unique}", unique)
    cloudwatch.put_metric_alarm(**definition)
    assert describe(definition["AlarmName"])["StateValue"] == "INSUFFICIENT_DATA"
    cloudwatch.set_alarm_state(AlarmName=definition["AlarmName"], StateValue="OK", StateReason="checked by hand")
    cloudwatch.put_metric_alarm(**{**definition, "Threshold": 5})
    alarm = describe(definition["AlarmName"])
    assert (alarm["StateValue"], alarm["Threshold"]) == ("OK", 5.0)
    history = cloudwatch.describe_alarm_history(AlarmName=definition["AlarmName"], ScanBy="TimestampAscending")
    kinds = [(i["HistoryItemType"], i["HistorySummary"]) for i in history["AlarmHistoryItems"]]
    assert kinds == [
        ("ConfigurationUpdate", f'Alarm "keep-{unique}" created'),
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to OK"),
        ("ConfigurationUpdate", f'Alarm "keep-{unique}" updated'),
    ]


# -- from a failing function to a message -----------------------------------------------------------


def test_a_failing_function_sets_off_its_errors_alarm_and_the_operations_topic_is_told(cloud, stack, operations_queue):
    name = f"{stack.name}-getFileType-errors"
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test starts from OK")
    control(cloud, "faults", {"function": f"{stack.name}-getFileType", "error": "Boom", "times": 2}, "POST")
    try:
        for _ in range(2):
            answer = boto3.client("lambda").invoke(FunctionName=f"{stack.name}-getFileType", Payload=b"{}")
            assert answer["FunctionError"] == "Unhandled"
    finally:
        control(cloud, "faults", method="DELETE")
    evaluate_now(cloud)
    alarm = describe(name)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [")
    assert "was greater than or equal to the threshold (1.0)" in alarm["StateReason"]
    assert json.loads(alarm["StateReasonData"])["recentDatapoints"][-1] >= 2.0

    [notice, *_] = alarm_messages(operations_queue, name, "ALARM")
    assert notice["subject"] == f'ALARM: "{name}" in US East (N. Virginia)'
    assert notice["OldStateValue"] == "OK" and notice["AlarmArn"] == alarm["AlarmArn"]
    trigger = notice["Trigger"]
    assert (trigger["Namespace"], trigger["MetricName"], trigger["Statistic"]) == ("AWS/Lambda", "Errors", "SUM")
    assert trigger["Dimensions"] == [{"value": f"{stack.name}-getFileType", "name": "FunctionName"}]
    history = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert history[0]["HistorySummary"] == f"Successfully executed action {stack.outputs['OperationsTopicArn']}"

    # Two periods later without errors the alarm clears, and the topic is told that too.
    evaluate_now(cloud, at=time.time() + 2 * PERIOD)
    assert describe(name)["StateValue"] == "OK"
    assert alarm_messages(operations_queue, name, "OK")


def test_a_failed_execution_sets_off_the_workflow_alarm(cloud, stack, pipeline, operations_queue):
    name = f"{stack.name}-workflow-executions-failed"
    boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test starts from OK")
    key = f"{pipeline.upload_prefix}alarm-{uuid.uuid4().hex[:8]}/gone.jpg"
    state = {"s3": {"bucket": {"name": pipeline.upload_bucket}, "object": {"key": key}}}
    boto3.client("stepfunctions").start_execution(stateMachineArn=pipeline.state_machine_arn, input=json.dumps(state))
    [outcome] = pipeline.wait({key: "gone.jpg"}, timeout=60)
    assert outcome.status == "FAILED"
    evaluate_now(cloud)
    assert describe(name)["StateValue"] == "ALARM"
    assert alarm_messages(operations_queue, name, "ALARM")
    statistics = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/States",
        MetricName="ExecutionsFailed",
        Dimensions=[{"Name": "StateMachineArn", "Value": pipeline.state_machine_arn}],
        StartTime=datetime.fromtimestamp(time.time() - 600, UTC),
        EndTime=datetime.fromtimestamp(time.time() + 60, UTC),
        Period=3600,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in statistics["Datapoints"]) >= 1


def test_set_alarm_state_runs_the_new_states_actions(stack, operations_queue, unique):
    cloudwatch = boto3.client("cloudwatch")
    name = f"manual-{unique}"
    cloudwatch.put_metric_alarm(**things_alarm(name, unique, AlarmActions=[stack.outputs["OperationsTopicArn"]]))
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the pager")
    [notice] = alarm_messages(operations_queue, name, "ALARM")
    assert notice["NewStateReason"] == "testing the pager" and notice["OldStateValue"] == "INSUFFICIENT_DATA"


def test_an_action_to_a_topic_with_the_aws_managed_key_fails(cloud, stack, unique):
    """The users' topic is encrypted with alias/aws/sns: CloudWatch may not use that key."""
    cloudwatch = boto3.client("cloudwatch")
    name = f"managed-key-{unique}"
    topic = stack.outputs["NotificationsTopicArn"]
    cloudwatch.put_metric_alarm(**things_alarm(name, unique, AlarmActions=[topic]))
    cloudwatch.put_metric_data(Namespace=f"Test/{unique}", MetricData=[{"MetricName": "Things", "Value": 3}])
    evaluate_now(cloud)
    assert describe(name)["StateValue"] == "ALARM"
    [action] = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert action["HistorySummary"].startswith(f"Failed to execute action {topic}")
    assert "encryption key" in action["HistorySummary"]
    assert json.loads(action["HistoryData"])["actionState"] == "Failed"


# -- throttling ------------------------------------------------------------------------------------


def test_a_function_is_throttled_over_its_reserved_concurrency(cloud, stack):
    """Reserved concurrency 0 stops a function (AWS's own way of switching one off)."""
    client, name = boto3.client("lambda"), f"{stack.name}-deleteFile"
    alarm = f"{stack.name}-deleteFile-throttles"
    boto3.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test starts from OK")
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        with pytest.raises(ClientError) as refused:
            client.invoke(FunctionName=name, Payload=b"{}")
        assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        client.delete_function_concurrency(FunctionName=name)
    evaluate_now(cloud)
    assert describe(alarm)["StateValue"] == "ALARM"
    answer = client.invoke(FunctionName=name, Payload=b"{}")  # back to normal: runs (and fails on {})
    assert answer["StatusCode"] == 200


def test_a_throttled_s3_event_waits_and_is_not_lost(cloud, stack, pipeline, s3, unique):
    client, name = boto3.client("lambda"), f"{stack.name}-startWorkflow"
    key = f"{pipeline.upload_prefix}throttled-{unique}/photo.jpg"
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=b"not a photo")
        [waiting] = pipeline.wait({key: "photo.jpg"}, timeout=2)
        assert waiting.status == "NOT_STARTED"  # throttled: no execution yet
    finally:
        client.delete_function_concurrency(FunctionName=name)
    [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=60)
    assert outcome.status == "SUCCEEDED" and str(outcome.result) == "rejected: not-an-image"


# -- evaluation rules, on datapoints placed in time ---------------------------------------------------


class FakeBackend:
    def __init__(self) -> None:
        self.metric_data: list = []

    def put(self, at: float, value: float, name: str = "M", unit: str | None = None) -> None:
        datum = SimpleNamespace(
            namespace="NS",
            name=name,
            value=value,
            unit=unit,
            dimensions=[SimpleNamespace(name="D", value="d")],
            timestamp=datetime.fromtimestamp(at, UTC),
        )
        self.metric_data.append(datum)


def rule(**overrides) -> SimpleNamespace:
    settings = {
        "rule": None,
        "metric_data_queries": [],
        "threshold_metric_id": None,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "period": PERIOD,
        "evaluation_periods": 1,
        "datapoints_to_alarm": None,
        "statistic": "Sum",
        "extended_statistic": None,
        "threshold": 1.0,
        "namespace": "NS",
        "metric_name": "M",
        "dimensions": [SimpleNamespace(name="D", value="d")],
        "unit": None,
        "treat_missing_data": None,
    }
    return SimpleNamespace(**(settings | overrides))


def verdict(backend: FakeBackend, at: float, **overrides):
    index = alarms.MetricIndex()
    index.refresh(backend)
    return alarms.evaluate(rule(**overrides), index, at)


T0 = 1_700_000_040.0  # a period boundary (divisible by 60)


def test_datapoints_count_in_their_period_window():
    backend = FakeBackend()
    backend.put(T0 + 10, 1)
    backend.put(T0 + 50, 1)
    backend.put(T0 + 70, 5)  # the next period
    assert verdict(backend, T0 + 59, threshold=2).state == "ALARM"  # 2 in the period in progress
    assert verdict(backend, T0 + 59, threshold=3).state == "OK"
    assert verdict(backend, T0 + 80, threshold=3).state == "ALARM"  # the next period has 5


def test_a_period_in_progress_without_data_is_not_yet_missing():
    backend = FakeBackend()
    backend.put(T0 + 50, 4)
    # 10 s into the next period, nothing arrived yet: CloudWatch still judges the last full period.
    assert verdict(backend, T0 + 70).state == "ALARM"
    assert verdict(backend, T0 + 130).state == "INSUFFICIENT_DATA"  # a whole period went by


def test_m_out_of_n_datapoints_and_statistics():
    backend = FakeBackend()
    for minute, value in enumerate([3, 0, 3]):
        backend.put(T0 + minute * PERIOD + 1, value)
    three = {"evaluation_periods": 3, "at": T0 + 2 * PERIOD + 30}
    at = three.pop("at")
    assert verdict(backend, at, datapoints_to_alarm=2, **three).state == "ALARM"
    found = verdict(backend, at, datapoints_to_alarm=3, **three)
    assert found.state == "OK"
    assert found.reason.startswith("Threshold Crossed: 3 out of the last 3 datapoints [")
    assert "were not greater than or equal to the threshold (1.0)" in found.reason
    backend.put(T0 + 2 * PERIOD + 2, 1)
    assert verdict(backend, at, statistic="Average", threshold=2.5).state == "OK"  # (3 + 1) / 2
    assert verdict(backend, at, statistic="Maximum", threshold=3).state == "ALARM"
    assert verdict(backend, at, statistic="SampleCount", threshold=2).state == "ALARM"
    assert verdict(backend, at, statistic=None, extended_statistic="p50", threshold=2).state == "OK"


def test_missing_data_is_treated_as_the_alarm_says():
    empty = FakeBackend()
    at = T0 + 10
    assert verdict(empty, at).state == "INSUFFICIENT_DATA"
    assert verdict(empty, at, treat_missing_data="notBreaching").state == "OK"
    assert verdict(empty, at, treat_missing_data="breaching").state == "ALARM"
    assert verdict(empty, at, treat_missing_data="ignore") is None  # the state stays
    reason = verdict(empty, at, treat_missing_data="notBreaching").reason
    assert reason == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
        "[NonBreaching]."
    )


def test_only_the_alarms_metric_dimensions_and_unit_count():
    backend = FakeBackend()
    backend.put(T0 + 5, 9, name="Other")
    backend.put(T0 + 5, 9, unit="Seconds")
    assert verdict(backend, T0 + 30, unit="Milliseconds").state == "INSUFFICIENT_DATA"
    assert verdict(backend, T0 + 30, unit="Seconds").state == "ALARM"
    assert verdict(backend, T0 + 30, comparison_operator="LessThanThreshold", threshold=10).state == "ALARM"


def test_lambda_duration_is_the_handlers_time_without_a_cold_start(cloud):
    """What the runtime measured in all (start-up and queueing included) is not Lambda's Duration."""
    from localcloud.services.awslambda.runtime import Invocation
    from localcloud.services.cloudwatch.metrics import Metrics

    name = f"duration-{uuid.uuid4().hex[:8]}"
    function = SimpleNamespace(account_id="123456789012", region="us-east-1", function_name=name)
    invocation = Invocation("{}", False, "", duration_ms=1500.0, handler_ms=120.0, init_ms=1300.0)
    Metrics().lambda_invocation(function, invocation)
    datapoints = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=datetime.fromtimestamp(time.time() - 600, UTC),
        EndTime=datetime.fromtimestamp(time.time() + 60, UTC),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [point["Maximum"] for point in datapoints] == [120.0]
