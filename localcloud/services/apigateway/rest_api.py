"""The deployed REST API, served locally at `/_api/<stage>/<path>`, and, as API Gateway routes
it, to requests whose Host is the API's own (`<api id>.execute-api.<region>.amazonaws.com`,
the `ServiceEndpoint` output) at `/<stage>/<path>`: a client that sends the very request it
would send to AWS to the local cloud's address instead (as `curl --connect-to` does) reaches
the same API.

moto stores API Gateway resources but does not call a Lambda proxy integration. This
module finds the method that CloudFormation created for the request's stage, path and verb
(a path template's `{name}` segments matched as API Gateway matches them: a literal resource
wins over a parameter; the values in the event's pathParameters, a repeated query parameter's
last value in queryStringParameters and all of them in multiValueQueryStringParameters),
applies the stage's throttling and the method's Cognito authoriser (localcloud/services/apigateway/authorizer.py)
as API Gateway does, builds the API Gateway proxy event (binary bodies base64-encoded per the
API's binaryMediaTypes, the verified claims in requestContext.authorizer) and invokes the
integrated function through the local Lambda runtime.

Stage throttling is a token bucket per stage (API Gateway's algorithm): the stage's `*/*`
method settings give its rate (tokens per second) and burst (the bucket's size); a request
that finds the bucket empty gets 429 `{"message":"Too Many Requests"}`. Per-method settings,
usage plans and the account-level limit are not emulated. Authorisation types other than
NONE and COGNITO_USER_POOLS (AWS_IAM, Lambda authorisers) are not emulated either: such a
method answers 500 and says so, rather than letting every caller through.

When Lambda refuses to run the function (throttled: over its reserved concurrency), the
request gets 500 `{"message": "Internal server error"}`, as API Gateway answers a Lambda call
that failed.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from . import authorizer
from .adapter import ALL_METHODS

PREFIX = "/_api/"
_FUNCTION_IN_URI = re.compile(r"functions/(arn:[^/]+)/invocations")
_EXECUTE_API_HOST = re.compile(r"^([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?::\d+)?$")


class TokenBucket:
    """API Gateway's throttling: `burst` tokens at most, `rate` new ones per second, one per request."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.updated = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


_buckets: dict[tuple[str, str, str], TokenBucket] = {}
_buckets_lock = threading.Lock()


def api_of_host(host: str | None) -> str | None:
    """The REST API id a request's Host header names (`<id>.execute-api.<region>.amazonaws.com`)."""
    match = _EXECUTE_API_HOST.match((host or "").lower())
    return match.group(1) if match else None


def handle(request: Request, account_id: str, api_id: str | None = None) -> Response:
    """A request to `/_api/<stage>/<path>` (any API with that stage), or, with `api_id` (from
    the Host header), to `/<stage>/<path>` of that API."""
    from moto.apigateway.models import apigateway_backends
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.utils import get_backend as lambda_backend

    routed = request.path.lstrip("/") if api_id else request.path.removeprefix(PREFIX)
    stage, _, path = routed.partition("/")
    request_path = "/" + path.strip("/")
    for region, backend in apigateway_backends[account_id].items():
        for api in backend.apis.values():
            if stage not in api.stages or (api_id and api.id != api_id):
                continue
            for resource, parameters in matching_resources(api.resources.values(), request_path):
                method = resource.resource_methods.get(request.method)
                integration = getattr(method, "method_integration", None) if method else None
                match = _FUNCTION_IN_URI.search(getattr(integration, "uri", "") or "")
                if not match:
                    continue
                if not _throttle(api, stage).take():
                    return _gateway_error(429, "Too Many Requests", "TooManyRequestsException")
                event = _proxy_event(request, api, stage, request_path, resource.get_path(), parameters)
                denied = _authorize(request, api, method, event)
                if denied is not None:
                    return denied
                function = lambda_backend(account_id, region).get_function(match.group(1))
                try:
                    payload = json.loads(function.invoke(json.dumps(event), {}, {}))
                except LambdaClientError:
                    # Lambda refused the invocation (throttled: TooManyRequestsException), so
                    # API Gateway's call to it failed: it answers 500, as for any integration error.
                    return _gateway_error(500, "Internal server error", "InternalServerErrorException")
                return _response(payload)
    return Response(json.dumps({"message": "Missing Authentication Token"}), 403, mimetype="application/json")


def _template(resource_path: str) -> tuple[re.Pattern[str], int]:
    """A resource path as a pattern (`/photos/{id}` matches one segment, `{proxy+}` the rest)
    and how specific it is (literal segments count most, then single-segment parameters)."""
    pattern, rank = "", 0
    for segment in resource_path.strip("/").split("/") if resource_path != "/" else []:
        greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
        single = re.fullmatch(r"\{(\w+)\}", segment)
        if greedy:
            pattern += f"/(?P<{greedy.group(1)}>.+)"
        elif single:
            pattern += f"/(?P<{single.group(1)}>[^/]+)"
            rank += 1
        else:
            pattern += "/" + re.escape(segment)
            rank += 100
    return re.compile((pattern or "/") + "$"), rank


def matching_resources(resources: Any, request_path: str) -> list[tuple[Any, dict[str, str] | None]]:
    """The resources whose path matches a request's, most specific first, as API Gateway picks
    them (`/photos/recent` before `/photos/{id}`), each with its path parameters (None when it
    has none, as the proxy event says)."""
    found = []
    for resource in resources:
        pattern, rank = _template(resource.get_path())
        match = pattern.match(request_path)
        if match:
            found.append((rank, resource, match.groupdict() or None))
    found.sort(key=lambda entry: -entry[0])
    return [(resource, parameters) for _, resource, parameters in found]


def _throttle(api: Any, stage: str) -> TokenBucket:
    """The stage's bucket, made anew when its settings change (a new deployment)."""
    settings = api.stages[stage].method_settings.get(ALL_METHODS, {})
    rate, burst = settings.get("throttlingRateLimit"), settings.get("throttlingBurstLimit")
    key = (api.id, stage, f"{rate}/{burst}")
    with _buckets_lock:
        if key not in _buckets:
            # Without settings, API Gateway's account-level default (10,000 per second, 5,000 burst).
            _buckets[key] = TokenBucket(10000.0 if rate is None else float(rate), 5000 if burst is None else int(burst))
        return _buckets[key]


def _authorize(request: Request, api: Any, method: Any, event: dict[str, Any]) -> Response | None:
    """None when the method lets the request through (the claims then in the event), else the answer."""
    kind = (method.authorization_type or "NONE").upper()
    if kind == "NONE":
        return None
    found = api.authorizers.get(method.authorizer_id or "")
    if kind != "COGNITO_USER_POOLS" or found is None or (found.type or "").upper() != "COGNITO_USER_POOLS":
        return Response(
            json.dumps({"message": f"localcloud does not emulate this method's authorisation ({kind})"}),
            500,
            mimetype="application/json",
        )
    try:
        header = authorizer.identity_header(found.identity_source)
        claims = authorizer.authorize(
            request.headers.get(header),
            found.provider_arns or [],
            found.identity_validation_expression,
            method.authorization_scopes,
        )
    except authorizer.Unauthorized as refused:
        return _gateway_error(401, refused.message, "UnauthorizedException")
    event["requestContext"]["authorizer"] = {"claims": claims}
    return None


def _gateway_error(status: int, message: str, error_type: str) -> Response:
    """An answer from API Gateway itself (the function is not invoked), as it words it."""
    headers = {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())}
    return Response(json.dumps({"message": message}), status, headers=headers, mimetype="application/json")


def _proxy_event(
    request: Request,
    api: Any,
    stage: str,
    request_path: str,
    resource_path: str,
    path_parameters: dict[str, str] | None,
) -> dict[str, Any]:
    content_type = request.headers.get("Content-Type", "")
    binary = any(fnmatch.fnmatch(content_type.split(";")[0], pattern) for pattern in api.binaryMediaTypes or [])
    raw = request.get_data()
    body = base64.b64encode(raw).decode() if binary else raw.decode("utf-8", errors="replace")
    multi_query = request.args.to_dict(flat=False)
    return {
        "resource": resource_path,
        "path": request_path,
        "httpMethod": request.method,
        "headers": dict(request.headers),
        "multiValueHeaders": {name: request.headers.getlist(name) for name in request.headers.keys()},  # noqa: SIM118
        # A parameter given more than once: its last value (multiValue... has them all), as API Gateway does.
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource_path,
            "path": f"/{stage}{request_path}",
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
    # API Gateway sends both forms of the proxy answer's headers; a name in both gets the values of each.
    headers = Headers(payload.get("headers") or {})
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        for value in values:
            headers.add(name, value)
    if "Content-Type" not in headers:  # API Gateway's default for a proxy answer that names none
        headers["Content-Type"] = "application/json"
    return Response(data, payload["statusCode"], headers=headers)
