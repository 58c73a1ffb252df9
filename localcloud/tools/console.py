"""The local execution console, served by the local cloud at `/_console/`.

A static page (localcloud/tools/console_static/) over a small JSON API that reads the deployed
stack through the ordinary AWS APIs of the local cloud: executions and their histories
(Step Functions), the state machine definition, output previews (S3) and the photo's
metadata item (DynamoDB). The upload form signs in first: `api/token` creates the named
user in the stage's user pool if needed and returns an ID token (localcloud/tools/signin.py, as
`python -m localcloud token` does), which the page sends to POST /upload like any client.
`state_summary` turns an execution history into what the graph
shows for each state: succeeded, failed, caught, retried, running or not reached; the result
of each execution (processed, regenerated, rejected, duplicate, failed) comes from `localcloud.tools.results`,
as on the command line.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from werkzeug.wrappers import Request, Response

from handlers.core import renditions
from localcloud import PROJECT
from localcloud.clients import aws_client
from localcloud.services.stepfunctions.express import StepFunctionsView

from . import cost, signin
from .pipeline import TERMINAL, ExecutionKeys
from .results import DUPLICATE, KINDS, PROCESSED, REGENERATED, Result, result_of

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.type_defs import StackTypeDef

PREFIX = "/_console/"
STATIC = Path(__file__).with_name("console_static")
MERMAID = PROJECT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
_TASK_FAILURES = {
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "TaskFailed",
    "TaskTimedOut",
    "LambdaFunctionScheduleFailed",
    "LambdaFunctionStartFailed",
    "TaskSubmitFailed",
}
_DESERIALIZER = TypeDeserializer()
_TASK_ATTEMPTS = {"LambdaFunctionScheduled", "TaskScheduled"}
_LAMBDA_ENDS = {"LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut"}


def state_summary(events: list[dict[str, Any]], execution_status: str) -> dict[str, dict[str, Any]]:
    """Per state name: status, attempts, input, output, error and cause, from the history.

    Task events carry no state name; each is attributed to the state whose *StateEntered
    event starts its chain of previousEventIds, which keeps Parallel branches apart.
    """
    owner: dict[int, str] = {}
    states: dict[str, dict[str, Any]] = {}
    for event in events:
        kind, event_id = event["type"], event["id"]
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if entered:
            name = entered["name"]
            states[name] = {
                "status": "running",
                "attempts": 0,
                "failures": 0,
                "type": kind.removesuffix("StateEntered"),
                "input": _json(entered.get("input")),
                "output": None,
                "error": None,
                "cause": None,
            }
            owner[event_id] = name
            continue
        name = exited["name"] if exited else owner.get(event.get("previousEventId", 0))
        if name is None or name not in states:
            continue
        owner[event_id] = name
        state = states[name]
        if kind in _LAMBDA_ENDS and state.get("window"):
            state["window"][1] = event["timestamp"]
        if kind in _TASK_ATTEMPTS:
            state["attempts"] += 1
            state["last_failed"] = False
            resource = (event.get("lambdaFunctionScheduledEventDetails") or {}).get("resource")
            if resource:  # the latest attempt's function and times, to find what it used
                state["function"], state["window"] = resource, [event["timestamp"], None]
        elif kind in _TASK_FAILURES:
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            state["failures"] += 1
            state["last_failed"] = True
            state["error"], state["cause"] = details.get("error"), details.get("cause")
        elif exited:
            state["output"] = _json(exited.get("output"))
            if state.pop("last_failed", False):
                state["status"] = "caught"
            else:
                state["status"] = "retried" if state["failures"] else "succeeded"
    for state in states.values():
        state.pop("last_failed", None)
        if state["type"] == "Fail":
            state["status"] = "failed"
            state["error"], state["cause"] = _fail_reason(events)
        elif state["status"] == "running" and execution_status != "RUNNING":
            state["status"] = "failed"
    return states


def _fail_reason(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    for event in reversed(events):
        details = event.get("executionFailedEventDetails")
        if details:
            return details.get("error"), details.get("cause")
    return None, None


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class EndedExecutions:
    """DescribeExecution, remembered for executions that have ended (an ended execution never
    changes): the list is polled every 1.5 s and shows each one's result, which ListExecutions
    does not return, so each is described once rather than on every poll. Quacks like the
    Step Functions client for `ExecutionKeys`, so keys and results share that one call."""

    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn
        self._ended: dict[str, dict[str, Any]] = {}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # boto3's parameter name
        described = self._ended.get(executionArn)
        if described is None:
            described = self.sfn.describe_execution(executionArn=executionArn)
            if described["status"] in TERMINAL:
                self._ended[executionArn] = described
        return described

    def result(self, execution_arn: str, status: str) -> Result:
        """The result of a listed execution; a running one is not described at all."""
        if status not in TERMINAL:
            return result_of({"status": status})
        return result_of(self.describe_execution(executionArn=execution_arn))


class Console:
    def __init__(self, cloud_env: dict[str, str], meter: cost.Meter | None = None) -> None:
        self.cloud_env = cloud_env
        self.meter = meter
        self.s3 = aws_client(cloud_env, "s3")
        self.cfn = aws_client(cloud_env, "cloudformation")
        self.dynamodb = aws_client(cloud_env, "dynamodb")
        # Standard executions through the API, Express ones from their log group (services/stepfunctions/express.py)
        self.sfn = StepFunctionsView(cloud_env)
        self.described = EndedExecutions(self.sfn)
        self.keys = ExecutionKeys(self.described)

    def handle(self, request: Request) -> Response:
        route = request.path.removeprefix(PREFIX)
        if route in ("", "index.html"):
            return self._file(STATIC / "index.html")
        if route.startswith("static/"):
            return self._file(STATIC / Path(route).name)
        if route == "vendor/mermaid.min.js":
            return self._file(MERMAID)
        if route == "api/stack":
            return _json_response(self.stack())
        if route == "api/executions":
            return _json_response(self.executions(request.args.get("status"), request.args.get("result")))
        if route == "api/execution":
            return _json_response(self.execution(request.args["arn"]))
        if route == "api/token" and request.method == "POST":
            return self.token((request.get_json(silent=True) or {}).get("username"))
        if route == "api/object":
            try:
                body = self.s3.get_object(Bucket=request.args["bucket"], Key=request.args["key"])
            except self.s3.exceptions.NoSuchKey:
                return _json_response({"error": "no such object"}, 404)
            return Response(body["Body"].read(), mimetype=body.get("ContentType", "application/octet-stream"))
        return _json_response({"error": f"no route {request.path}"}, 404)

    def token(self, username: Any) -> Response:
        """Signs `username` in to the deployed stage's user pool (creating the user if needed)."""
        found = self._workflow_stack()
        if not found:
            return _json_response({"error": "no stack deployed"}, 404)
        try:
            signed_in = signin.sign_in(self.cloud_env, found[1], str(username or ""))
        except signin.SignInError as error:
            return _json_response({"error": str(error)}, 400)
        return _json_response(
            {
                "username": signed_in.username,
                "sub": signed_in.sub,
                "token": signed_in.id_token,
                "expiresIn": signed_in.expires_in,
            }
        )

    def _file(self, path: Path) -> Response:
        if not path.is_file():
            return _json_response({"error": f"{path.name} is not installed (run make setup)"}, 404)
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(path.read_bytes(), mimetype=mimetype, headers={"Cache-Control": "no-cache"})

    def _exists(self, bucket: str, key: str) -> bool:
        """Outputs of a failed run were discarded: only what is still there is previewed."""
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError:
            return False

    def _workflow_stack(self) -> tuple[StackTypeDef, dict[str, str]] | None:
        """The first deployed stack with the image workflow, and its outputs."""
        for stack in self.cfn.describe_stacks()["Stacks"]:
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            if "ImageWorkflowArn" in outputs:
                return stack, outputs
        return None

    def stack(self) -> dict[str, Any]:
        """The deployed image workflow: its outputs, definition and upload URL (read once
        when the page loads; the polled routes below need only the outputs)."""
        found = self._workflow_stack()
        if not found:
            return {"name": None}
        stack, outputs = found
        stage = next((t["Value"] for t in stack.get("Tags", []) if t["Key"] == "STAGE"), "local")
        machine = self.sfn.describe_state_machine(stateMachineArn=outputs["ImageWorkflowArn"])
        return {
            "name": stack["StackName"],
            "stage": stage,
            "outputs": outputs,
            "definition": json.loads(machine["definition"]),
            "uploadUrl": f"/_api/{stage}/upload",
            "results": KINDS,  # what the list's filter offers (localcloud/tools/results.py)
        }

    def _listed(self) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Every execution of the deployed workflow (ListExecutions items) with its upload's key."""
        found_stack = self._workflow_stack()
        if not found_stack:
            return
        arn = found_stack[1]["ImageWorkflowArn"]
        for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for item in page["executions"]:
                yield item, self.keys.of(item["executionArn"])

    def executions(self, status: str | None = None, result: str | None = None) -> list[dict[str, Any]]:
        """The list, newest first, optionally only one status and/or one result kind."""
        found = []
        for item, key in self._listed():
            if status and item["status"] != status:
                continue
            outcome = self.described.result(item["executionArn"], item["status"])
            if result and outcome.kind != result:
                continue
            started, stopped = item["startDate"], item.get("stopDate")
            found.append(
                {
                    "arn": item["executionArn"],
                    "name": item["name"],
                    "key": key,
                    "status": item["status"],
                    "result": outcome.to_dict(),
                    "start": started.isoformat(),
                    "seconds": (stopped - started).total_seconds() if stopped else None,
                }
            )
        return sorted(found, key=lambda e: e["start"], reverse=True)

    def _processing_execution(self, key: str) -> str | None:
        """The execution that processed the upload `key` (the latest one, if it was redelivered)."""
        matches = [
            item
            for item, listed_key in self._listed()
            if listed_key == key and self.described.result(item["executionArn"], item["status"]).kind == PROCESSED
        ]
        return max(matches, key=lambda item: item["startDate"])["executionArn"] if matches else None

    def _photo(self, user_id: str | None, photo_id: str | None) -> dict[str, Any] | None:
        """The photos table's item of a user's photo, with DynamoDB's types made Python's."""
        found_stack = self._workflow_stack()
        table = found_stack[1].get("PhotosTableName") if found_stack else None
        if not (user_id and photo_id and table):
            return None
        key = {"userId": {"S": user_id}, "photoId": {"S": photo_id}}
        raw = self.dynamodb.get_item(TableName=table, Key=key).get("Item")
        return {k: _DESERIALIZER.deserialize(v) for k, v in raw.items()} if raw else None

    def _duplicate_of(
        self, uniqueness: dict[str, Any], recorded: dict[str, Any] | None, user_id: str | None
    ) -> dict[str, Any]:
        """What a duplicate duplicates: the user's upload recorded first (its key, its
        execution) and the item recorded for it. CheckForDuplicate names it (`of`, `ofKey`);
        when the same photo was recorded by a concurrent run meanwhile, the recorded item
        does. Another user's photo is described, never shown."""
        if uniqueness.get("owner") == "other":
            return {"key": "a photo in another user's library", "otherUser": True, "match": uniqueness.get("match")}
        item = self._photo(user_id, uniqueness.get("of")) if uniqueness.get("of") else recorded
        key = uniqueness.get("ofKey") or (item or {}).get("sourceKey")
        thumbnail = None
        if item and item.get("thumbnailKey") and self._exists(item["bucket"], item["thumbnailKey"]):
            thumbnail = {"bucket": item["bucket"], "key": item["thumbnailKey"]}
        return {
            "key": key,
            "photoId": (item or {}).get("photoId") or uniqueness.get("of"),
            "match": uniqueness.get("match"),
            "execution": self._processing_execution(key) if key else None,
            "item": item,
            "thumbnail": thumbnail,
        }

    def execution(self, arn: str) -> dict[str, Any]:
        described = self.described.describe_execution(executionArn=arn)
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        states = state_summary(events, described["status"])
        for state in states.values():
            self._add_usage(state)
        output = _json(described.get("output")) or {}
        results = output.get("results") or _latest_results(states)
        written = renditions.written(results.get("outputs") or {})  # with the stage's renditions
        previews = [dict(o, kind=kind) for kind, o in written if self._exists(o["bucket"], o["key"])]
        result = result_of(described)
        key = self.keys.of(arn)
        uniqueness = results.get("uniqueness") or {}
        started_with = _json(described.get("input"))
        user_id = started_with.get("userId") if isinstance(started_with, dict) else None
        recorded = self._photo(user_id, uniqueness.get("contentHash"))
        history = [
            {
                "id": e["id"],
                "type": e["type"],
                "timestamp": e["timestamp"].isoformat(),
                "details": next((v for k, v in e.items() if k.endswith("EventDetails")), None),
            }
            for e in events
        ]
        return {
            "arn": arn,
            "name": described["name"],
            "key": key,
            "status": described["status"],
            "result": result.to_dict(),
            "input": started_with,
            "output": output or None,
            "error": described.get("error"),
            "cause": described.get("cause"),
            "start": described["startDate"].isoformat(),
            "states": states,
            "history": history,
            "previews": previews,
            # Only this upload's own item (the photo's id may have been recorded from another
            # upload), or the item a regeneration updated.
            "metadata": recorded
            if recorded and (recorded.get("sourceKey") == key or result.kind == REGENERATED)
            else None,
            "duplicateOf": self._duplicate_of(uniqueness, recorded, user_id) if result.kind == DUPLICATE else None,
        }

    def _add_usage(self, state: dict[str, Any]) -> None:
        """A Lambda Task's latest attempt: what it used here and what it would take and cost on
        Lambda (localcloud/tools/cost.py), from the invocation that ran in the attempt's time."""
        window = state.pop("window", None)
        if not (self.meter and window and window[1]):
            return
        call = self.meter.matching(state["function"].split(":")[6], window[0].timestamp(), window[1].timestamp())
        if call is None:
            return
        usage: dict[str, Any] = {"localMs": call.local_ms, "peakMb": call.peak_mb, "memoryMb": call.memory_mb}
        if call.prediction:
            gb_seconds = call.prediction.billed_gb_seconds
            usage |= {
                "lambdaMs": call.prediction.duration_ms,
                "lambdaInitMs": call.prediction.init_ms,
                "billedGbSeconds": gb_seconds,
                "usd": cost.lambda_usd(gb_seconds),
            }
        state["usage"] = usage


def _latest_results(states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """For executions without output (failed, running): the results the states produced."""
    results: dict[str, Any] = {}
    for state in states.values():
        for document in (state.get("output"), state.get("input")):
            if isinstance(document, dict) and isinstance(document.get("results"), dict):
                results.update(document["results"])
    return results


def jsonable(value: Any) -> Any:
    """JSON for what boto3 returns: DynamoDB numbers (Decimal) stay numbers, sets become
    sorted lists, binary becomes base64 text, dates ISO 8601 text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted((jsonable(v) for v in value), key=str)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3's Binary
        return base64.b64encode(value.value).decode()
    return str(value)


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=jsonable), status=status, mimetype="application/json")
