"""The local cloud fires schedules (localcloud/services/events/scheduler.py): moto keeps EventBridge rules and
Scheduler schedules but never fires them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from localcloud.services.events.scheduler import Schedule, ScheduleError, Scheduler, next_time
from tests.test_workflow import control

T0 = datetime(2026, 1, 1, 12, 3, 20, tzinfo=UTC)  # a Thursday


def test_rate_schedules_fire_one_period_after_they_start_and_every_period_after():
    assert next_time("rate(10 minutes)", T0, T0) == T0 + timedelta(minutes=10)
    assert next_time("rate(10 minutes)", T0 + timedelta(minutes=10), T0) == T0 + timedelta(minutes=20)
    assert next_time("rate(1 hour)", T0 + timedelta(minutes=59), T0) == T0 + timedelta(hours=1)
    assert next_time("rate(2 days)", T0, T0) == T0 + timedelta(days=2)


@pytest.mark.parametrize("wrong", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "every 5 minutes"])
def test_rate_expressions_eventbridge_refuses_are_refused(wrong):
    with pytest.raises(ScheduleError):
        next_time(wrong, T0, T0)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0/10 * * * ? *)", datetime(2026, 1, 1, 12, 10, tzinfo=UTC)),
        ("cron(15 10 ? * MON-FRI *)", datetime(2026, 1, 2, 10, 15, tzinfo=UTC)),
        ("cron(0 18 L * ? *)", datetime(2026, 1, 31, 18, 0, tzinfo=UTC)),
        ("cron(0 10 ? * 6#3 *)", datetime(2026, 1, 16, 10, 0, tzinfo=UTC)),  # AWS: 6 = Friday
        ("cron(0 8 1W * ? *)", datetime(2026, 2, 2, 8, 0, tzinfo=UTC)),  # 1 Feb is a Sunday
    ],
)
def test_aws_cron_expressions_fire_at_their_next_time(expression, expected):
    assert next_time(expression, T0, T0) == expected


def test_cron_in_a_time_zone_and_cron_eventbridge_refuses():
    # 09:00 in New York is 14:00 UTC in winter
    assert next_time("cron(0 9 * * ? *)", T0, T0, "America/New_York") == datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
    for wrong in ("cron(0 9 * * * *)", "cron(0 9 ? * ? *)", "cron(0 9 * *)"):
        with pytest.raises(ScheduleError):
            next_time(wrong, T0, T0)


def schedule(name: str, expression: str, target: str = "arn:aws:lambda:us-east-1:123456789012:function:f") -> Schedule:
    return Schedule("rule", name, f"arn:aws:events:us-east-1:123456789012:rule/{name}", expression, True,
                    [{"Arn": target}], "123456789012", "us-east-1")  # fmt: skip


def test_a_due_schedule_fires_once_with_eventbridges_scheduled_event():
    fired = []
    every_ten = schedule("ten", "rate(10 minutes)")
    scheduler = Scheduler(lambda *args: fired.append(args), source=lambda: [every_ten])
    scheduler.scan(T0)
    assert scheduler.tick(T0 + timedelta(minutes=9)) == [] and fired == []
    assert len(scheduler.tick(T0 + timedelta(minutes=10))) == 1
    assert scheduler.tick(T0 + timedelta(minutes=10, seconds=30)) == []  # not twice for one time
    account, region, arn, event, _ = fired[0]
    assert (account, region, arn) == ("123456789012", "us-east-1", "arn:aws:lambda:us-east-1:123456789012:function:f")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [every_ten.arn] and event["time"] == "2026-01-01T12:13:20Z"
    every_ten.enabled = False
    assert scheduler.tick(T0 + timedelta(minutes=20)) == []


def test_only_lambda_targets_are_sent():
    fired = []
    queue = schedule("q", "rate(1 minute)", target="arn:aws:sqs:us-east-1:123456789012:q")
    scheduler = Scheduler(lambda *args: fired.append(args), source=lambda: [queue])
    [result] = scheduler.fire(queue, T0)
    assert fired == [] and "only Lambda targets" in result["error"]


# -- in the deployed stack ---------------------------------------------------------------------


def test_the_stacks_schedule_is_found_and_fired_on_request(cloud, stack):
    """The reconcile function's rule, from the template, is listed with its next time and can
    be fired now; the function runs asynchronously and its result comes back."""
    listed = control(cloud, "schedules")["schedules"]
    [rule] = [
        s for s in listed if s["targets"] == [f"arn:aws:lambda:us-east-1:123456789012:function:{stack.name}-reconcile"]
    ]
    assert rule["kind"] == "rule" and rule["expression"] == "rate(10 minutes)" and rule["enabled"]
    assert datetime.fromisoformat(rule["next"]) > datetime.now(UTC)
    [fired] = control(cloud, "schedules/fire", {"name": rule["name"], "wait": 120}, "POST")["fired"]
    assert fired["errored"] is False and "candidates" in fired["result"], fired


def test_a_scheduler_schedule_made_through_the_api_fires_too(cloud, stack):
    client = boto3.client("scheduler")
    name = f"fire-{stack.name}"
    function = f"arn:aws:lambda:us-east-1:123456789012:function:{stack.name}-reconcile"
    role = "arn:aws:iam::123456789012:role/scheduler"
    client.create_schedule(
        Name=name,
        ScheduleExpression="cron(0 3 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": function, "RoleArn": role, "Input": json.dumps({"olderThanMinutes": 60})},
    )
    try:
        [found] = [s for s in control(cloud, "schedules")["schedules"] if s["name"] == name]
        assert datetime.fromisoformat(found["next"]).hour == 3
        [fired] = control(cloud, "schedules/fire", {"name": name, "wait": 120}, "POST")["fired"]
        assert fired["errored"] is False and "candidates" in fired["result"]
    finally:
        client.delete_schedule(Name=name)
    missing = control_error(cloud, "schedules/fire", {"name": "no-such-schedule"})
    assert "no schedule named 'no-such-schedule'" in missing["error"]


def control_error(cloud, route: str, body: dict) -> dict:
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as raised:
        control(cloud, route, body, "POST")
    return json.loads(raised.value.read())
