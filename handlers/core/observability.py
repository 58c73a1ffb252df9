"""One structured JSON logger for every function (service name and level from the
environment: POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL)."""

from aws_lambda_powertools import Logger

logger = Logger()
