"""Faults injected into AWS API calls: what the local cloud adds to moto so tests can see the
project survive what AWS does to it (throttling, outages, a sandbox killed mid-call).

A fault names an IAM action (`states:StartExecution`, `s3:PutObject`, ...), optionally the
function whose calls it hits (`caller`, the function's name: its calls are told apart by their
role session, so IAM enforcement must be on) and a part of the resource ARN (`resource`). The
next `times` matching requests are answered with `error` in the service's own format and the
status AWS uses for it (ThrottlingException 400, SlowDown 503, TooManyRequestsException 429,
...), so SDKs raise, and retry, as they would on AWS. With `kill`, the calling function's
running worker is SIGKILLed while its request is in flight instead, and the request is not
carried out: the function crashed in the middle of the call.

Faults in function invocations and in S3 notifications live with the runtime and the S3
adapter; `/_localcloud/faults` (localcloud/cloud.py) sets all three.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from localcloud.services.iam import errors
from localcloud.services.iam.requests import Unmapped, resolve, signed_request

if TYPE_CHECKING:
    from localcloud.services.awslambda.runtime import LambdaRuntime
    from localcloud.services.iam import Iam

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
DEFAULT_ACCOUNT = "123456789012"
# The HTTP status each service answers an error with (400 for the rest).
_STATUS = {"SlowDown": 503, "ServiceUnavailable": 503, "InternalError": 500, "TooManyRequestsException": 429}
_STATUS |= {"ServiceException": 500, "InternalFailure": 500, "InternalServerError": 500}


@dataclass
class ApiFault:
    action: str
    error: str
    message: str
    times: int
    caller: str | None = None
    resource: str | None = None
    kill: bool = False

    def matches(self, action: str, resource: str, caller: str | None) -> bool:
        return (
            self.times > 0
            and self.action.lower() == action.lower()
            and (self.caller is None or self.caller == caller)
            and (self.resource is None or self.resource in resource)
        )


class ApiFaults:
    def __init__(self, iam: Iam, runtime: Callable[[], LambdaRuntime | None]) -> None:
        self.iam = iam
        self.runtime = runtime
        self._faults: list[ApiFault] = []
        self._lock = threading.Lock()

    def inject(self, fault: ApiFault) -> None:
        if fault.caller and not self.iam.enforce:
            raise ValueError("a fault for one caller's calls needs IAM enforcement (LOCALCLOUD_IAM=on)")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take(self, action: str, resource: str, caller: str | None) -> ApiFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(action, resource, caller):
                    fault.times -= 1
                    return fault
        return None

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def faulty(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self._faults:
                return app(environ, start_response)
            scope, form = signed_request(environ)
            if scope is None:
                return app(environ, start_response)
            principal = self.iam.sessions.principal(scope.access_key)
            caller = principal.session_name if principal and principal.origin == "lambda" else None
            account = principal.account if principal else DEFAULT_ACCOUNT
            request = Request(environ)
            try:
                call = resolve(request, environ, scope, account, form)
            except Unmapped:
                return app(environ, start_response)
            for check in call.checks:
                fault = self._take(check.action, check.resource, caller)
                if fault is None:
                    continue
                if fault.kill and caller:
                    runtime = self.runtime()
                    if runtime:
                        runtime.kill_running(caller)
                text = f"{fault.message} (fault injected by localcloud)"
                status = _STATUS.get(fault.error, 400)
                return errors.service_error(call, fault.error, text, request.method, status)(environ, start_response)
            return app(environ, start_response)

        return faulty
