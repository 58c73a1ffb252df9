"""An embedded local cloud for the image workflow: moto (S3, DynamoDB, SNS, CloudFormation,
Step Functions with its ASL interpreter) plus a local Lambda runtime, driven by the real
Serverless CLI and AWS clients. See README.md, "Run it locally", and docs/fidelity.md.

    cloud.py         the local cloud: one moto server with every adapter, the Lambda runtime,
                     IAM checks and the local routes (`/_api/`, `/_app/`, `/_console/`, ...)
    services/        what it emulates, one package per AWS service (moto's adapter for it and
                     what the local cloud adds), each saying what still differs from AWS
    tools/           the user's tools: command line, console, deploys, cost model, parity check
    faults.py        faults injected into AWS calls, for the fault tests
    persistence.py   what survives a restart (`up --state DIR`)
    clients.py       boto3 clients bound to a local cloud
"""

from pathlib import Path

# The project the local cloud deploys and runs (serverless.yml, handlers/, node_modules/).
PROJECT = Path(__file__).resolve().parent.parent
