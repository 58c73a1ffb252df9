"""AccessDenied as each service writes it, so SDKs raise the error they raise on AWS
(botocore reads the code from these bodies and headers)."""

from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from .requests import Call, Check
from .sessions import Principal


def message(principal: Principal, check: Check, explicit: bool, service: str) -> str:
    """AWS's wording; S3 quotes the resource, SNS spells its prefix in capitals."""
    action = "SNS:" + check.action.split(":", 1)[1] if check.action.startswith("sns:") else check.action
    resource = f'"{check.resource}"' if service == "s3" else check.resource
    reason = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {reason}"


def denied(call: Call, text: str, method: str) -> Response:
    # DynamoDB and Step Functions answer AccessDeniedException with 400; SQS, even in JSON, with 403.
    status = 400 if call.protocol == "json" and call.service != "sqs" else 403
    if call.error_code == "KMSAccessDenied":  # SNS passing on KMS's refusal of the topic's key
        status = 400
    return service_error(call, call.error_code, text, method, status)


def service_error(call: Call, code: str, text: str, method: str, status: int) -> Response:
    """An error answer in the service's own format (AccessDenied, or an injected fault such as
    ThrottlingException)."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if call.protocol == "rest-xml":  # S3: no body for HEAD, as S3 answers it
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(text)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>localcloud</HostId></Error>"
        )
        return Response("" if method == "HEAD" else body, status, headers=headers, mimetype="application/xml")
    if call.protocol == "json":
        key = call.extra.get("message_key", "message")
        json_code = "AccessDeniedException" if code == "AccessDenied" else code
        payload = {"__type": f"com.amazon.coral.service#{json_code}", key: text}
        if call.service == "sqs":  # SQS's JSON protocol names the error in this header too
            headers["x-amzn-query-error"] = f"{code};Sender"
        return Response(json.dumps(payload), status, headers=headers, mimetype="application/x-amz-json-1.0")
    if call.protocol == "rest-json":
        headers["x-amzn-ErrorType"] = "AccessDeniedException" if code == "AccessDenied" else code
        payload = {"Type": "User", "Message": text}
        return Response(json.dumps(payload), status, headers=headers, mimetype="application/json")
    body = (  # query protocol (SNS, STS)
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(text)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(body, status, headers=headers, mimetype="text/xml")
