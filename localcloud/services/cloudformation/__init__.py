"""CloudFormation, emulated: moto's CloudFormation, adapted (adapter.py, each gap with its test).

    adapter.py       ValidateTemplate as AWS (errors only, linted ahead), Fn::Sub with variable
                     maps, outputs after a change set, resources created as the stack's service
                     role (checked against it: services/iam/stack_resources.py)

Differs from AWS: a failed stack is not rolled back (what was done before the failure stays
done; tests/test_deployer.py); resource types moto lacks are created through their own
service's API by that service's adapter (Cognito, CloudWatch alarms, CloudFront).
"""
