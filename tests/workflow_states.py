"""Workflow states for tests, in one place: walking a definition (its states, inside Parallel
branches too, and the functions its Tasks invoke), building small state machines in Amazon
States Language, and building the workflow's state (its input and what its steps add under
`results`) as the image functions receive it.

A test that needs the image workflow's own states reads them from its definition
(tests/serverless_yml.py, or the packaged template) through `every_state`/`tasks`, rather than
typing names or counts; a test of the local Step Functions builds its machines with the
builders below."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from handlers.core import keys, renditions

State = dict[str, Any]


# -- walking a definition ------------------------------------------------------------------
def _walk(states: dict[str, State]) -> Iterator[tuple[str, State]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _walk(branch["States"])
        if "ItemProcessor" in state:
            yield from _walk(state["ItemProcessor"]["States"])


def every_state(states: dict[str, State]) -> dict[str, State]:
    """Every state by name, those of Parallel branches and Map processors included."""
    return dict(_walk(states))


def tasks(states: dict[str, State]) -> dict[str, State]:
    """Every Task state by name, wherever it is."""
    return {name: state for name, state in _walk(states) if state["Type"] == "Task"}


def invoked_function(task: State) -> str | None:
    """The function (its name in serverless.yml) a Task of serverless.yml's definition invokes
    (`Resource: {Fn::GetAtt: [function, Arn]}`); None for a service integration (SNS, ...)."""
    resource = task.get("Resource")
    return resource["Fn::GetAtt"][0] if isinstance(resource, dict) and "Fn::GetAtt" in resource else None


def invoked_functions(states: dict[str, State]) -> list[str]:
    """The functions the Tasks among `states` invoke, each once, in the order of the states."""
    return list(dict.fromkeys(filter(None, map(invoked_function, tasks(states).values()))))


def branch_functions(parallel: State) -> list[str]:
    """The functions a Parallel state's branches invoke, each once, in branch order."""
    return list(dict.fromkeys(f for branch in parallel["Branches"] for f in invoked_functions(branch["States"])))


def output_failures(definition: State, parallel: str = "ProcessFile") -> list[tuple[str, str]]:
    """(function, Fail state) for each output the Parallel state makes: the function its branch
    invokes, and where the workflow ends when that output failed (the branch's result is named
    by the ResultSelector, and a Choice sends `$.results.outputs.<name>.Error` to its Fail state)."""
    states = every_state(definition["States"])
    names = {path: key.removesuffix(".$") for key, path in states[parallel]["ResultSelector"].items()}
    fail_states = {
        rule["Variable"]: rule["Next"]
        for state in states.values()
        if state["Type"] == "Choice"
        for rule in state["Choices"]
        if "Variable" in rule and states.get(rule["Next"], {}).get("Type") == "Fail"
    }
    found = []
    for number, branch in enumerate(states[parallel]["Branches"]):
        [function] = invoked_functions(branch["States"])
        found.append((function, fail_states[f"$.results.outputs.{names[f'$[{number}]']}.Error"]))
    return found


# -- Amazon States Language ----------------------------------------------------------------
def machine(states: dict[str, State], start: str | None = None) -> State:
    """A definition, a Parallel branch or a Map processor: `states`, starting at the first."""
    return {"StartAt": start or next(iter(states)), "States": states}


def task(resource: str, **fields: Any) -> State:
    return {"Type": "Task", "Resource": resource, **fields}


def pass_state(**fields: Any) -> State:
    return {"Type": "Pass", **fields}


def fail(error: str, **fields: Any) -> State:
    return {"Type": "Fail", "Error": error, **fields}


def wait(seconds: int, **fields: Any) -> State:
    return {"Type": "Wait", "Seconds": seconds, **fields}


def parallel(*branches: State, **fields: Any) -> State:
    return {"Type": "Parallel", "Branches": list(branches), **fields}


def get_object(bucket: str, key: str, by_path: bool = False, **fields: Any) -> State:
    """A Task reading an object (it fails with S3.NoSuchKeyException while the object is
    missing), its result the object's size: `{"bytes": n}`. `by_path`: `key` is a path or
    an intrinsic function of the state input (`Key.$`)."""
    return task(
        "arn:aws:states:::aws-sdk:s3:getObject",
        Parameters={"Bucket": bucket, "Key.$" if by_path else "Key": key},
        ResultSelector={"bytes.$": "$.ContentLength"},
        **fields,
    )


def start_execution(state_machine_arn: str, integration: str = ".sync:2", **fields: Any) -> State:
    """A Task starting an execution of another state machine (`integration`: "" to start
    it, ".sync" or ".sync:2" to wait for it)."""
    parameters = fields.pop("Parameters", {})
    return task(
        f"arn:aws:states:::states:startExecution{integration}",
        Parameters={"StateMachineArn": state_machine_arn, **parameters},
        **fields,
    )


def distributed_map(bucket: str, prefix: str, processor: State, **fields: Any) -> State:
    """A Distributed Map over an S3 listing, each object run through `processor` in a
    Standard child execution."""
    return {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:listObjectsV2",
            "Parameters": {"Bucket": bucket, "Prefix": prefix},
        },
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **processor},
        **fields,
    }


# -- the image workflow's state --------------------------------------------------------------
def workflow_input(bucket: str, key: str, user: str | None = None, size: int | None = None) -> State:
    """What an execution starts with (handlers/core/workflow.py, SourceObject.to_state)."""
    state: State = {"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
    if size is not None:
        state["s3"]["object"]["size"] = size
    return state | ({"userId": user} if user else {})


def with_results(state: State, **results: Any) -> State:
    """The state with what steps found added under `results` (fileType, uniqueness, outputs)."""
    return state | {"results": (state.get("results") or {}) | results}


def written_outputs(outputs: keys.OutputKeys | None = None, bucket: str = "b", **described: Any) -> dict[str, State]:
    """`results.outputs` as ProcessFile leaves it: one entry per article output
    (renditions.RESERVED), each naming its object (`outputs`' key of it, else "k") with what
    its function says of it (`described`; a record needs bytes, width and height)."""
    return {
        kind: {"bucket": bucket, "key": getattr(outputs, kind) if outputs else "k", **described}
        for kind in renditions.RESERVED
    }
