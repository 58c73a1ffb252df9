"""Step Functions, emulated: moto's ASL interpreter runs the deployed state machines.

    adapter.py       moto's Step Functions adapted (each gap with its test): machines from
                     templates execute, Retry waits through a clock, Tasks called with the
                     state machine's role, Express executions, execution logs, `.sync` child
                     executions, Distributed Map (S3 listings, tolerated failures, result
                     files), RedriveExecution, the events the metrics need
    express.py       Express executions read where AWS keeps them: the state machine's log group

Differs from AWS: the interpreter is moto's; intrinsic functions and JSONata beyond what the
workflows here use are whatever moto supports; state transitions have no account quota (no
ExecutionThrottled); Retry waits are recorded and scaled rather than slept in tests
(adapter.py; tests/test_stepfunctions_adapter.py, tests/test_workflow.py).
"""
