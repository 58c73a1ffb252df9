"""IAM in the local cloud: every AWS call a function or the state machine makes is checked
against its deployed role, as AWS does, and what each role used is recorded.

How: the local Lambda runtime runs each function with temporary credentials of its execution
role (an STS session in moto, as Lambda does), and the Step Functions interpreter calls its
Task integrations with credentials of the state machine's role. A WSGI layer in front of moto
(`Iam.wrap`) maps the request's SigV4 access key to that role and the request to the IAM
actions and resource ARNs AWS authorises (`requests.py`: S3 bucket and object ARNs, DynamoDB
table and index ARNs, the SNS topic, the SQS queue, the state machine or execution, the Lambda
function; for an operator's tools, the CloudFormation stack and the Cognito user pool), and
evaluates the role's identity policies, as CloudFormation created them in moto's IAM (inline
and attached managed policies, read at each call: an edit through the IAM API applies at
once). A denied call gets AccessDenied in the service's own error format (`errors.py`); Lambda
writes a function's logs only if its role allows logs:CreateLogStream and logs:PutLogEvents.
What a role session of anyone else (`aws sts assume-role`: an operator) used is recorded apart
(`used_by_sessions`), so that it never counts as a function's use.
S3 answers 404 for a missing object only to a caller that may also s3:ListBucket, 403 otherwise.
A presigned URL a role session signed is checked as S3 checks it (`presigned.py`: its expiry, and
its signature, so it works only for the verb, key and query it was signed for).

A deployer that is a role session (a CI role: tests/test_deployer.py) is checked the same way,
including iam:PassRole of the service role a stack is given; the resources CloudFormation then
creates as that role are checked against it (`stack_resources.py`, services/cloudformation/adapter.py).
Not checked: the calls of any key that is not a role session (the local cloud's own keys: an
admin here) and S3 notifications, API Gateway and Step Functions invoking a function (on AWS
those go through the function's resource policy, which is not evaluated). Calls the local cloud
cannot map to an IAM action (`requests.Unmapped`: another service, or an operation of these not
listed there) are refused with a message saying so, rather than let through.

Evaluated: Allow/Deny, Action/NotAction (case-insensitive), Resource/NotResource, `*` and `?`
wildcards, explicit Deny first (`policy.py`, moto's evaluator wrapped); conditions with the
String*, Arn*, Bool and Null operators and `...IfExists`, on these keys only: aws:PrincipalArn,
aws:PrincipalAccount, aws:PrincipalType, aws:userid, aws:RequestedRegion, aws:SecureTransport
(true: SDK calls to AWS use TLS), and iam:PassedToService where a service is given a role
(CloudFormation's RoleARN; a role CloudFormation gives a function or a state machine); for
what CloudFormation does as a stack's service role, aws:ResourceTag/aws:cloudformation:stack-name
(the stack's own resources carry it).
Not evaluated: every other condition key (absent from the context, so a condition on it does
not match: e.g. s3:prefix, s3:x-amz-acl, s3:ExistingObjectTag/*, dynamodb:LeadingKeys,
dynamodb:Attributes, aws:SourceIp, aws:SourceVpce, aws:CurrentTime, other aws:ResourceTag/*,
aws:RequestTag/*, aws:PrincipalTag/*, aws:CalledVia, aws:ViaAWSService, kms:*); Numeric and
Date operators and ForAnyValue/ForAllValues (a policy using them is refused with a message);
policy variables (`${aws:username}` stays literal); resource-based policies (bucket, topic,
function and key policies), permissions boundaries, session policies, service control
policies; KMS key use, but for one case: publishing to an SNS topic encrypted with a customer
managed key whose key policy leaves its use to IAM (it lets the account's root use it) also
needs kms:GenerateDataKey* and kms:Decrypt on that key, as on AWS (`topic_key_checks`); the
role's trust policy.

`LOCALCLOUD_IAM=off` turns enforcement off (the tests never do).

    adapter.py          moto's IAM adapted: template roles' policies as JSON, replaced on update
    requests.py         each request's IAM actions and resource ARNs, per service
    policy.py           identity-policy evaluation (moto's, fixed where it departs from AWS)
    sessions.py         role sessions: the temporary credentials of functions and the state machine
    presigned.py        presigned S3 URLs' signature and expiry
    stack_resources.py  what CloudFormation asks IAM for as a stack's service role
    unused.py           granted but unused permissions (Access Analyzer's report)
    errors.py           AccessDenied as each service writes it

Tests: tests/test_iam_enforcement.py, test_iam_policy.py, test_iam_unused.py, test_deployer.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from werkzeug.wrappers import Request

from . import errors, policy, presigned
from .requests import Call, Check, Unmapped, resolve, signed_request
from .sessions import Credentials, Principal, Sessions

__all__ = ["Credentials", "Grant", "Iam", "Principal", "enabled_by_default"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_PROTOCOLS = {"s3": "rest-xml", "dynamodb": "json", "states": "json", "lambda": "rest-json", "sqs": "json"}
RECORDED_ORIGINS = ("lambda", "states")
_MAP = "localcloud/services/iam/requests.py"  # the deployed stack's own principals


@lru_cache(maxsize=256)
def _statements(documents: tuple[str, ...]) -> list[policy.Statement]:
    """Parsed once per set of policy texts (a role's policies are read at every call, so an
    edit applies at once, but parsing them at every call was much of a call's cost)."""
    return policy.statements(documents)


def enabled_by_default() -> bool:
    return os.environ.get("LOCALCLOUD_IAM", "on").lower() not in ("off", "0", "false", "no")


@dataclass(frozen=True)
class Grant:
    """One granted (action pattern, resource pattern) pair of a role, as its policy writes them."""

    role: str  # role name
    action: str
    resource: str


@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str
    reason: str


class Iam:
    def __init__(self, enforce: bool | None = None) -> None:
        self.enforce = enabled_by_default() if enforce is None else enforce
        self.sessions = Sessions()
        self._lock = threading.Lock()
        self.used: set[Grant] = set()
        # What other role sessions (`aws sts assume-role`: an operator's tools) used, kept
        # apart: a test assuming a function's role must not count as that function's use.
        self.used_by_sessions: set[Grant] = set()
        self.denials: list[Denial] = []
        self._observers: list[Callable[[Principal, Call, dict[str, Any]], None]] = []

    def observe(self, observer: Callable[[Principal, Call, dict[str, Any]], None]) -> None:
        """Calls `observer(principal, call, environ)` for every call a role makes that is let
        through (the cost meter counts them)."""
        self._observers.append(observer)

    # -- credentials ----------------------------------------------------------------------
    def function_credentials(self, function: Any) -> Credentials | None:
        """A function's execution-role credentials (None when enforcement is off)."""
        if not self.enforce:
            return None
        return self.sessions.issue(function.role, function.function_name, "lambda", function.region)

    def state_machine_credentials(self, role_arn: str, region: str) -> Credentials | None:
        if not self.enforce or not role_arn:
            return None
        return self.sessions.issue(role_arn, f"states-{uuid.uuid5(uuid.NAMESPACE_URL, role_arn).hex}", "states", region)

    # -- decisions ------------------------------------------------------------------------
    def statements(self, principal: Principal) -> list[policy.Statement]:
        from moto.iam.models import iam_backends

        try:
            role = iam_backends[principal.account][principal.partition].get_role(principal.role_name)
        except Exception:  # the role is gone: nothing is allowed
            return []
        documents: list[Any] = list(role.policies.values())
        for managed in role.managed_policies.values():
            documents.append(next(v.document for v in managed.versions if v.is_default))
        return _statements(tuple(d if isinstance(d, str) else json.dumps(d, sort_keys=True) for d in documents))

    def context(self, principal: Principal, region: str) -> dict[str, str]:
        return {
            "aws:PrincipalArn": principal.role_arn,
            "aws:PrincipalAccount": principal.account,
            "aws:PrincipalType": "AssumedRole",
            "aws:userid": f"{principal.role_name}:{principal.session_name}",
            "aws:RequestedRegion": region,
            "aws:SecureTransport": "true",
        }

    def authorize(
        self, principal: Principal, checks: list[Check], region: str, extra: dict[str, str] | None = None
    ) -> tuple[Check, bool] | None:
        """None if every check is allowed (and records what allowed it); otherwise the first
        denied check and whether a Deny statement denied it explicitly. `extra`: condition keys
        the caller knows for this request (CloudFormation's iam:PassedToService, ...)."""
        statements = self.statements(principal)
        context = self.context(principal, region) | (extra or {})
        decisions = [(check, policy.evaluate(statements, check.action, check.resource, context)) for check in checks]
        for check, decision in decisions:
            if not decision.allowed:
                reason = "explicit deny" if decision.explicit_deny else "no identity-based policy allows it"
                with self._lock:
                    self.denials.append(Denial(principal.arn, check.action, check.resource, reason))
                return check, decision.explicit_deny
        used = self.used if principal.origin in RECORDED_ORIGINS else self.used_by_sessions
        with self._lock:
            for _, decision in decisions:
                used.update(Grant(principal.role_name, a, r) for a, r in decision.grants)
        return None

    def may_write_logs(self, function: Any) -> bool:
        """Lambda sends a function's output to CloudWatch Logs with the execution role: without
        logs:CreateLogStream and logs:PutLogEvents on its log group, the logs are dropped."""
        credentials = self.function_credentials(function)
        if credentials is None:
            return True
        principal = self.sessions.principal(credentials.access_key)
        assert principal is not None
        stream = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        arn = f"arn:aws:logs:{function.region}:{principal.account}:log-group:{function.logs_group_name}"
        checks = [Check("logs:CreateLogStream", f"{arn}:log-stream:{stream}")]
        checks.append(Check("logs:PutLogEvents", f"{arn}:log-stream:{stream}"))
        return self.authorize(principal, checks, function.region) is None

    # -- the WSGI layer in front of moto --------------------------------------------------
    def wrap(self, app: WsgiApp) -> WsgiApp:
        def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self.enforce:
                return app(environ, start_response)
            scope, form = signed_request(environ)
            principal = self.sessions.principal(scope.access_key) if scope else None
            if principal is None or scope is None:
                return app(environ, start_response)
            request = Request(environ)
            if scope.service == "s3" and presigned.is_presigned(request):
                refused_url = presigned.refusal(request, environ, self.sessions.secret(scope.access_key) or "")
                if refused_url:
                    code, text = refused_url
                    s3_call = Call("s3", "?", "rest-xml", [])
                    return errors.service_error(s3_call, code, text, request.method, 403)(environ, start_response)
            try:
                call = resolve(request, environ, scope, principal.account, form)
            except Unmapped as unknown:
                call = Call(scope.service, "?", _PROTOCOLS.get(scope.service, "query"), [])
                text = f"localcloud cannot tell which IAM action {unknown} needs, so it refuses it: map it in {_MAP}"
                return errors.denied(call, text, request.method)(environ, start_response)
            except policy.UnsupportedPolicy as unsupported:
                call = Call(scope.service, "?", _PROTOCOLS.get(scope.service, "query"), [])
                return errors.denied(call, f"localcloud: {unsupported}", request.method)(environ, start_response)
            if call.service == "sns" and call.operation in ("Publish", "PublishBatch"):
                call.checks += topic_key_checks(call.checks[0].resource, principal.account, scope.region)
            try:
                refused = self.authorize(principal, call.checks, scope.region, call.extra.get("context"))
            except policy.UnsupportedPolicy as unsupported:
                text = f"localcloud: {unsupported} (role {principal.role_name}); LOCALCLOUD_IAM=off turns checks off"
                return errors.denied(call, text, request.method)(environ, start_response)
            if refused:
                check, explicit = refused
                if call.service == "sns" and check.action.startswith("kms:"):
                    call.error_code = "KMSAccessDenied"
                text = errors.message(principal, check, explicit, call.service)
                return errors.denied(call, text, request.method)(environ, start_response)
            for observer in self._observers:
                observer(principal, call, environ)
            if call.missing_needs:
                return self._missing_object_rule(app, environ, start_response, principal, call, scope.region)
            return app(environ, start_response)

        return checked

    def _missing_object_rule(
        self,
        app: WsgiApp,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        principal: Principal,
        call: Call,
        region: str,
    ) -> Iterable[bytes]:
        """S3 tells a caller that an object does not exist (404) only if it may list the bucket."""
        answer: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            answer.update(status=status, headers=headers)
            return lambda data: None

        body = app(environ, capture)
        assert call.missing_needs is not None
        if answer.get("status", "").startswith("404") and self.authorize(principal, [call.missing_needs], region):
            if hasattr(body, "close"):
                body.close()
            return errors.denied(call, "Access Denied", environ["REQUEST_METHOD"])(environ, start_response)
        start_response(answer["status"], answer["headers"])
        return body


def topic_key_checks(topic_arn: str, account: str, region: str) -> list[Check]:
    """What publishing to an encrypted topic also needs: SNS generates a data key with the
    publisher's permissions. An AWS managed key (alias/aws/sns) allows every principal of the
    account through its key policy; a customer managed key whose policy delegates to IAM (its
    account's root may use it) needs the two actions in the publisher's own policies."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(topic_arn)
    key_id = str(getattr(topic, "kms_master_key_id", "") or "")
    if not key_id or key_id.startswith("alias/aws/") or ":alias/aws/" in key_id:
        return []
    try:
        key = kms_backends[account][region].describe_key(key_id)
    except Exception:  # a key that does not exist: SNS fails the publish itself (KMSNotFound)
        return []
    root = {f"arn:aws:iam::{account}:root", account}
    # moto hints a JSON text, but a key its CloudFormation made keeps the template's KeyPolicy object.
    key_policy: str | dict[str, Any] = key.policy
    document = key_policy if isinstance(key_policy, dict) else json.loads(key_policy or "{}")
    statements = policy.as_list(document.get("Statement", []))
    delegates = any(
        s.get("Effect") == "Allow" and root & set(policy.as_list(s["Principal"].get("AWS")))
        for s in statements
        if isinstance(s, dict) and isinstance(s.get("Principal"), dict)
    )
    if not delegates:
        return []
    return [Check("kms:GenerateDataKey", key.arn), Check("kms:Decrypt", key.arn)]
