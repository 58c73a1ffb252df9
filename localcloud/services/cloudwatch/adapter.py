"""CloudWatch gaps (moto.cloudwatch) in alarms, closed here (evaluating them is not a moto gap
but what the local cloud adds: localcloud/services/cloudwatch/alarms.py):

1. moto's CloudFormation skips AWS::CloudWatch::Alarm: the stack's alarms did not exist. They
   are created through moto's CloudWatch API with every property the template gives them
   (named `<stack>-<logical id>-<suffix>` when the template names none, as CloudFormation
   does), updated in place and deleted with the stack.
   Test: test_the_stacks_alarms_come_from_the_template (tests/test_alarms.py).
2. A new alarm starts in OK; CloudWatch starts it in INSUFFICIENT_DATA ("Unchecked: Initial
   alarm creation"). PutMetricAlarm on an existing alarm replaced it, state and history
   included; CloudWatch keeps its state and records a ConfigurationUpdate.
   Test: test_an_alarm_starts_with_insufficient_data_and_keeps_its_state_when_updated.
3. No DescribeAlarmHistory (HTTP 500): every change of state (evaluation or SetAlarmState)
   and every action taken is recorded in the alarm's history, in CloudWatch's shape
   (StateUpdate, Action and ConfigurationUpdate items, HistoryData as JSON text), and
   DescribeAlarmHistory answers with it (AlarmName, HistoryItemType, StartDate, EndDate,
   MaxRecords, ScanBy). Test: test_an_action_to_a_topic_with_the_aws_managed_key_fails.
4. SetAlarmState changed the state silently; on CloudWatch it runs the new state's actions.
   A change of state now calls the local cloud's listener (localcloud/services/cloudwatch/alarms.py runs the
   actions). Test: test_set_alarm_state_runs_the_new_states_actions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from localcloud.services.cloudformation.adapter import TemplateResource, register

_listener: list[Callable[[Any, str], None]] = []


def on_state_change(listener: Callable[[Any, str], None]) -> None:
    """`listener(alarm, old_state)` after every change of an alarm's state (one listener: the
    running local cloud's)."""
    _listener[:] = [listener]


def _backend(account_id: str, region: str) -> CloudWatchBackend:
    return cloudwatch_backends[account_id][region]


def _number(value: Any, kind: type = float) -> Any:
    return None if value is None or value == "" else kind(float(value))


def _enabled(value: Any) -> bool:
    return True if value is None else str(value).lower() not in ("false", "0")


class AlarmFromTemplate(TemplateResource):
    """A metric alarm created from a template (its name, for Ref; its ARN for GetAtt)."""

    resource_type = "AWS::CloudWatch::Alarm"
    name_property = "AlarmName"
    attributes = ("Arn",)

    def __init__(self, account_id: str, region: str, name: str) -> None:
        self.account_id, self.region, self.name = account_id, region, name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name != "Arn":
            raise KeyError(attribute_name)
        return _backend(self.account_id, self.region).alarms[self.name].alarm_arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> AlarmFromTemplate:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("AlarmName") or resource_name
        _put(_backend(account_id, region_name), name, properties)
        return cls(account_id, region_name, name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: AlarmFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> AlarmFromTemplate:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("AlarmName") or original_resource.name
        backend = _backend(account_id, region_name)
        if name != original_resource.name:  # a new name replaces the alarm, as CloudFormation does
            backend.delete_alarms([original_resource.name])
        _put(backend, name, properties)
        return cls(account_id, region_name, name)

    def delete(self, account_id: str, region: str) -> None:
        _backend(account_id, region).delete_alarms([self.name])


def _put(backend: CloudWatchBackend, name: str, properties: dict[str, Any]) -> None:
    # moto hints these five str; its own PutMetricAlarm handler passes None for those a request
    # leaves out (an alarm on metric math has no namespace), as a template leaves them out here.
    backend.put_metric_alarm(
        name=name,
        namespace=properties.get("Namespace"),  # type: ignore[arg-type]
        metric_name=properties.get("MetricName"),  # type: ignore[arg-type]
        comparison_operator=properties.get("ComparisonOperator"),  # type: ignore[arg-type]
        evaluation_periods=_number(properties.get("EvaluationPeriods"), int),
        period=_number(properties.get("Period"), int),
        threshold=_number(properties.get("Threshold")),
        statistic=properties.get("Statistic"),  # type: ignore[arg-type]
        description=properties.get("AlarmDescription"),  # type: ignore[arg-type]
        dimensions=[{"Name": d["Name"], "Value": str(d["Value"])} for d in properties.get("Dimensions", [])],
        alarm_actions=list(properties.get("AlarmActions", [])),
        datapoints_to_alarm=_number(properties.get("DatapointsToAlarm"), int),
        extended_statistic=properties.get("ExtendedStatistic"),
        ok_actions=list(properties.get("OKActions", [])),
        insufficient_data_actions=list(properties.get("InsufficientDataActions", [])),
        unit=properties.get("Unit"),
        actions_enabled=_enabled(properties.get("ActionsEnabled")),
        treat_missing_data=properties.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=properties.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=properties.get("ThresholdMetricId"),
        tags=properties.get("Tags"),
    )


def _history_item(alarm: Alarm, kind: str, summary: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "AlarmName": alarm.name,
        "AlarmType": "MetricAlarm" if alarm.rule is None else "CompositeAlarm",
        "Timestamp": datetime.now(UTC),
        "HistoryItemType": kind,
        "HistorySummary": summary,
        "HistoryData": json.dumps(data),
    }


def install() -> None:
    register(AlarmFromTemplate)

    original_init = Alarm.__init__

    def init(self: Alarm, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.state_value = "INSUFFICIENT_DATA"

    Alarm.__init__ = init  # type: ignore[method-assign]

    def update_state(self: Alarm, reason: str, reason_data: str, state_value: str) -> None:
        old = {"stateValue": self.state_value, "stateReason": self.state_reason}
        self.state_reason, self.state_reason_data, self.state_value = reason, reason_data or "{}", state_value
        self.state_updated_timestamp = datetime.now(UTC)
        new = {"stateValue": state_value, "stateReason": reason}
        if reason_data:
            new["stateReasonData"] = json.loads(reason_data)
        data = {"version": "1.0", "oldState": old, "newState": new}
        summary = f"Alarm updated from {old['stateValue']} to {state_value}"
        self.history.append(_history_item(self, "StateUpdate", summary, data))
        if old["stateValue"] != state_value:
            for listener in list(_listener):
                listener(self, old["stateValue"])

    Alarm.update_state = update_state  # type: ignore[method-assign]

    original_put = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm(self: CloudWatchBackend, name: str, *args: Any, **kwargs: Any) -> Alarm:
        existing = self.alarms.get(name)
        alarm = original_put(self, name, *args, **kwargs)
        if existing is not None and existing is not alarm:
            for attribute in ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp", "history"):
                setattr(alarm, attribute, getattr(existing, attribute))
            change = _history_item(alarm, "ConfigurationUpdate", f'Alarm "{name}" updated', {"type": "Update"})
            alarm.history.append(change)
        elif existing is None:
            change = _history_item(alarm, "ConfigurationUpdate", f'Alarm "{name}" created', {"type": "Create"})
            alarm.history.append(change)
        return alarm

    CloudWatchBackend.put_metric_alarm = put_metric_alarm  # type: ignore[method-assign]

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        limit = int(self._get_param("MaxRecords") or 100)
        alarms = self.cloudwatch_backend.alarms.values()
        items = [
            item
            for alarm in alarms
            if name in (None, alarm.name)
            for item in alarm.history
            if isinstance(item, dict) and kind in (None, item["HistoryItemType"])
        ]
        if start:
            items = [i for i in items if i["Timestamp"] >= _when(start)]
        if end:
            items = [i for i in items if i["Timestamp"] <= _when(end)]
        items.sort(key=lambda i: i["Timestamp"], reverse=self._get_param("ScanBy") != "TimestampAscending")
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
