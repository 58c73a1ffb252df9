"""What the console's graph shows for each state, from an execution history."""

from localcloud.console import state_summary


def event(event_id: int, previous: int, kind: str, **details):
    found = {"id": event_id, "previousEventId": previous, "type": kind}
    if details:
        key = {
            "TaskStateEntered": "stateEnteredEventDetails",
            "TaskStateExited": "stateExitedEventDetails",
            "FailStateEntered": "stateEnteredEventDetails",
            "PassStateEntered": "stateEnteredEventDetails",
            "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
            "ExecutionFailed": "executionFailedEventDetails",
        }[kind]
        found[key] = details
    return found


HISTORY = [
    event(1, 0, "ExecutionStarted"),
    event(2, 1, "TaskStateEntered", name="Copy", input="{}"),
    event(3, 1, "TaskStateEntered", name="Resize", input="{}"),
    event(4, 2, "LambdaFunctionScheduled"),
    event(5, 3, "LambdaFunctionScheduled"),
    event(6, 5, "LambdaFunctionFailed", error="ClientError", cause="slow down"),
    event(7, 4, "LambdaFunctionFailed", error="ClientError", cause="down"),  # interleaved branches
    event(8, 6, "LambdaFunctionScheduled"),
    event(9, 8, "LambdaFunctionSucceeded"),
    event(10, 9, "TaskStateExited", name="Resize", output='{"ok": true}'),
    event(11, 7, "TaskStateExited", name="Copy", output='{"Error": "ClientError"}'),
    event(12, 11, "PassStateEntered", name="CopyFailed", input="{}"),
    event(13, 12, "FailStateEntered", name="QuitCopy", input="{}"),
    event(14, 13, "ExecutionFailed", error="ClientError", cause="down"),
]


def test_statuses_follow_what_happened_to_each_state():
    states = state_summary(HISTORY, "FAILED")
    assert states["Resize"]["status"] == "retried" and states["Resize"]["attempts"] == 2
    assert states["Resize"]["output"] == {"ok": True}
    assert states["Copy"]["status"] == "caught" and states["Copy"]["error"] == "ClientError"
    assert states["Copy"]["cause"] == "down"  # not the other branch's failure
    assert states["QuitCopy"]["status"] == "failed" and states["QuitCopy"]["error"] == "ClientError"
    assert "NeverReached" not in states


def test_a_state_still_open_is_running_or_failed_by_the_execution_status():
    opened = HISTORY[:4]
    assert state_summary(opened, "RUNNING")["Copy"]["status"] == "running"
    assert state_summary(opened, "TIMED_OUT")["Copy"]["status"] == "failed"
