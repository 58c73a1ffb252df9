"""CloudWatch alarm evaluation, which moto does not do (it stores alarms and metric data only).

Every metric alarm in moto's CloudWatch (from the deployed templates or PutMetricAlarm) is
evaluated as CloudWatch evaluates it, once a minute in the background and whenever
`evaluate()` is called (`POST /_localcloud/alarms`, the tests' "evaluate now"):

- the last `EvaluationPeriods` periods of `Period` seconds, aligned to the period as
  CloudWatch aligns them; the period still in progress counts once it has a datapoint (until
  then CloudWatch waits for late data, so the evaluation ends at the last complete period);
- `Statistic` (SampleCount, Average, Sum, Minimum, Maximum) or `ExtendedStatistic` (pNN) over
  the datapoints of the metric with exactly the alarm's dimensions (and unit, if it names one);
- `DatapointsToAlarm` of them breaching (`ComparisonOperator` against `Threshold`) -> ALARM;
- `TreatMissingData`: missing (all missing -> INSUFFICIENT_DATA), notBreaching, breaching,
  ignore (all missing -> the state stays);
- a change of state records a StateUpdate history item with CloudWatch's reason texts and
  runs the new state's actions (AlarmActions, OKActions, InsufficientDataActions) if the
  alarm's actions are enabled: an SNS topic gets CloudWatch's JSON message, and an Action
  history item says whether it was delivered. As on AWS, a topic encrypted with the AWS
  managed key (alias/aws/sns) cannot be used: the action fails and the history says why.

Not evaluated: metric math alarms (`Metrics`), anomaly detection and composite alarms (they
go to INSUFFICIENT_DATA once, saying so); actions other than SNS topics (recorded as failed).
State changes made with SetAlarmState run the actions too, as on AWS.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .metrics import Metrics

LOG = logging.getLogger(__name__)

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
# The AWS managed key of SNS: its key policy lets only SNS use it, so CloudWatch cannot publish
# to a topic encrypted with it.
_SNS_MANAGED_KEY = "alias/aws/sns"
_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-north-1": "EU (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
}


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _stamp(epoch: float) -> str:
    """CloudWatch's timestamps in messages and reason data: 2024-05-01T10:15:00.000+0000."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _short(epoch: float) -> str:
    """How reason texts show a datapoint's time: 01/05/24 10:15:00."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%m/%y %H:%M:%S")


def _number(value: float) -> str:
    return repr(float(value))


class MetricIndex:
    """The datapoints of moto's CloudWatch, indexed by metric (namespace, name, dimensions) and
    sorted by time; read incrementally (moto's list only grows)."""

    def __init__(self) -> None:
        self._read: dict[int, int] = {}
        self._series: dict[tuple[Any, ...], list[tuple[float, int, Any]]] = {}
        self._serial = 0

    @staticmethod
    def key(namespace: str, name: str, dimensions: dict[str, str]) -> tuple[Any, ...]:
        return namespace, name, frozenset(dimensions.items())

    def refresh(self, backend: Any) -> None:
        start = self._read.get(id(backend), 0)
        data = backend.metric_data
        end = len(data)
        for datum in data[start:end]:
            dimensions = {d.name: d.value for d in datum.dimensions}
            series = self._series.setdefault(self.key(datum.namespace, datum.name, dimensions), [])
            self._serial += 1
            bisect.insort(series, (_epoch(datum.timestamp), self._serial, datum))
        self._read[id(backend)] = end

    def between(self, key: tuple[Any, ...], start: float, end: float) -> list[Any]:
        series = self._series.get(key, [])
        low = bisect.bisect_left(series, (start, -1, None))
        high = bisect.bisect_left(series, (end, -1, None))
        return [datum for _, _, datum in series[low:high]]


def statistic(datums: list[Any], name: str) -> tuple[float, float] | None:
    """(value, sample count) of a statistic over a period's datapoints, None without data."""
    raw = [float(d.value) for d in datums if hasattr(d, "value")]
    aggregated = [d for d in datums if not hasattr(d, "value")]
    count = len(raw) + sum(float(a.sample_count) for a in aggregated)
    if count == 0:
        return None
    total = sum(raw) + sum(float(a.sum) for a in aggregated)
    if name == "SampleCount":
        return count, count
    if name == "Sum":
        return total, count
    if name == "Average":
        return total / count, count
    if name == "Minimum":
        return min([*raw, *(float(a.min) for a in aggregated)]), count
    if name == "Maximum":
        return max([*raw, *(float(a.max) for a in aggregated)]), count
    if name.startswith("p") and raw:
        rank = max(1, math.ceil(float(name[1:]) / 100 * len(raw)))
        return sorted(raw)[rank - 1], count
    return None


@dataclass
class Verdict:
    state: str
    reason: str
    data: dict[str, Any]


@dataclass
class Window:
    start: float
    value: float | None
    samples: float = 0.0


def evaluate(alarm: Any, index: MetricIndex, at: float) -> Verdict | None:
    """What CloudWatch would decide for `alarm` at `at` (epoch seconds); None: keep the state."""
    if alarm.rule is not None or alarm.metric_data_queries or alarm.threshold_metric_id:
        reason = "localcloud does not evaluate metric math, anomaly detection or composite alarms"
        return Verdict("INSUFFICIENT_DATA", reason, {"version": "1.0"})
    compare, words = _COMPARISONS.get(alarm.comparison_operator, (None, ""))
    if compare is None:
        return Verdict("INSUFFICIENT_DATA", f"localcloud does not evaluate {alarm.comparison_operator}", {})
    period, periods = int(alarm.period), int(alarm.evaluation_periods)
    needed = int(alarm.datapoints_to_alarm or periods)
    stat_name = alarm.statistic or alarm.extended_statistic
    threshold = float(alarm.threshold)
    key = MetricIndex.key(alarm.namespace, alarm.metric_name, {d.name: d.value for d in alarm.dimensions})

    def window(start: float) -> Window:
        datums = [d for d in index.between(key, start, start + period) if not alarm.unit or d.unit == alarm.unit]
        found = statistic(datums, stat_name)
        return Window(start, *found) if found else Window(start, None)

    current = math.floor(at / period) * period
    latest = window(current)
    newest = current if latest.value is not None else current - period
    windows = [latest] if latest.value is not None else []
    windows += [window(newest - k * period) for k in range(len(windows), periods)]
    windows = windows[:periods]  # newest first
    present = [w for w in windows if w.value is not None]
    breaching = [w for w in present if compare(w.value, threshold)]  # type: ignore[arg-type]
    missing = periods - len(present)
    treat = alarm.treat_missing_data or "missing"
    data = {
        "version": "1.0",
        "queryDate": _stamp(at),
        "startDate": _stamp(windows[-1].start),
        "statistic": stat_name,
        "period": period,
        "recentDatapoints": [w.value for w in reversed(present)],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": _stamp(w.start), "sampleCount": w.samples, "value": w.value} for w in present
        ],
    }
    if not present and treat == "ignore":
        return None
    if not present and treat == "missing":
        return Verdict("INSUFFICIENT_DATA", _insufficient(periods), data)
    breaching_count = len(breaching) + (missing if treat == "breaching" else 0)
    shown = ", ".join(f"{_number(w.value)} ({_short(w.start)})" for w in present)  # type: ignore[arg-type]
    if breaching_count >= needed:
        state, verb = "ALARM", words
    else:
        state, verb = "OK", f"not {words}"
    return Verdict(state, _crossed(len(present), periods, missing, shown, verb, threshold, treat, needed), data)


def _insufficient(periods: int) -> str:
    many = "datapoints were" if periods > 1 else "datapoint was"
    return f"Insufficient Data: {periods} {many} unknown."


def _crossed(
    present: int, periods: int, missing: int, shown: str, verb: str, threshold: float, treat: str, needed: int
) -> str:
    if present == 0:
        treated = "Breaching" if treat == "breaching" else "NonBreaching"
        plural = "s" if missing > 1 else ""
        return (
            f"Threshold Crossed: no datapoints were received for {missing} period{plural} and {missing} "
            f"missing datapoint{plural} {'were' if missing > 1 else 'was'} treated as [{treated}]."
        )
    were = "were" if present > 1 else "was"
    if periods == 1:
        head = f"Threshold Crossed: 1 datapoint [{shown}] {were} {verb} the threshold ({_number(threshold)})"
    else:
        head = (
            f"Threshold Crossed: {present} out of the last {periods} datapoints [{shown}] {were} {verb} "
            f"the threshold ({_number(threshold)}) (minimum {needed} datapoint{'s' if needed > 1 else ''} "
            "for OK -> ALARM transition)"
        )
    return head + "."


@dataclass
class AlarmEvaluator:
    """Evaluates every alarm now and then (`interval` seconds, in a background thread once
    started) or when asked; `clock` is the time it evaluates at, so tests can move it."""

    metrics: Metrics | None = None
    clock: Callable[[], float] = time.time
    interval: float = 60.0
    index: MetricIndex = field(default_factory=MetricIndex)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def attach(self) -> None:
        """Runs the actions of every change of state from now on (SetAlarmState's too)."""
        from . import adapter as cloudwatch

        cloudwatch.on_state_change(self.run_actions)

    def start(self) -> None:
        """Evaluates every `interval` seconds in a background thread."""
        self._thread = threading.Thread(target=self._loop, name="localcloud-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.evaluate()
            except Exception:  # one bad alarm must not stop the others being evaluated next time
                LOG.exception("alarm evaluation failed")

    def evaluate(self, at: float | None = None) -> list[dict[str, str]]:
        """Evaluates every alarm at `at` (epoch seconds, default: now); returns the changes."""
        from moto.cloudwatch.models import cloudwatch_backends

        moment = self.clock() if at is None else at
        changes = []
        with self._lock:
            if self.metrics:
                self.metrics.sample_queues()
            for regions in list(cloudwatch_backends.values()):
                for backend in list(regions.values()):
                    self.index.refresh(backend)
                    for alarm in list(backend.alarms.values()):
                        verdict = evaluate(alarm, self.index, moment)
                        if verdict is None or verdict.state == alarm.state_value:
                            continue
                        old = alarm.state_value
                        alarm.update_state(verdict.reason, json.dumps(verdict.data), verdict.state)
                        changes.append({"alarm": alarm.name, "from": old, "to": verdict.state})
        return changes

    # -- actions ------------------------------------------------------------------------
    def run_actions(self, alarm: Any, old_state: str) -> None:
        """Called on every change of state (evaluation or SetAlarmState): the new state's actions."""
        if not alarm.actions_enabled:
            return
        actions = {
            "ALARM": alarm.alarm_actions,
            "OK": alarm.ok_actions,
            "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
        }.get(alarm.state_value, [])
        for arn in actions or []:
            error = self._publish(alarm, old_state, arn) if ":sns:" in arn else "localcloud runs SNS actions only"
            summary = f"Successfully executed action {arn}" if error is None else f"Failed to execute action {arn}"
            details: dict[str, Any] = {"actionState": "Succeeded" if error is None else "Failed"}
            if error:
                details["error"] = error
            alarm.history.append(
                {
                    "AlarmName": alarm.name,
                    "AlarmType": "MetricAlarm",
                    "Timestamp": datetime.now(UTC),
                    "HistoryItemType": "Action",
                    "HistorySummary": summary if error is None else f"{summary}. Received error: {error}",
                    "HistoryData": json.dumps(details),
                }
            )

    def _publish(self, alarm: Any, old_state: str, topic_arn: str) -> str | None:
        from moto.sns.models import sns_backends

        account, region = topic_arn.split(":")[4], topic_arn.split(":")[3]
        topic = sns_backends[account][region].topics.get(topic_arn)
        if topic is None:
            return f"Topic {topic_arn} does not exist"
        key = str(getattr(topic, "kms_master_key_id", "") or "")
        if key == _SNS_MANAGED_KEY or key.endswith(":" + _SNS_MANAGED_KEY):
            return "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
        place = _REGION_NAMES.get(alarm.region_name, alarm.region_name)
        subject = f'{alarm.state_value}: "{alarm.name}" in {place}'
        if len(subject) > 100:
            subject = subject[:97] + "..."
        sns_backends[account][region].publish(message(alarm, old_state), arn=topic_arn, subject=subject)
        return None


def message(alarm: Any, old_state: str) -> str:
    """The JSON document CloudWatch publishes to an SNS topic when an alarm changes state."""
    return json.dumps(
        {
            "AlarmName": alarm.name,
            "AlarmDescription": alarm.description,
            "AWSAccountId": alarm.alarm_arn.split(":")[4],
            "AlarmConfigurationUpdatedTimestamp": _stamp(_epoch(alarm.configuration_updated_timestamp)),
            "NewStateValue": alarm.state_value,
            "NewStateReason": alarm.state_reason,
            "StateChangeTime": _stamp(_epoch(alarm.state_updated_timestamp)),
            "Region": _REGION_NAMES.get(alarm.region_name, alarm.region_name),
            "AlarmArn": alarm.alarm_arn,
            "OldStateValue": old_state,
            "OKActions": list(alarm.ok_actions or []),
            "AlarmActions": list(alarm.alarm_actions or []),
            "InsufficientDataActions": list(alarm.insufficient_data_actions or []),
            "Trigger": {
                "MetricName": alarm.metric_name,
                "Namespace": alarm.namespace,
                "StatisticType": "Statistic" if alarm.statistic else "ExtendedStatistic",
                "Statistic": (alarm.statistic or "").upper() or None,
                "ExtendedStatistic": alarm.extended_statistic,
                "Unit": alarm.unit,
                "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
                "Period": int(alarm.period),
                "EvaluationPeriods": int(alarm.evaluation_periods),
                "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
                "ComparisonOperator": alarm.comparison_operator,
                "Threshold": float(alarm.threshold),
                "TreatMissingData": alarm.treat_missing_data or "missing",
                "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
            },
        }
    )
