"""The AWS services the local cloud emulates, one package per service, as moto is laid out.

Each package holds moto's adapter for that service (`adapter.py`: where moto falls short of AWS
for this stack, each gap with the test that shows it closed) and what the local cloud adds
beside moto (the Lambda runtime, the REST API, alarm evaluation, ...). Each package's docstring
says what it emulates, what still differs from AWS, and the test that shows each difference.

    awslambda/       Lambda: the runtime and its workers, memory limits, layers, the runtime's Python
    apigateway/      API Gateway: the REST API served locally, its Cognito authoriser, throttling
    stepfunctions/   Step Functions: moto's interpreter, adapted; Express executions from their logs
    s3/              S3: notifications, presigned POST policies
    dynamodb/        DynamoDB: partition-sized queries, conditional writes under a lock
    cognitoidp/      Cognito user pools: pools from templates, real SRP sign-in
    cloudformation/  CloudFormation: templates as AWS reads them, stacks deployed with a service role
    cloudfront/      CloudFront: the app's distribution, and the app served from its bucket
    cloudwatch/      CloudWatch: alarms from templates and their evaluation, the services' metrics
    events/          EventBridge: schedules fired at their times
    iam/             IAM: every call a function or the state machine makes, checked against its role

`adapters.install()` applies every adapter to moto once per process. Everything not named in
these packages is moto as it is. The user's tools (command line, console, cost model, deploys)
are in `localcloud/tools/`; the local cloud itself (one moto server plus the above) is
`localcloud/cloud.py`.
"""
