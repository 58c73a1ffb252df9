"""The deployed REST API, served locally at `/_api/<stage>/<path>`.

moto stores API Gateway resources but does not call a Lambda proxy integration. This
module finds the method that CloudFormation created for the request's stage, path and verb,
builds the API Gateway proxy event (binary bodies base64-encoded per the API's
binaryMediaTypes) and invokes the integrated function through the local Lambda runtime.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

PREFIX = "/_api/"
_FUNCTION_IN_URI = re.compile(r"functions/(arn:[^/]+)/invocations")


def handle(request: Request, account_id: str) -> Response:
    from moto.apigateway.models import apigateway_backends
    from moto.awslambda.utils import get_backend as lambda_backend

    stage, _, path = request.path.removeprefix(PREFIX).partition("/")
    resource_path = "/" + path.strip("/")
    for region, backend in apigateway_backends[account_id].items():
        for api in backend.apis.values():
            if stage not in api.stages:
                continue
            for resource in api.resources.values():
                if resource.get_path() != resource_path:
                    continue
                method = resource.resource_methods.get(request.method)
                integration = getattr(method, "method_integration", None) if method else None
                match = _FUNCTION_IN_URI.search(getattr(integration, "uri", "") or "")
                if not match:
                    continue
                function = lambda_backend(account_id, region).get_function(match.group(1))
                event = _proxy_event(request, api, stage, resource_path)
                payload = json.loads(function.invoke(json.dumps(event), {}, {}))
                return _response(payload)
    return Response(json.dumps({"message": "Missing Authentication Token"}), 403, mimetype="application/json")


def _proxy_event(request: Request, api: Any, stage: str, resource_path: str) -> dict[str, Any]:
    content_type = request.headers.get("Content-Type", "")
    binary = any(fnmatch.fnmatch(content_type.split(";")[0], pattern) for pattern in api.binaryMediaTypes or [])
    raw = request.get_data()
    body = base64.b64encode(raw).decode() if binary else raw.decode("utf-8", errors="replace")
    return {
        "resource": resource_path,
        "path": resource_path,
        "httpMethod": request.method,
        "headers": dict(request.headers),
        "multiValueHeaders": {name: request.headers.getlist(name) for name in request.headers.keys()},  # noqa: SIM118
        "queryStringParameters": dict(request.args) or None,
        "multiValueQueryStringParameters": request.args.to_dict(flat=False) or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource_path,
            "httpMethod": request.method,
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "apiId": api.id,
            "identity": {"sourceIp": request.remote_addr or "127.0.0.1"},
        },
        "body": body if raw else None,
        "isBase64Encoded": binary and bool(raw),
    }


def _response(payload: dict[str, Any]) -> Response:
    if "statusCode" not in payload:  # the function failed: API Gateway answers 502
        return Response(json.dumps({"message": "Internal server error"}), 502, mimetype="application/json")
    body = payload.get("body") or ""
    data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
    return Response(data, payload["statusCode"], headers=payload.get("headers") or {})
