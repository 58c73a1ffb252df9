"""Lambda, emulated: moto keeps functions, layers and their configuration; the local cloud runs them.

    adapter.py       moto's Lambda adapted: invocations run in the local runtime, Unhandled errors,
                     layers and architectures from templates, asynchronous invocation with retries
                     and destinations, reserved concurrency throttling
    runtime.py       warm workers per function, timeouts, logs, what each invocation used
    worker.py        one worker: Lambda's Python runtime loop, errors and context
    limits.py        the function's memorySize (and, on request, its CPU share) per worker
    layers.py        a function's layers unpacked in order as its /opt
    interpreter.py   the runtime's own CPython 3.13, fetched once per machine

What a worker runs is what Lambda runs: the deployed zip (/var/task) and layers (/opt) on the
runtime's own Python, for the CPU the stage was built for (tests/test_localcloud_runtime.py,
tests/test_parity.py for arm64 under qemu).

Differs from AWS:
- a worker is a process, not a micro-VM: its /var/task (one folder per distinct package,
  shared by the functions built from it) is not read-only, and its /tmp is this machine's, not
  512 MB of its own (no test: nothing here writes to either beyond what Lambda allows);
- the memory limit covers the worker process only, and a cgroup v1 charges the page cache of
  its /tmp files (limits.py; tests/test_memory_fits.py);
- workers run at this machine's speed, not memorySize's CPU share, unless
  LOCALCLOUD_CPU=lambda (limits.py); the cost model predicts Lambda's durations instead
  (localcloud/tools/cost.py; tests/test_cost.py);
- EventBridge destinations are not emulated (adapter.py).
"""
