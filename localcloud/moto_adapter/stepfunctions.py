"""Step Functions gaps (moto.stepfunctions), closed here:

1. State machines created by CloudFormation land in moto's non-executing Step Functions
   backend; they are created in the executing one (the ASL interpreter) instead.
   Test: test_the_deployed_state_machine_executes.
2. The interpreter's Retry waits really sleep: they go through a RetryClock, so tests can
   check a backoff schedule without waiting for it and the demo can shorten it.
   Test: test_the_retry_clock_records_waits_and_scales_them (and the retry schedules in
   tests/test_workflow.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.models import stepfunctions_parser_backends


@dataclass
class RetryClock:
    """Stands in for `time` in the ASL interpreter's retrier: records every retry wait and
    sleeps it multiplied by `scale` (1 = real time, 0 = no wait)."""

    scale: float = 1.0
    waits: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        if self.scale > 0:
            time.sleep(seconds * self.scale)

    def take(self) -> list[float]:
        with self._lock:
            waits, self.waits = self.waits, []
        return waits


class _ClockModule:
    """What the retrier calls `time`: only its `sleep` is used."""

    clock = RetryClock()

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)


_time = _ClockModule()


def use(clock: RetryClock) -> None:
    _ClockModule.clock = clock


def install() -> None:
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    retrier_decl.time = _time  # type: ignore[assignment]
