"""Operator commands against a deployed stage: `python -m ops COMMAND --stage STAGE`.

They work on AWS with the operator's ordinary credentials (the default boto3 chain), or
against a local cloud when `AWS_ENDPOINT_URL` points at one (`python -m localcloud up`). They
use public AWS APIs only, never the local cloud's internals: what they prove locally is what
they would prove on AWS. Each command is one module here (`COMMANDS` in `__main__`): `verify`.
What commands share: `stage` (the stack's outputs, clients, the REST API, AWS errors worded for
operators), `executions` (finding, waiting on and explaining workflow executions), `notices`
(a temporary queue subscribed to the notifications topic).
"""
