"""EventBridge, emulated: schedules fired at their times (moto keeps rules and schedules only).

    scheduler.py     rules' ScheduleExpression and Scheduler schedules, rate and cron, fired
                     asynchronously at Lambda targets with EventBridge's event

Differs from AWS (tests/test_scheduler.py): only Lambda targets; no flexible time windows,
one-time `at(...)` schedules, or Scheduler's own retry policy and dead-letter queue.
"""
