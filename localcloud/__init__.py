"""An embedded local cloud for the image workflow: moto (S3, DynamoDB, SNS, CloudFormation,
Step Functions with its ASL interpreter) plus a local Lambda runtime, driven by the real
Serverless CLI and AWS clients. See README.md, "Run it locally"."""
