"""Schedules in the local cloud: moto keeps EventBridge rules with a ScheduleExpression (created
by CloudFormation too) and EventBridge Scheduler schedules, but never fires either. This fires
them at their times, `rate(...)` and `cron(...)` alike, to their Lambda targets, asynchronously
as EventBridge invokes a function (so the function's retries and destinations apply), with the
event EventBridge sends: a rule's "Scheduled Event" (or the target's Input), a schedule's Input.

A rate schedule first fires one period after it was found (EventBridge: after it is created);
cron expressions are AWS's six fields (minutes hours day-of-month month day-of-week year, `?`,
`L`, `W`, `#`, days 1-7 = SUN-SAT), in UTC for rules and in the schedule's time zone for
Scheduler schedules, evaluated by pyawscron. Disabled rules and schedules do not fire.

Tests and users need not wait: `fire(name)` fires one now (`/_localcloud/schedules` lists and
fires, `python -m localcloud schedule [FUNCTION]`), and a cloud started with
`fire_schedules=False` (the test session) only fires on request.
Not emulated: targets other than Lambda functions (reported, not sent), flexible time windows,
one-time `at(...)` schedules, Scheduler's own retry policy and dead-letter queue.
Tests: tests/test_scheduler.py.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
# Checked at least this often for schedules created, changed or deleted meanwhile.
_RESCAN_SECONDS = 5.0
LOG = logging.getLogger(__name__)


class ScheduleError(ValueError):
    """A schedule expression EventBridge would refuse, or a schedule that cannot be found."""


def next_time(expression: str, after: datetime, anchor: datetime, timezone: str = "UTC") -> datetime | None:
    """When a schedule fires next, strictly after `after` (UTC); `anchor` is when a rate
    schedule started. None for expressions that do not repeat (`at(...)`)."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1 or (count == 1) != (not rate.group(2).endswith("s")):
            raise ScheduleError(f"{expression}: EventBridge wants 'rate(1 {unit})' or 'rate(N {unit}s)', N > 1")
        period = count * _UNITS[unit]
        elapsed = max(0.0, (after - anchor).total_seconds())
        return anchor + timedelta(seconds=(int(elapsed // period) + 1) * period)
    if expression.startswith("cron(") and expression.endswith(")"):
        return _next_cron(expression[5:-1], after, timezone)
    if expression.startswith("at("):
        return None
    raise ScheduleError(f"{expression}: not a schedule expression (rate(...) or cron(...))")


def _next_cron(fields: str, after: datetime, timezone: str) -> datetime:
    from pyawscron import AWSCron

    parts = fields.split()
    if len(parts) != 6:
        raise ScheduleError(f"cron({fields}): AWS cron expressions have 6 fields")
    if (parts[2] == "?") == (parts[4] == "?"):
        raise ScheduleError(f"cron({fields}): one of day-of-month and day-of-week must be '?'")
    # pyawscron counts in UTC: give it the zone's wall-clock time, and read its answer the same way.
    zone = ZoneInfo(timezone)
    wall = after.astimezone(zone).replace(tzinfo=UTC)
    try:
        found: datetime | None = AWSCron(fields).occurrence(wall).next()
    except (ValueError, IndexError, KeyError) as error:
        raise ScheduleError(f"cron({fields}): {error}") from None
    if found is None:
        raise ScheduleError(f"cron({fields}) never fires again")
    return found.replace(tzinfo=zone).astimezone(UTC)


@dataclass
class Schedule:
    """A rule with a schedule expression, or an EventBridge Scheduler schedule."""

    kind: str  # "rule" | "schedule"
    name: str
    arn: str
    expression: str
    enabled: bool
    targets: list[dict[str, Any]]  # Arn and, optionally, Input
    account: str
    region: str
    timezone: str = "UTC"
    found: datetime = field(default_factory=lambda: datetime.now(UTC))

    def functions(self) -> list[str]:
        return [t["Arn"] for t in self.targets if ":lambda:" in t["Arn"] and ":function:" in t["Arn"]]

    def event(self, now: datetime, target: dict[str, Any]) -> Any:
        if target.get("Input"):
            return json.loads(target["Input"])
        if self.kind == "schedule":
            return {}
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [self.arn],
            "detail": {},
        }

    def describe(self, next_fire: datetime | None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "expression": self.expression,
            "enabled": self.enabled,
            "targets": [t["Arn"] for t in self.targets],
            "next": next_fire.isoformat() if next_fire else None,
        }


def _from_moto() -> list[Schedule]:
    """Every schedule moto holds, in every account and region."""
    from moto.events.models import events_backends
    from moto.scheduler.models import scheduler_backends

    found: list[Schedule] = []
    for account, regions in list(events_backends.items()):
        for region, events_backend in list(regions.items()):
            rules = [rule for bus in list(events_backend.event_buses.values()) for rule in list(bus.rules.values())]
            found += [_rule(rule, account, region) for rule in rules if rule.scheduled_expression]
    for account, scheduler_regions in list(scheduler_backends.items()):
        for region, scheduler_backend in list(scheduler_regions.items()):
            groups = list(scheduler_backend.schedule_groups.values())
            items = [item for group in groups for item in list(group.schedules.values())]
            found += [_schedule(item, account, region) for item in items]
    return found


def _rule(rule: Any, account: str, region: str) -> Schedule:
    targets = [{"Arn": t["Arn"], "Input": t.get("Input")} for t in rule.targets]
    enabled = rule.state == "ENABLED"
    return Schedule("rule", rule.name, rule.arn, rule.scheduled_expression, enabled, targets, account, region)


def _schedule(item: Any, account: str, region: str) -> Schedule:
    target = {"Arn": item.target["Arn"], "Input": item.target.get("Input")}
    zone = item.schedule_expression_timezone or "UTC"
    enabled = item.state == "ENABLED"
    return Schedule("schedule", item.name, item.arn, item.schedule_expression, enabled, [target], account, region, zone)


Fire = Callable[[str, str, str, Any, Callable[[Any], None] | None], None]
# One entry per target fired (its schedule, target, time, and result or error). Named here: in
# Scheduler's body after its `list` method, `list[...]` would name that method.
FiredTargets = list[dict[str, Any]]


class Scheduler:
    """Fires the schedules of the local cloud. `invoke(account, region, function_arn, event,
    done)` queues an asynchronous invocation and calls `done(invocation)` when it has ended."""

    def __init__(self, invoke: Fire, source: Callable[[], list[Schedule]] = _from_moto) -> None:
        self.invoke = invoke
        self.source = source
        self._known: dict[str, Schedule] = {}
        self._next: dict[str, datetime | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what there is ----------------------------------------------------------------------
    def scan(self, now: datetime) -> list[Schedule]:
        """The schedules there are now (new ones get their first time, changed ones a new one)."""
        current = {s.arn: s for s in self.source()}
        with self._lock:
            for arn in list(self._known):
                if arn not in current:
                    del self._known[arn], self._next[arn]
            for arn, schedule in current.items():
                known = self._known.get(arn)
                if known is None or known.expression != schedule.expression or known.timezone != schedule.timezone:
                    schedule.found = now if known is None else known.found
                    self._known[arn] = schedule
                    self._next[arn] = self._safe_next(schedule, now)
                else:
                    known.enabled, known.targets = schedule.enabled, schedule.targets
            return list(self._known.values())

    def _safe_next(self, schedule: Schedule, after: datetime) -> datetime | None:
        try:
            return next_time(schedule.expression, after, schedule.found, schedule.timezone)
        except ScheduleError:
            return None  # EventBridge would have refused it; it never fires here

    def list(self, now: datetime | None = None) -> list[dict[str, Any]]:
        now = now or datetime.now(UTC)
        # The next time from now (a cloud that fires only on request never moves its own on).
        return [s.describe(self._safe_next(s, now) if s.enabled else None) for s in self.scan(now)]

    def find(self, name: str) -> Schedule:
        """A schedule by its name, or by the function it targets (its full name, or the part
        after the stack's `<service>-<stage>-`)."""
        schedules = self.scan(datetime.now(UTC))
        exact = [s for s in schedules if s.name == name]

        def targets(schedule: Schedule) -> bool:
            return any(arn.rsplit(":", 1)[-1] == name or arn.endswith(f"-{name}") for arn in schedule.functions())

        matches = exact or [s for s in schedules if targets(s)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(sorted(s.name for s in schedules)) or "none"
            raise ScheduleError(f"no schedule named {name!r} or targeting a function of that name (schedules: {known})")
        raise ScheduleError(f"{len(matches)} schedules match {name!r}: name the function in full")

    # -- firing -----------------------------------------------------------------------------
    def fire(self, schedule: Schedule, now: datetime, wait: float | None = None) -> FiredTargets:
        """Sends the schedule's event to each Lambda target now; with `wait`, waits up to that
        many seconds for each invocation to end and returns what each returned."""
        results: FiredTargets = []
        done_events = []
        for target in schedule.targets:
            arn = target["Arn"]
            entry: dict[str, Any] = {"schedule": schedule.name, "target": arn, "time": now.isoformat()}
            results.append(entry)
            if arn not in schedule.functions():
                entry["error"] = "only Lambda targets are emulated locally"
                continue
            finished = threading.Event()

            def done(invocation: Any, entry: dict[str, Any] = entry, finished: threading.Event = finished) -> None:
                entry["errored"] = invocation.errored
                try:
                    entry["result"] = json.loads(invocation.payload)
                except ValueError:
                    entry["result"] = invocation.payload
                finished.set()

            self.invoke(schedule.account, schedule.region, arn, schedule.event(now, target), done)
            done_events.append((entry, finished))
        if wait is not None:
            for entry, finished in done_events:
                if not finished.wait(wait):
                    entry["error"] = f"still running after {wait:g} s"
        return results

    def tick(self, now: datetime) -> FiredTargets:
        """Fires every schedule that is due at `now`; returns what was fired."""
        fired: FiredTargets = []
        for schedule in self.scan(now):
            with self._lock:
                due = self._next.get(schedule.arn)
                if due is None or due > now:
                    continue
                self._next[schedule.arn] = self._safe_next(schedule, now)
            if schedule.enabled:
                fired += self.fire(schedule, now)
        return fired

    # -- in real time -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="localcloud-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            try:
                self.tick(now)
            except Exception:  # a broken schedule must not stop the others
                LOG.exception("firing the schedules due at %s failed", now.isoformat())
            with self._lock:
                upcoming = [t for t in self._next.values() if t is not None]
            pause = min([(t - datetime.now(UTC)).total_seconds() for t in upcoming] + [_RESCAN_SECONDS])
            self._stop.wait(max(0.05, pause))
