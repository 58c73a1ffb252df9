"""The policy evaluator behind the local cloud's IAM checks (localcloud/services/iam/policy.py), where it
departs from moto's, and the unused-permission report's logic (localcloud/services/iam/unused.py)."""

from __future__ import annotations

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from localcloud.services.iam import Grant, policy, unused

BUCKET = "arn:aws:s3:::photos"


def decide(statements: list[dict], action: str, resource: str, context: dict | None = None) -> policy.Decision:
    return policy.evaluate(policy.statements([{"Statement": statements}]), action, resource, context)


def allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize(
    ("statement", "action", "resource", "allowed"),
    [
        # moto compares actions case-sensitively; AWS does not (resources stay case-sensitive)
        (allow("s3:getobject", f"{BUCKET}/*"), "s3:GetObject", f"{BUCKET}/a.jpg", True),
        (allow("s3:GetObject", f"{BUCKET}/Uploads/*"), "s3:GetObject", f"{BUCKET}/uploads/a.jpg", False),
        # `?` is one character
        (allow("s3:GetObject", f"{BUCKET}/u?/*"), "s3:GetObject", f"{BUCKET}/u1/a.jpg", True),
        (allow("s3:GetObject", f"{BUCKET}/u?/*"), "s3:GetObject", f"{BUCKET}/u12/a.jpg", False),
        # a `.` is a dot, not any character
        (allow("s3:GetObject", f"{BUCKET}/a.jpg"), "s3:GetObject", f"{BUCKET}/aXjpg", False),
        # `*` crosses `/` and `:`
        (allow("lambda:InvokeFunction", "arn:aws:lambda:*:function:f*"), "lambda:InvokeFunction",
         "arn:aws:lambda:us-east-1:123456789012:function:f:prod", True),
        # NotAction / NotResource
        ({"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}, "s3:DeleteObject", f"{BUCKET}/a", False),
        ({"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/private/*"}, "s3:GetObject",
         f"{BUCKET}/private/a", False),
        ({"Effect": "Allow", "Action": "s3:*", "NotResource": f"{BUCKET}/private/*"}, "s3:GetObject",
         f"{BUCKET}/public/a", True),
    ],
)  # fmt: skip
def test_actions_and_resources_match_as_on_aws(statement, action, resource, allowed):
    assert decide([statement], action, resource).allowed is allowed


def test_moto_alone_gets_these_wrong():
    """Why the evaluator wraps moto's: the cases above that moto decides differently."""

    def moto(statement: dict, action: str, resource: str) -> PermissionResult:
        import json

        return IAMPolicy(json.dumps({"Statement": [statement]})).is_action_permitted(action, resource)

    assert moto(allow("s3:getobject", "*"), "s3:GetObject", "x") == PermissionResult.NEUTRAL
    assert (
        moto(allow("s3:GetObject", f"{BUCKET}/a.jpg"), "s3:GetObject", f"{BUCKET}/aXjpg") == PermissionResult.PERMITTED
    )
    deny_outside = {"Effect": "Deny", "Action": "s3:*", "NotResource": f"{BUCKET}/*"}
    assert moto(deny_outside, "s3:GetObject", "arn:aws:s3:::other/a") != PermissionResult.DENIED
    assert decide([allow("s3:*", "*"), deny_outside], "s3:GetObject", "arn:aws:s3:::other/a").explicit_deny


def test_an_explicit_deny_wins_and_the_allowing_pairs_are_named():
    statements = [
        allow(["s3:GetObject", "s3:PutObject"], [f"{BUCKET}/*", "arn:aws:s3:::other/*"]),
        allow("s3:Get*", f"{BUCKET}/uploads/*"),
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"{BUCKET}/secret/*"},
    ]
    decision = decide(statements, "s3:GetObject", f"{BUCKET}/uploads/a.jpg")
    assert decision.allowed
    assert sorted(decision.grants) == [("s3:Get*", f"{BUCKET}/uploads/*"), ("s3:GetObject", f"{BUCKET}/*")]
    denied = decide(statements, "s3:GetObject", f"{BUCKET}/secret/a.jpg")
    assert (denied.allowed, denied.explicit_deny, denied.grants) == (False, True, [])
    assert decide(statements, "s3:DeleteObject", f"{BUCKET}/a.jpg") == policy.Decision(False)


def test_conditions_are_evaluated_on_the_keys_the_local_cloud_knows():
    context = {"aws:PrincipalAccount": "123456789012", "aws:SecureTransport": "true"}
    same_account = allow("s3:GetObject", "*", Condition={"StringEquals": {"aws:PrincipalAccount": "123456789012"}})
    other_account = allow("s3:GetObject", "*", Condition={"StringEquals": {"aws:PrincipalAccount": "999999999999"}})
    assert decide([same_account], "s3:GetObject", "x", context).allowed
    assert not decide([other_account], "s3:GetObject", "x", context).allowed
    # a failing condition on one Allow does not cancel another Allow (moto turns it into a Deny)
    assert decide([other_account, allow("s3:GetObject", "*")], "s3:GetObject", "x", context).allowed
    tls_only = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert decide([allow("s3:*", "*"), tls_only], "s3:GetObject", "x", context).allowed
    # a key the local cloud does not provide is absent: positive operators fail, IfExists holds
    on_prefix = allow("s3:ListBucket", "*", Condition={"StringLike": {"s3:prefix": "uploads/*"}})
    if_exists = allow("s3:ListBucket", "*", Condition={"StringLikeIfExists": {"s3:prefix": "uploads/*"}})
    assert not decide([on_prefix], "s3:ListBucket", BUCKET, context).allowed
    assert decide([if_exists], "s3:ListBucket", BUCKET, context).allowed


def test_a_condition_it_cannot_evaluate_is_refused_by_name():
    statement = allow("s3:GetObject", "*", Condition={"NumericLessThan": {"s3:max-keys": "10"}})
    with pytest.raises(policy.UnsupportedPolicy, match="NumericLessThan"):
        decide([statement], "s3:GetObject", "x", {})


SERVERLESS_YML = """
provider:
  # unused-locally: xray:PutTraceSegments,xray:PutTelemetryRecords: sent by Lambda's tracing;
  #   the local cloud has none.
  tracing: true
  # unused-locally: lambda:InvokeFunction on arn:aws:lambda:*:function:*:* in StateRole: versions
  # unused-locally: s3:Nothing: matches nothing
"""


def test_justifications_are_read_from_comments():
    found = unused.justifications(SERVERLESS_YML)
    assert [(j.actions, j.resource, j.role) for j in found] == [
        (("xray:PutTraceSegments", "xray:PutTelemetryRecords"), "*", "*"),
        (("lambda:InvokeFunction",), "arn:aws:lambda:*:function:*:*", "StateRole"),
        (("s3:Nothing",), "*", "*"),
    ]
    assert found[0].why == "sent by Lambda's tracing; the local cloud has none."
    with pytest.raises(ValueError, match=r"serverless\.yml:2"):
        unused.justifications("x: 1\n# unused-locally: no reason given\n")


def test_the_report_lists_unused_pairs_not_justified_and_stale_justifications():
    function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    granted = {
        unused.Pair("FnRole", "s3:GetObject", f"{BUCKET}/*"): "fn-role",
        unused.Pair("FnRole", "s3:PutObject", f"{BUCKET}/*"): "fn-role",
        unused.Pair("FnRole", "xray:PutTraceSegments", "*"): "fn-role",
        unused.Pair("StateRole", "lambda:InvokeFunction", function_arn): "state-role",
        unused.Pair("StateRole", "lambda:InvokeFunction", f"{function_arn}:*"): "state-role",
    }
    used = {Grant("fn-role", "s3:GetObject", f"{BUCKET}/*"), Grant("state-role", "lambda:InvokeFunction", function_arn)}
    result = unused.report(granted, used, unused.justifications(SERVERLESS_YML))
    assert result.unjustified == [unused.Pair("FnRole", "s3:PutObject", f"{BUCKET}/*")]
    assert {str(pair) for pair in result.justified} == {
        "FnRole: xray:PutTraceSegments on *",
        f"StateRole: lambda:InvokeFunction on {function_arn}:*",
    }
    assert [j.actions for j in result.stale] == [("s3:Nothing",)]
