"""Step Functions gaps (moto.stepfunctions), closed here:

1. State machines created by CloudFormation land in moto's non-executing Step Functions
   backend; they are created in the executing one (the ASL interpreter) instead.
   Test: test_the_deployed_state_machine_executes.
2. The interpreter's Retry waits really sleep: they go through a RetryClock, so tests can
   check a backoff schedule without waiting for it and the demo can shorten it.
   Test: test_the_retry_clock_records_waits_and_scales_them (and the retry schedules in
   tests/test_workflow.py).
3. The interpreter calls its Task integrations (Lambda, SNS, DynamoDB, ...) through the local
   endpoint with fixed fake keys; it calls them with credentials of the state machine's role
   instead (localcloud/iam), so each call is checked against that role as on AWS. A Task whose
   Lambda invocation is denied fails with `Lambda.AWSLambdaException` and AWS's cause text (moto
   names every Lambda API error `Exception`); a denied sns:Publish fails with
   `SNS.AuthorizationErrorException`.
   Tests: test_the_state_machine_role_is_checked_for_each_lambda_task and
   test_the_state_machine_role_is_checked_for_sns_publish (tests/test_iam_enforcement.py).
4. StartExecution without a name: AWS names the execution with a UUID; moto names it None
   (ListExecutions then has no name, and a second unnamed start fails with
   ExecutionAlreadyExists). A UUID name is given.
   Test: test_the_deployed_state_machine_executes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

LOG = logging.getLogger(__name__)

# Where the interpreter creates its service clients (each module imported the function by name).
_CLIENT_MODULES = [
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    *(
        f"moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_{name}"
        for name in ("aws_sdk", "batch", "dynamodb", "ecs", "events", "glue", "sfn", "sns", "sqs", "unsupported")
    ),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
]


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
_iam: list[Any] = [None]
_execution_listener: list[Callable[[str, Any], None]] = []


def observe_executions(listener: Callable[[str, Any], None]) -> None:
    """`listener(event, execution)` as executions start ("started"), are redriven ("redriven")
    and end ("ended"): the running local cloud's metrics (one listener)."""
    _execution_listener[:] = [listener]


def _tell(event: str, execution: Any) -> None:
    for listener in list(_execution_listener):
        try:
            listener(event, execution)
        except Exception:  # metrics must never break an execution
            LOG.exception("execution listener failed")


def use(clock: RetryClock, iam: Any = None) -> None:
    """The retry clock, and the local cloud's IAM (localcloud.iam.Iam) that issues role credentials."""
    _ClockModule.clock = clock
    _iam[0] = iam


def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's boto_client_for, signed as the state machine's role when IAM is enforced."""
    credentials = None
    if _iam[0] is not None and state_credentials is not None:
        credentials = _iam[0].state_machine_credentials(state_credentials.role_arn, region)
    if credentials is None:
        return _original_client_for(region=region, service=service, state_credentials=state_credentials)
    from moto.settings import moto_server_port

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=f"http://localhost:{moto_server_port()}",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.session_token,
        config=Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1}),
    )


_original_client_for = boto_client.boto_client_for


def install() -> None:
    import importlib

    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]
    retrier_decl.time = _time  # type: ignore[assignment]
    for name in _CLIENT_MODULES:
        importlib.import_module(name).boto_client_for = client_for

    original_from_error = StateTaskLambda._from_error

    def lambda_task_error(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
        failure = original_from_error(self, env, ex)
        if isinstance(ex, ClientError) and ex.response["ResponseMetadata"].get("HTTPStatusCode") == 403:
            error = ex.response["Error"]
            cause = (
                f"{error.get('Message', '')} (Service: AWSLambda; Status Code: 403; Error Code: {error.get('Code')}; "
                f"Request ID: {ex.response['ResponseMetadata'].get('RequestId', '')}; Proxy: null)"
            )
            details = failure.event_details["lambdaFunctionFailedEventDetails"]
            details["error"], details["cause"] = "Lambda.AWSLambdaException", cause
            failure.error_name = CustomErrorName("Lambda.AWSLambdaException")
        if isinstance(ex, ClientError) and ex.response["Error"].get("Code") == "TooManyRequestsException":
            error = ex.response["Error"]
            request = ex.response["ResponseMetadata"].get("RequestId", "")
            cause = (
                f"{error.get('Message', '')} (Service: AWSLambda; Status Code: 429; Error Code: "
                f"TooManyRequestsException; Request ID: {request}; Proxy: null)"
            )
            details = failure.event_details["lambdaFunctionFailedEventDetails"]
            details["error"], details["cause"] = "Lambda.TooManyRequestsException", cause
            failure.error_name = CustomErrorName("Lambda.TooManyRequestsException")
        return failure

    StateTaskLambda._from_error = lambda_task_error  # type: ignore[method-assign]

    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, *rest: Any, **kw: Any
    ) -> Any:
        known = {id(e) for m in self.state_machines for e in m.executions}
        execution = original_start(self, state_machine_arn, name or str(uuid.uuid4()), *rest, **kw)
        if id(execution) not in known:  # not an idempotent repeat of a running execution
            _tell("started", execution)
        return execution

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]

    original_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original_terminated(self)
        _tell("ended", self.execution)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
