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
5. A state machine created from a template loses its type (EXPRESS) and its
   LoggingConfiguration; both are kept. Test: test_express_runs_log_their_history
   (tests/test_workflow_express.py).
6. The interpreter writes no execution logs. Each execution's history is delivered to the
   state machine's log group(s) as Step Functions writes it (one JSON record per event:
   id, type, details, previous_event_id, event_timestamp, execution_arn), filtered by the
   logging level (ALL, ERROR, FATAL, OFF) and without input/output unless
   includeExecutionData; delivered when the execution ends (AWS: within seconds of each
   event). Test: test_express_runs_log_their_history.
7. Express executions as on AWS: ARNs `...:express:<machine>:<name>:<id>`; StartExecution is
   not idempotent by name (each call starts a run: at-least-once starts); ListExecutions
   answers StateMachineTypeNotSupported, DescribeExecution and GetExecutionHistory InvalidArn
   (moto answered all three). Tests: test_express_executions_are_not_listed_or_described,
   test_an_express_upload_run_twice_at_once_is_recorded_once.
8. Speed, not a gap: the interpreter parsed the definition again for every execution (ANTLR,
   ~60 ms of CPU: a fifth of the local cloud's CPU time in a batch of photos). The parsed
   program is kept per definition text and shared: its components keep no state of an
   execution (that lives in each execution's environment), and the only value they set
   lazily, the key of their scratch space in that environment, is set before sharing.
   Tests: every workflow test (50 concurrent uploads in test_workflow.py).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.exceptions import AWSError
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.exceptions import InvalidArn
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend import execution as parser_execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends

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


def use(clock: RetryClock, iam: Any = None) -> None:
    """The retry clock, and the local cloud's IAM (localcloud.iam.Iam) that issues role credentials."""
    _ClockModule.clock = clock
    _iam[0] = iam


_clients: dict[tuple[str, str, str | None, int], Any] = {}
_clients_lock = threading.Lock()


def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's boto_client_for, signed as the state machine's role when IAM is enforced. Clients
    are made once per region, service and credentials and reused (moto made one per Task call,
    and making a client costs far more CPU than the call)."""
    credentials = None
    if _iam[0] is not None and state_credentials is not None:
        credentials = _iam[0].state_machine_credentials(state_credentials.role_arn, region)
    from moto.settings import moto_server_port

    key = (region, service, credentials.access_key if credentials else None, moto_server_port())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(region, service, state_credentials, credentials)
    return client


def _new_client(region: str, service: str, state_credentials: Any, credentials: Any) -> Any:
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

EXPRESS = "EXPRESS"
# Which history events each logging level delivers.
_FATAL = {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
_ERROR_SUFFIXES = ("Failed", "TimedOut", "Aborted")


class StateMachineTypeNotSupported(AWSError):
    TYPE = "StateMachineTypeNotSupported"
    STATUS = 400


def logging_configuration(template: dict[str, Any] | None) -> dict[str, Any] | None:
    """A template's LoggingConfiguration in the API's shape."""
    if not template:
        return None
    return {
        "level": template.get("Level", "OFF"),
        "includeExecutionData": bool(template.get("IncludeExecutionData", False)),
        "destinations": [
            {"cloudWatchLogsLogGroup": {"logGroupArn": d.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn")}}
            for d in template.get("Destinations", [])
        ],
    }


def logged(level: str, event_type: str) -> bool:
    if level == "ALL":
        return True
    if level == "ERROR":
        return event_type.endswith(_ERROR_SUFFIXES) or event_type in _FATAL
    return level == "FATAL" and event_type in _FATAL


def _epoch_ms(timestamp: Any) -> int:
    """The interpreter keeps event times as ISO 8601 text; the API turns them into datetimes."""
    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return int(timestamp.timestamp() * 1000)


def log_record(event: dict[str, Any], execution_arn: str, include_data: bool) -> dict[str, Any]:
    """One history event as Step Functions writes it to CloudWatch Logs."""
    details = next((v for k, v in event.items() if k.endswith("EventDetails")), None) or {}
    if not include_data:
        details = {k: v for k, v in details.items() if k not in ("input", "output", "inputDetails", "outputDetails")}
    return {
        "id": str(event["id"]),
        "type": event["type"],
        "details": details,
        "previous_event_id": str(event.get("previousEventId", 0)),
        "event_timestamp": str(_epoch_ms(event["timestamp"])),
        "execution_arn": execution_arn,
        "redrive_count": "0",
    }


def deliver_logs(execution: Any) -> None:
    """Writes an ended execution's history to its state machine's log groups."""
    config = getattr(execution.state_machine, "loggingConfiguration", None) or {}
    level = config.get("level", "OFF")
    if level == "OFF" or execution.exec_worker is None or execution.exec_worker.env is None:
        return
    events = execution.exec_worker.env.event_manager.get_event_history()
    records = [
        {
            "timestamp": _epoch_ms(event["timestamp"]),
            "message": json.dumps(log_record(event, execution.exec_arn, config.get("includeExecutionData", False))),
        }
        for event in events
        if logged(level, event["type"])
    ]
    if not records:
        return
    from moto.logs.models import logs_backends

    backend = logs_backends[execution.account_id][execution.region_name]
    stream = f"states/{execution.state_machine.name}/{time.strftime('%Y-%m-%d')}/{execution.exec_arn.split(':')[-1]}"
    for destination in config.get("destinations", []):
        arn = (destination.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn") or ""
        group = arn.split(":log-group:", 1)[-1].removesuffix(":*")
        if group not in backend.groups:
            continue  # as on AWS: no group, no delivery
        if stream not in backend.groups[group].streams:
            backend.create_log_stream(group, stream)
        backend.put_log_events(group, stream, records)


def _express(machine: Any) -> bool:
    return getattr(machine, "type", "STANDARD") == EXPRESS


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
        return failure

    StateTaskLambda._from_error = lambda_task_error  # type: ignore[method-assign]

    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, *rest: Any, **kw: Any
    ) -> Any:
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), *rest, **kw)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    install_express()
    install_program_cache()


def _prime(component: Any, seen: set[int]) -> None:
    """Sets every component's lazily made heap key now, before executions share the program."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    values = vars(component).values() if isinstance(component, Component) else component
    for value in values:
        if isinstance(value, Component | list | tuple):
            _prime(value, seen)
        elif isinstance(value, dict):
            _prime(list(value.values()), seen)


def install_program_cache() -> None:
    """Gap 8: one parsed program per definition."""
    from functools import lru_cache

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    @lru_cache(maxsize=64)
    def program(definition: str) -> Any:
        parsed = AmazonStateLanguageParser.parse(definition)[0]
        _prime(parsed, set())
        return parsed

    def entrypoint(self: ExecutionWorker) -> Any:
        return program(self._evaluation_details.state_machine_details.definition)

    ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]


def install_express() -> None:
    """Gaps 5-7: Express workflows and execution logs."""
    from . import cloudformation

    def keep_type_and_logging(machine: Any, properties: dict[str, Any], account_id: str) -> None:
        machine.type = properties.get("StateMachineType", "STANDARD")
        if properties.get("LoggingConfiguration"):
            machine.loggingConfiguration = logging_configuration(properties["LoggingConfiguration"])

    cloudformation.extend_create(sfn_models.StateMachine, after=keep_type_and_logging)
    original_update = sfn_models.StateMachine.update_from_cloudformation_json.__func__

    def update(cls: type, *args: Any, **kw: Any) -> Any:
        template = kw["cloudformation_json"] if "cloudformation_json" in kw else args[2]
        machine = original_update(cls, *args, **kw)
        keep_type_and_logging(machine, template.get("Properties", {}), "")
        return machine

    sfn_models.StateMachine.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign]

    original_terminated = parser_execution.BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original_terminated(self)
        try:
            deliver_logs(self.execution)
        except Exception as error:  # a delivery failure must not hide the execution's end
            print(f"localcloud: could not deliver the logs of {self.execution.exec_arn}: {error!r}", file=sys.stderr)

    parser_execution.BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]

    original_init = parser_execution.Execution.__init__

    def init(self: Any, *args: Any, **kw: Any) -> None:
        original_init(self, *args, **kw)
        if _express(self.state_machine):
            # started as NAME:ID (see start_execution): an express ARN, and the name alone
            self.name = self.name.rsplit(":", 1)[0]
            self.exec_arn = self.execution_arn = self.exec_arn.replace(":execution:", ":express:", 1)

    parser_execution.Execution.__init__ = init  # type: ignore[method-assign]

    started = StepFunctionsParserBackend.start_execution

    def start_execution(self: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, *rest: Any) -> Any:
        if _express(self.describe_state_machine(state_machine_arn)):
            # Not idempotent by name: every start is a run of its own, told apart by an id.
            name = f"{name or uuid.uuid4()}:{uuid.uuid4()}"
        return started(self, state_machine_arn, name, *rest)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]

    def refuse_express(operation: str) -> None:
        original = getattr(StepFunctionsParserBackend, operation)

        def refused(self: StepFunctionsParserBackend, execution_arn: str, *rest: Any, **kw: Any) -> Any:
            if ":express:" in execution_arn:
                raise InvalidArn("Invalid Arn: 'Resource type not valid in this context: express'")
            return original(self, execution_arn, *rest, **kw)

        setattr(StepFunctionsParserBackend, operation, refused)

    for operation in ("describe_execution", "get_execution_history", "stop_execution"):
        refuse_express(operation)

    listed = StepFunctionsParserBackend.list_executions

    def list_executions(self: StepFunctionsParserBackend, state_machine_arn: str, *rest: Any, **kw: Any) -> Any:
        if _express(self.describe_state_machine(state_machine_arn)):
            raise StateMachineTypeNotSupported("This operation is not supported by this type of state machine")
        return listed(self, state_machine_arn, *rest, **kw)

    StepFunctionsParserBackend.list_executions = list_executions  # type: ignore[method-assign]
