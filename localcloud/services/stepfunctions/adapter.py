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
   instead (localcloud/services/iam), so each call is checked against that role as on AWS. A Task whose
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
9. Every `states:startExecution` Task (plain, `.sync`, `.sync:2`) failed with States.Runtime
   `'StateMachineArn'`: moto's interpreter never turns the ASL parameter names into the API's
   (`StateMachineArn` -> `stateMachineArn`) nor the answer back (`ExecutionArn`, `Output`, dates
   in epoch milliseconds); both are converted with botocore's model of the API. A failing child
   fails the Task with States.TaskFailed and the child's description as cause.
   Tests: test_start_execution_tasks_pass_the_apis_parameters_and_answer_in_its_shape,
   test_a_failing_child_fails_the_task_with_its_description (tests/test_stepfunctions_adapter.py).
10. Distributed Map, ItemReader `s3:listObjectsV2`: moto read the first page only (1,000 keys),
   failed on an empty listing with States.Runtime `'Contents'`, and gave raw items with a
   datetime that made DescribeExecution answer 500. Every page is read, an empty listing is no
   items, and each object is the item AWS gives (Etag, Key, LastModified in epoch seconds, Size,
   StorageClass). Test: test_an_s3_listing_is_read_whole_and_as_aws_gives_each_object.
11. Distributed Map, tolerated failures: an integer ToleratedFailurePercentage was a parse error
   (JSON writers, the Framework's included, drop the `.0`), and the thresholds were ignored: a
   Map with failed items never failed. The Map Run fails with States.ExceedToleratedFailureThreshold
   when failed or timed-out items exceed a threshold that is set (either, when both are), or on
   any failed item when none is. Test: test_failed_items_fail_the_map_over_its_tolerated_failures.
12. Distributed Map, ResultWriter: moto wrote an empty manifest.json. The manifest and the result
   files are written as AWS writes them (`<Prefix>/<map run id>/`, SUCCEEDED_0.json and
   FAILED_0.json listing each item as a child execution: Input, Status, Output or Error and
   Cause), for a failed Map Run too. Each item's child execution ARN is made up: locally items
   run inside the parent execution, not as executions of their own.
   Test: test_the_result_writer_reports_every_item_and_the_failures_exactly.
   DescribeMapRun and ListMapRuns answered 500 while an execution was starting (moto looks in
   the executions' environments, which a starting one does not have yet): not yet, no Map Run.
   Test: test_a_backfill_of_200_objects_with_5_percent_failures_ends_within_its_tolerance
   (tests/test_backfill.py follows its Map Run while the image workflow's executions start).
13. RedriveExecution answered HTTP 500, and executions had no redrive fields. A redrive goes on
   from where the execution stopped, as AWS does: same ARN, same history continued with an
   ExecutionRedriven event (redriveCount), the last state entered re-run with the input it had,
   states that succeeded not re-run (in a Parallel state only the branches that did not finish,
   in a Map only the items that did not: a Distributed Map keeps the items it read and its Map
   Run, whose redriveCount grows). Refused (ExecutionNotRedrivable) as on AWS: a RUNNING or
   SUCCEEDED execution, an EXPRESS one, one stopped more than 14 days ago, open more than a year,
   or with 25,000 history events; the same clientToken redrives once. DescribeExecution has
   redriveCount, redriveDate, redriveStatus and redriveStatusReason (and stopDate when timed
   out), ListExecutions redriveCount and redriveDate and its redriveFilter.
   Tests: test_a_redriven_execution_goes_on_from_the_failed_state, test_redrive_follows_awss_rules,
   test_a_redriven_distributed_map_runs_only_its_failed_items,
   test_an_express_execution_cannot_be_redriven.
   As on AWS, an execution that ended in a Fail state (after a Catch) fails there again when
   redriven: the Fail state is the state that failed.
   StopExecution left the execution RUNNING until its current state ended (for ever, when a
   Parallel state was starting its branches); it is ABORTED at once, as on AWS, and a redrive
   of it is not undone when the stopped attempt's last state ends.
   Test: test_an_aborted_execution_goes_on_from_the_state_it_was_in (tests/test_redrive.py).
14. Executions publish what the local cloud's metrics need (`observe_executions`: started,
   redriven, ended); localcloud/services/cloudwatch/metrics.py turns them into AWS/States metrics.
   Test: test_a_failed_execution_sets_off_the_workflow_alarm (tests/test_alarms.py).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.exceptions import InvalidArn
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
    ResourceEvalS3 as ItemReaderS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.item_reader_decl import ItemReader
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record import (
    MapRunRecord,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker import IterationWorker
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator.distributed_iterator_worker import (  # noqa: E501
    DistributedIteratorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3 as ResultWriterS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker import BranchWorker
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl import BranchesDecl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.backend import execution as parser_execution
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution import Execution as ParserExecution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends
from moto.stepfunctions.responses import StepFunctionResponse

from localcloud.clients import client_of

if TYPE_CHECKING:
    from localcloud.services.iam import Iam

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
_iam: list[Iam | None] = [None]
_lock = threading.RLock()
_map_state = threading.local()  # the Map state whose Map Run the current thread is creating
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


def use(clock: RetryClock, iam: Iam | None = None) -> None:
    """The retry clock, and the local cloud's IAM (localcloud.services.iam.Iam) that issues role credentials."""
    _ClockModule.clock = clock
    _iam[0] = iam


_clients: dict[tuple[str, str, str | None, str], Any] = {}  # region, service, access key, moto's port
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

    return client_of(
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
    # The retrier's `time` and each module's `boto_client_for` are names the modules imported:
    # replaced in the modules themselves, which do not declare them as attributes to set.
    retrier_decl.time = _time  # type: ignore[attr-defined,assignment]
    for name in _CLIENT_MODULES:
        importlib.import_module(name).boto_client_for = client_for  # type: ignore[attr-defined]

    original_from_error = StateTaskLambda._from_error

    def lambda_task_error(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
        failure = original_from_error(self, env, ex)
        if not isinstance(ex, ClientError):
            return failure
        error, metadata = ex.response["Error"], ex.response["ResponseMetadata"]
        status = metadata.get("HTTPStatusCode")
        # How Step Functions' Lambda integration names a denied Invoke and a throttled one.
        if status == 403:
            name = "Lambda.AWSLambdaException"
        elif error.get("Code") == "TooManyRequestsException":
            name = "Lambda.TooManyRequestsException"
        else:
            return failure
        cause = (
            f"{error.get('Message', '')} (Service: AWSLambda; Status Code: {status}; Error Code: {error.get('Code')}; "
            f"Request ID: {metadata.get('RequestId', '')}; Proxy: null)"
        )
        # moto's _from_error gives a ClientError these details (both hinted optional)
        assert failure.event_details is not None
        details = failure.event_details["lambdaFunctionFailedEventDetails"]
        assert details is not None
        details["error"], details["cause"] = name, cause
        failure.error_name = CustomErrorName(name)  # type: ignore[misc]  # Final in moto: renamed as AWS names it
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
        worker = self.execution.exec_worker
        if worker is not None and getattr(worker, "_execution_communication", self) is not self:
            return  # an attempt that a redrive has replaced (it was stopped): the execution is not its any more
        original_terminated(self)
        progress = _progress.get(self.execution.execution_arn)
        if progress is not None and self.execution.status == "SUCCEEDED":  # never redriven again
            with _lock:
                progress.scopes.clear()
                progress.items.clear()
        _tell("ended", self.execution)

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _install_sfn_task()
    _install_distributed_map()
    _install_redrive()
    install_express()
    install_program_cache()


# -- 9. states:startExecution Tasks -------------------------------------------------------------
@functools.cache
def _operation(action: str) -> Any:
    """botocore's model of a Step Functions operation, by its boto3 method name."""
    model = botocore.session.get_session().get_service_model("stepfunctions")
    name = next(n for n in model.operation_names if botocore.xform_name(n) == action)
    return model.operation_model(name)


def _epoch_millis(value: Any) -> Any:
    """The Step Functions integrations give dates as epoch milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: _epoch_millis(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epoch_millis(item) for item in value]
    return value


def _install_sfn_task() -> None:
    original_parameters = StateTaskServiceSfn._normalise_parameters

    def normalise_parameters(
        self: StateTaskServiceSfn,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_parameters(self, parameters, boto_service_name, service_action_name)
        action = service_action_name or self._get_boto_service_action()
        self._to_boto_request(parameters, _operation(action).input_shape)

    def normalise_response(
        self: StateTaskServiceSfn,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        if not isinstance(response, dict):
            return
        action = service_action_name or self._get_boto_service_action()
        self._from_boto_response(response, _operation(action).output_shape)
        response.update(_epoch_millis(response))

    StateTaskServiceSfn._normalise_parameters = normalise_parameters  # type: ignore[method-assign]
    # (`assignment`: the replacement takes the Sfn service; moto declares the method on their base class)
    StateTaskServiceSfn._normalise_response = normalise_response  # type: ignore[method-assign,assignment]


# -- 10-12. Distributed Map -----------------------------------------------------------------------
def _floats_for_tolerance(definition: str) -> str:
    """ToleratedFailurePercentage may be any number (JSON writers drop the `.0` of 10.0)."""
    if "ToleratedFailurePercentage" not in definition:
        return definition

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: float(v) if k == "ToleratedFailurePercentage" and type(v) is int else fix(v) for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(item) for item in node]
        return node

    try:
        return json.dumps(fix(json.loads(definition)))
    except ValueError:
        return definition  # not JSON: let the parser say what is wrong


def _s3_items(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ItemReader s3:listObjectsV2: every page, and each object as AWS gives it to the Map."""
    s3 = client_for(resource_runtime_part.region, "s3", state_credentials)
    parameters = env.stack.pop()
    items = []
    for page in s3.get_paginator("list_objects_v2").paginate(**parameters):
        for found in page.get("Contents", []):
            items.append(
                {
                    "Etag": found["ETag"],
                    "Key": found["Key"],
                    "LastModified": int(found["LastModified"].timestamp()),
                    "Size": found["Size"],
                    "StorageClass": found.get("StorageClass", "STANDARD"),
                }
            )
    env.stack.append(items)


@dataclass
class ItemOutcome:
    """How one item (a child workflow execution on AWS) of a Distributed Map ended."""

    index: int
    status: str  # SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    input: Any
    start: datetime
    stop: datetime
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def entry(self, record: Any) -> dict[str, Any]:
        """This item as a ResultWriter result file lists a STANDARD child execution."""
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record.map_run_arn}/{self.index}"))
        execution_arn = record.map_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        entry: dict[str, Any] = {
            "ExecutionArn": execution_arn,
            "Input": json.dumps(self.input, separators=(",", ":")),
            "InputDetails": {"Included": True},
            "Name": name,
            "StartDate": _iso(self.start),
            "StateMachineArn": record.map_state_machine_arn,
            "Status": self.status,
            "StopDate": _iso(self.stop),
        }
        if self.status == "SUCCEEDED":
            entry["Output"] = json.dumps(self.output, separators=(",", ":"))
            entry["OutputDetails"] = {"Included": True}
        else:
            entry["Error"], entry["Cause"] = self.error or "", self.cause or ""
        return entry


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _outcomes(record: Any) -> list[ItemOutcome]:
    with _lock:
        if not hasattr(record, "localcloud_outcomes"):
            record.localcloud_outcomes = []
        outcomes: list[ItemOutcome] = record.localcloud_outcomes
        return outcomes


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ResultWriter s3:putObject: the Map Run's manifest and its result files, as AWS writes
    them under `<Prefix>/<map run id>/`: SUCCEEDED_0.json, FAILED_0.json (failed, timed out
    and aborted items), PENDING_0.json (items never started), each a JSON array."""
    parameters = env.stack.pop()
    env.stack.pop()  # the Map's own results: the files replace them
    record = env.map_run_record_pool_manager.get_all()[-1]
    outcomes = sorted(_outcomes(record), key=lambda o: o.index)
    prefix = parameters.get("Prefix", "")
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    folder = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
    s3 = client_for(resource_runtime_part.region, "s3", state_credentials)
    groups = {
        "SUCCEEDED": [o for o in outcomes if o.status == "SUCCEEDED"],
        "FAILED": [o for o in outcomes if o.status in ("FAILED", "TIMED_OUT", "ABORTED")],
        "PENDING": [o for o in outcomes if o.status == "PENDING"],
    }
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, members in groups.items():
        if not members:
            continue
        body = json.dumps([m.entry(record) for m in members], indent=2).encode()
        key = f"{folder}{status}_0.json"
        s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=body, ContentType="application/json")
        files[status].append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": record.map_run_arn, "ResultFiles": files}
    key = f"{folder}manifest.json"
    s3.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append(
        {"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}}
    )


def _exceeds_tolerance(env: Any, record: Any, failed: int, total: int) -> bool:
    """AWS: with neither threshold set any failed item fails the Map Run; otherwise it fails
    when the failed (or timed out) items exceed either threshold that is set."""
    count_set, percentage_set = getattr(env, "localcloud_tolerance", (False, False))
    if not count_set and not percentage_set:
        return failed > 0
    percentage = 100.0 * failed / total if total else 0.0
    return (count_set and failed > int(record.tolerated_failure_count)) or (
        percentage_set and percentage > float(record.tolerated_failure_percentage)
    )


def _install_distributed_map() -> None:
    original_parse = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original_parse(_floats_for_tolerance(definition))

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    ItemReaderS3._handle_list_objects_v2 = staticmethod(_s3_items)  # type: ignore[method-assign]
    ResultWriterS3._handle_put_object = staticmethod(_write_results)  # type: ignore[method-assign]

    original_props = StateMap.from_state_props

    def from_state_props(self: StateMap, state_props: Any) -> None:
        original_props(self, state_props)
        self.localcloud_tolerance = (  # type: ignore[attr-defined]  # the adapter's own attribute
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    StateMap.from_state_props = from_state_props  # type: ignore[method-assign]

    original_execution = StateMap._eval_execution

    def eval_execution(self: StateMap, env: Any) -> None:
        # What the Map Run needs to judge itself and report (env is this state's own frame).
        env.localcloud_tolerance = getattr(self, "localcloud_tolerance", (False, False))
        env.localcloud_result_writer = self.result_writer
        _map_state.current = (_progress_of(env), (*_scope(env), self.name))
        try:
            original_execution(self, env)
        finally:
            _map_state.current = (None, None)

    StateMap._eval_execution = eval_execution  # type: ignore[method-assign]

    original_job = DistributedItemProcessorWorker._eval_job

    def eval_job(self: DistributedItemProcessorWorker, env: Any, job: Any) -> None:
        started = datetime.now(UTC)
        original_job(self, env, job)
        state = env.program_state()
        outcome = ItemOutcome(job.job_index, "FAILED", _scope_input(env), started, datetime.now(UTC))
        if isinstance(state, ProgramEnded):
            outcome.status, outcome.output = "SUCCEEDED", job.job_output
        elif isinstance(state, ProgramError):
            outcome.error, outcome.cause = (state.error or {}).get("error"), (state.error or {}).get("cause")
        elif isinstance(state, ProgramStopped):
            outcome.status = "ABORTED"
        elif isinstance(state, ProgramTimedOut):
            outcome.status, outcome.error = "TIMED_OUT", "States.Timeout"
        else:
            outcome.error = "States.Runtime"
        with _lock:
            _outcomes(self._map_run_record).append(outcome)

    DistributedItemProcessorWorker._eval_job = eval_job  # type: ignore[method-assign]

    original_record = MapRunRecord.__init__

    def record_init(self: MapRunRecord, *args: Any, **kwargs: Any) -> None:
        """A redriven Map state goes on with its Map Run (same ARN), as AWS redrives a Map Run."""
        original_record(self, *args, **kwargs)
        progress, key = getattr(_map_state, "current", (None, None))
        _map_state.current = (None, None)
        if progress is None:
            return
        with _lock:
            earlier = progress.map_runs.get(key)
            if earlier is not None and progress.run > 0:
                # Final in moto: the redriven Map Run keeps the ARNs of the one it goes on with
                self.map_run_arn, self.map_state_machine_arn = earlier  # type: ignore[misc]
                self.localcloud_redrive_count = progress.run  # type: ignore[attr-defined]  # the adapter's own
            progress.map_runs[key] = (self.map_run_arn, self.map_state_machine_arn)

    MapRunRecord.__init__ = record_init  # type: ignore[method-assign]

    original_describe_map_run = MapRunRecord.describe

    def describe_map_run(self: MapRunRecord) -> Any:
        described = original_describe_map_run(self)
        described["redriveCount"] = getattr(self, "localcloud_redrive_count", 0)
        return described

    MapRunRecord.describe = describe_map_run  # type: ignore[method-assign]

    def backend_describe_map_run(self: StepFunctionsParserBackend, map_run_arn: str) -> Any:
        for execution in self._get_executions():
            worker = _of_interpreter(execution).exec_worker
            env = worker.env if worker else None
            record = env.map_run_record_pool_manager.get(map_run_arn) if env is not None else None
            if record is not None:
                return record.describe()
        raise MapRunNotFound(f"Map Run Does Not Exist: '{map_run_arn}'")

    StepFunctionsParserBackend.describe_map_run = backend_describe_map_run  # type: ignore[method-assign]

    def list_map_runs(self: StepFunctionsParserBackend, execution_arn: str) -> dict[str, Any]:
        execution = _of_interpreter(self.describe_execution(execution_arn=execution_arn))
        env = execution.exec_worker.env if execution.exec_worker else None
        records = env.map_run_record_pool_manager.get_all() if env is not None else []
        return {"mapRuns": [record.list_item() for record in records]}

    StepFunctionsParserBackend.list_map_runs = list_map_runs  # type: ignore[method-assign]

    original_map_run = DistributedIterationComponent._map_run

    def map_run(self: DistributedIterationComponent, env: Any, eval_input: Any) -> None:
        record = eval_input.map_run_record
        total = len(env.stack[-1])
        original_map_run(self, env, eval_input)
        failed = sum(1 for o in _outcomes(record) if o.status in ("FAILED", "TIMED_OUT"))
        if not _exceeds_tolerance(env, record, failed, total):
            return
        env.stack.pop()  # the items' outputs
        writer = getattr(env, "localcloud_result_writer", None)
        if writer is not None:  # AWS writes the results of a failed Map Run too
            writer.eval(env)
            env.stack.pop()
        error = StatesErrorNameType.StatesExceedToleratedFailureThreshold.to_name()
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
                event_type=HistoryEventType.MapRunFailed,  # so the Map state fails too (MapStateFailed)
                # moto's EventDetails declares every kind of details required; an event has one
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    executionFailedEventDetails=ExecutionFailedEventDetails(
                        error=error, cause="The specified tolerated failure threshold was exceeded"
                    )
                ),
            )
        )

    DistributedIterationComponent._map_run = map_run  # type: ignore[method-assign]


# -- 13. RedriveExecution ---------------------------------------------------------------------------
REDRIVABLE_DAYS = 14  # after the execution stopped
MAX_OPEN_DAYS = 365  # an execution's longest life
MAX_HISTORY_EVENTS = 25_000


class MapRunNotFound(AWSError):
    TYPE = "ResourceNotFound"
    STATUS = 400


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


@dataclass
class ScopeRecord:
    """How far one scope of an execution got (the top level, a Parallel branch, a Map item)."""

    run: int  # the attempt that wrote it: 0, then 1 for the first redrive, ...
    input: str | None = None  # the scope's input when it first started
    at: str | None = None  # the last state it entered
    at_input: str | None = None  # and that state's input
    output: str | None = None  # once the scope ended successfully


@dataclass
class Progress:
    """An execution's progress by scope, so that a redrive skips what succeeded."""

    run: int = 0
    scopes: dict[tuple[Any, ...], ScopeRecord] = field(default_factory=dict)
    items: dict[tuple[Any, ...], tuple[int, str]] = field(default_factory=dict)  # Distributed Map items read
    map_runs: dict[tuple[Any, ...], tuple[str, str]] = field(default_factory=dict)  # Map Run ARNs by Map state
    redrive_count: int = 0
    redrive_date: datetime | None = None
    tokens: dict[str, datetime] = field(default_factory=dict)


_progress: dict[str, Progress] = {}


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _scope(env: Any) -> tuple[Any, ...]:
    return getattr(env, "localcloud_scope", ())


def _progress_of(env: Any) -> Progress | None:
    try:
        arn = env.states.context_object.context_object_data["Execution"]["Id"]
    except (AttributeError, KeyError, TypeError):
        return None
    with _lock:
        return _progress.setdefault(arn, Progress())


def _scope_input(env: Any) -> Any:
    progress = _progress_of(env)
    record = progress.scopes.get(_scope(env)) if progress else None
    return json.loads(record.input) if record and record.input else None


def _earlier(progress: Progress | None, record: ScopeRecord | tuple[int, str] | None) -> bool:
    """A record left by an earlier attempt: only a redrive reads those."""
    if progress is None or record is None:
        return False
    run = record.run if isinstance(record, ScopeRecord) else record[0]
    return run < progress.run


def _of_interpreter(execution: sfn_models.Execution) -> ParserExecution:
    """An execution as the interpreter's backend keeps it: that backend's methods are hinted
    with moto's base Execution, which the interpreter's extends."""
    return cast(ParserExecution, execution)


def not_redrivable(execution: Any, now: datetime | None = None) -> str | None:
    """Why AWS would refuse to redrive this execution (its redriveStatusReason), or None."""
    now = now or datetime.now(UTC)
    if getattr(execution.state_machine, "type", "STANDARD") == "EXPRESS":  # (moto's sm_type is always STANDARD)
        return "Execution of an EXPRESS state machine cannot be redriven"
    if execution.status in ("RUNNING", "SUCCEEDED"):
        return f"Execution is {execution.status} and cannot be redriven"
    if now - execution.start_date > timedelta(days=MAX_OPEN_DAYS):
        return "Execution has exceeded the max execution time"
    if execution.stop_date and now - execution.stop_date > timedelta(days=REDRIVABLE_DAYS):
        return "Execution redrivable period exceeded"
    worker = execution.exec_worker
    if worker and worker.env and len(worker.env.event_manager._history_event_list) >= MAX_HISTORY_EVENTS - 1:
        return "Execution history event limit exceeded"
    return None


class RedriveWorker(ExecutionWorker):
    """Runs an execution again from where it stopped: same ARN, same history (continued with
    ExecutionRedriven), the states that succeeded skipped (Program._eval_body below)."""

    def __init__(self, previous: Any, redrive_count: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._previous, self._redrive_count = previous, redrive_count
        self.env = previous  # until the redrive's own environment exists (its Map Runs stay visible)

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        self.env = self._get_evaluation_environment()
        self.env.event_manager = self._previous.event_manager
        self.env.map_run_record_pool_manager = self._previous.map_run_record_pool_manager
        last = len(self._previous.event_manager._history_event_list)
        # Final in moto (set once per environment): this one continues the earlier attempt's history
        self.env.event_history_context = EventHistoryContext(previous_event_id=last)  # type: ignore[misc]
        # AWS's context object has Execution.RedriveCount; moto's ExecutionData does not list it
        execution_data = self.env.states.context_object.context_object_data["Execution"]
        execution_data["RedriveCount"] = self._redrive_count  # type: ignore[typeddict-unknown-key]
        self.env.event_manager.add_event(
            context=self.env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            # ExecutionRedriven's details are not in moto's EventDetails (which lists every kind as required)
            event_details=EventDetails(  # type: ignore[typeddict-unknown-key,typeddict-item]
                executionRedrivenEventDetails={"redriveCount": self._redrive_count}
            ),
        )
        program.eval(self.env)
        self._execution_communication.terminated()


def redrive_execution(
    self: StepFunctionsParserBackend, execution_arn: str, client_token: str | None = None
) -> datetime:
    if ":express:" in execution_arn:  # (an Express run cannot even be described)
        raise ExecutionNotRedrivable("Execution of an EXPRESS state machine cannot be redriven")
    execution = _of_interpreter(self.describe_execution(execution_arn))
    with _lock:
        progress = _progress.setdefault(execution_arn, Progress())
        if client_token and client_token in progress.tokens:  # the same request again: nothing new
            return progress.tokens[client_token]
    now = datetime.now(UTC)
    reason = not_redrivable(execution, now)
    if reason:
        raise ExecutionNotRedrivable(reason)
    with _lock:
        progress.run += 1
        progress.redrive_count += 1
        progress.redrive_date = now
        if client_token:
            progress.tokens[client_token] = now
    assert execution.exec_worker is not None  # set when it started; a redrivable execution has stopped
    previous = execution.exec_worker.env
    execution.exec_status = ExecutionStatus.RUNNING
    execution.stop_date = execution.error = execution.cause = execution.output = None
    execution.exec_worker = RedriveWorker(
        previous,
        progress.redrive_count,
        evaluation_details=EvaluationDetails(
            aws_execution_details=execution._get_start_aws_execution_details(),
            execution_details=execution.get_start_execution_details(),
            state_machine_details=execution.get_start_state_machine_details(),
        ),
        exec_comm=execution._get_start_execution_worker_comm(),
        cloud_watch_logging_session=execution._cloud_watch_logging_session,
        activity_store=execution._activity_store,
    )
    _tell("redriven", execution)
    execution.exec_worker.start()  # type: ignore[no-untyped-call]  # moto's ExecutionWorker.start has no hints
    return now


def _redrive_fields(execution: Any, detailed: bool) -> dict[str, Any]:
    progress = _progress.get(execution.execution_arn)
    fields: dict[str, Any] = {"redriveCount": progress.redrive_count if progress else 0}
    if progress and progress.redrive_date:
        fields["redriveDate"] = progress.redrive_date
    if detailed:
        reason = not_redrivable(execution)
        fields["redriveStatus"] = "NOT_REDRIVABLE" if reason else "REDRIVABLE"
        if reason:
            fields["redriveStatusReason"] = reason
    return fields


def _install_redrive() -> None:
    StepFunctionsParserBackend.redrive_execution = redrive_execution  # type: ignore[attr-defined]

    original_stop = ParserExecution.stop

    def stop(self: ParserExecution, stop_date: datetime, error: str | None, cause: str | None) -> None:
        """StopExecution: ABORTED at once, as on AWS (moto waited for the running state to end,
        and never ended if a Parallel state was starting its branches)."""
        original_stop(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date if stop_date.tzinfo else stop_date.replace(tzinfo=UTC)
            self.error, self.cause = error or None, cause or None

    ParserExecution.stop = stop  # type: ignore[method-assign]

    def redrive_response(self: StepFunctionResponse) -> ActionResult:
        date = self.stepfunction_backend.redrive_execution(  # type: ignore[attr-defined]  # set just above
            self._get_param("executionArn"), self._get_param("clientToken")
        )
        return ActionResult({"redriveDate": date})

    StepFunctionResponse.redrive_execution = redrive_response  # type: ignore[attr-defined]

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self: StepFunctionResponse) -> ActionResult:
        result = original_describe(self)
        body: dict[str, Any] = result.result  # type: ignore[assignment]
        execution = self.stepfunction_backend.describe_execution(body["executionArn"])
        body.update(_redrive_fields(execution, detailed=True))
        if execution.status == "TIMED_OUT" and execution.stop_date:
            body["stopDate"] = execution.stop_date
        return result

    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]

    original_list = StepFunctionResponse.list_executions

    def list_executions(self: StepFunctionResponse) -> ActionResult:
        result = original_list(self)
        body: dict[str, Any] = result.result  # type: ignore[assignment]
        wanted = self._get_param("redriveFilter")
        listed = []
        for item in body["executions"]:
            execution = self.stepfunction_backend.describe_execution(item["executionArn"])
            item.update(_redrive_fields(execution, detailed=False))
            if execution.status == "TIMED_OUT" and execution.stop_date:
                item["stopDate"] = execution.stop_date
            if wanted is None or (wanted == "REDRIVEN") == (item["redriveCount"] > 0):
                listed.append(item)
        body["executions"] = listed
        return result

    StepFunctionResponse.list_executions = list_executions  # type: ignore[method-assign]

    # Scopes: a frame belongs to its parent's scope; a Parallel branch and a Map item open their own.
    original_frame = Environment.as_inner_frame_of.__func__  # type: ignore[attr-defined]

    def as_inner_frame_of(cls: type, env: Any, *args: Any, **kwargs: Any) -> Any:
        frame = original_frame(cls, env, *args, **kwargs)
        frame.localcloud_scope = _scope(env)
        return frame

    Environment.as_inner_frame_of = classmethod(as_inner_frame_of)  # type: ignore[method-assign,assignment]

    original_branches = BranchesDecl.__init__

    def branches_init(self: BranchesDecl, programs: list[Any]) -> None:
        original_branches(self, programs)
        for index, program in enumerate(programs):
            program.localcloud_branch = index

    BranchesDecl.__init__ = branches_init  # type: ignore[method-assign]

    original_branch_worker = BranchWorker.__init__

    def branch_worker_init(self: BranchWorker, branch_worker_comm: Any, program: Any, env: Any) -> None:
        original_branch_worker(self, branch_worker_comm=branch_worker_comm, program=program, env=env)
        state = env.states.context_object.context_object_data.get("State", {}).get("Name", "")
        env.localcloud_scope = (*_scope(env), state, getattr(program, "localcloud_branch", 0))

    BranchWorker.__init__ = branch_worker_init  # type: ignore[method-assign]

    def scoped(original: Callable[..., None]) -> Callable[..., None]:
        def eval_job(self: Any, env: Any, job: Any) -> None:
            env.localcloud_scope = (*_scope(env), self._work_name, job.job_index)
            original(self, env, job)

        return eval_job

    for worker in (IterationWorker, DistributedItemProcessorWorker, DistributedIteratorWorker):
        worker._eval_job = scoped(worker._eval_job)  # type: ignore[method-assign]

    original_program = Program._eval_body

    def program_body(self: Program, env: Any) -> None:
        progress = _progress_of(env)
        scope = _scope(env)
        if progress is not None:
            with _lock:
                record = progress.scopes.get(scope)
                if record is None:
                    progress.scopes[scope] = ScopeRecord(progress.run, input=_dump(env.states.get_input()))
            if _earlier(progress, record):
                assert record is not None
                if record.output is not None:  # this scope succeeded before: not run again
                    record.run = progress.run
                    env.states.reset(input_value=json.loads(record.output))
                    env.set_ended()
                    return
                if record.at:  # go on from the state that did not finish, with the input it had
                    env.next_state_name = record.at
                    env.states.reset(input_value=json.loads(record.at_input or "null"))
        original_program(self, env)
        if progress is not None and isinstance(env.program_state(), ProgramEnded):
            with _lock:
                record = progress.scopes.setdefault(scope, ScopeRecord(progress.run))
                record.run, record.output = progress.run, _dump(env.states.get_input())

    Program._eval_body = program_body  # type: ignore[method-assign]

    original_state = CommonStateField._eval_body

    def state_body(self: CommonStateField, env: Any) -> None:
        progress = _progress_of(env)
        if progress is not None:
            with _lock:
                record = progress.scopes.setdefault(_scope(env), ScopeRecord(progress.run))
                record.run, record.at, record.at_input = progress.run, self.name, _dump(env.states.get_input())
        original_state(self, env)

    CommonStateField._eval_body = state_body  # type: ignore[method-assign]

    original_reader = ItemReader._eval_body

    def reader_body(self: ItemReader, env: Any) -> None:
        """A redriven Distributed Map goes on with the items it read (AWS does not read again)."""
        progress = _progress_of(env)
        state = env.states.context_object.context_object_data.get("State", {}).get("Name", "")
        key = (*_scope(env), state)
        if progress is not None:
            recorded = progress.items.get(key)
            if _earlier(progress, recorded):
                assert recorded is not None
                env.stack.append(json.loads(recorded[1]))
                return
        original_reader(self, env)
        if progress is not None:
            with _lock:
                progress.items[key] = (progress.run, _dump(env.stack[-1]))

    ItemReader._eval_body = reader_body  # type: ignore[method-assign]


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
    from localcloud.services.cloudformation import adapter as cloudformation

    def keep_type_and_logging(machine: Any, properties: dict[str, Any], account_id: str) -> None:
        machine.type = properties.get("StateMachineType", "STANDARD")
        if properties.get("LoggingConfiguration"):
            machine.loggingConfiguration = logging_configuration(properties["LoggingConfiguration"])

    cloudformation.extend_create(sfn_models.StateMachine, after=keep_type_and_logging)
    original_update = cloudformation.classmethod_function(sfn_models.StateMachine.update_from_cloudformation_json)

    def update(cls: type, /, *args: Any, **kw: Any) -> Any:
        template = kw["cloudformation_json"] if "cloudformation_json" in kw else args[2]
        machine = original_update(cls, *args, **kw)
        keep_type_and_logging(machine, template.get("Properties", {}), "")
        return machine

    sfn_models.StateMachine.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]

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

    # (`assignment`: the replacement's parameters are wider than moto's, to pass on whatever it gets)
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign,assignment]

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

    StepFunctionsParserBackend.list_executions = list_executions  # type: ignore[method-assign,assignment]
