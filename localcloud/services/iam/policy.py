"""Identity-policy evaluation: moto's IAMPolicyStatement, wrapped where it departs from AWS.

moto decides Allow / explicit Deny / not applicable per statement (Action, NotAction,
Resource, Effect). Measured against AWS's documented logic it is wrong in four ways, fixed
here: actions are compared case-sensitively (AWS ignores case in actions, not in resources);
`?` is not a wildcard; a `.` (or any regex character) in a pattern is a regex; NotResource is
ignored (a Deny with NotResource allows). Its conditions only know StringEquals, and a failing
condition turns an Allow into a Deny: conditions are evaluated here instead (see CONDITIONS).

`evaluate()` combines every statement of every policy of a role the way AWS does for one
account: an explicit Deny wins, then any Allow, otherwise the call is implicitly denied. It
also says which granted (action, resource) patterns allowed the call: the unused-permission
report is built from that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult


class UnsupportedPolicy(Exception):
    """A policy uses something this evaluator cannot decide; the call is refused with this message."""


@lru_cache(maxsize=4096)
def _pattern(pattern: str, fold_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if fold_case else 0))


def matches(pattern: str, value: str, fold_case: bool = False) -> bool:
    """IAM's wildcard matching: `*` is any run of characters, `?` exactly one."""
    return _pattern(pattern, fold_case).fullmatch(value) is not None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- conditions ---------------------------------------------------------------------------
def _string(op: str) -> Any:
    fold = "IgnoreCase" in op
    return lambda actual, wanted: (actual.lower() == wanted.lower()) if fold else actual == wanted


def _bool(actual: str, wanted: str) -> bool:
    return actual.lower() == str(wanted).lower()


CONDITIONS: dict[str, tuple[Any, bool]] = {
    # operator: (does one context value match one policy value, is it a negated operator)
    "StringEquals": (_string("StringEquals"), False),
    "StringNotEquals": (_string("StringEquals"), True),
    "StringEqualsIgnoreCase": (_string("StringEqualsIgnoreCase"), False),
    "StringNotEqualsIgnoreCase": (_string("StringEqualsIgnoreCase"), True),
    "StringLike": (lambda actual, wanted: matches(wanted, actual), False),
    "StringNotLike": (lambda actual, wanted: matches(wanted, actual), True),
    "ArnEquals": (lambda actual, wanted: matches(wanted, actual), False),
    "ArnLike": (lambda actual, wanted: matches(wanted, actual), False),
    "ArnNotEquals": (lambda actual, wanted: matches(wanted, actual), True),
    "ArnNotLike": (lambda actual, wanted: matches(wanted, actual), True),
    "Bool": (_bool, False),
}


def conditions_hold(block: dict[str, Any], context: dict[str, Any]) -> bool:
    """A statement's Condition block against the request context (keys compared without
    case, as AWS does). A key missing from the context matches no value: a positive operator
    is false, a negated one true, `...IfExists` true; `Null: true` asks for the key to be absent."""
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, tests in block.items():
        if ":" in operator:
            raise UnsupportedPolicy(f"condition set operator {operator} is not evaluated by the local cloud")
        if_exists = operator.endswith("IfExists")
        name = operator.removesuffix("IfExists")
        for key, wanted in tests.items():
            present = key.lower() in lowered
            if name == "Null":
                if _bool(str(not present), as_list(wanted)[0]) is False:
                    return False
                continue
            if name not in CONDITIONS:
                raise UnsupportedPolicy(f"condition operator {operator} is not evaluated by the local cloud")
            test, negated = CONDITIONS[name]
            if not present:
                if not (if_exists or negated):
                    return False
                continue
            actual = [str(value) for value in as_list(lowered[key.lower()])]
            hit = any(test(value, str(w)) for value in actual for w in as_list(wanted))
            if hit == negated:
                return False
    return True


class Statement(IAMPolicyStatement):
    """moto's statement logic, with AWS's matching and conditions."""

    def _check_element_matches(self, statement_element: str, value: str) -> bool:
        fold_case = statement_element in ("Action", "NotAction")
        return any(matches(p, value, fold_case) for p in as_list(self._statement[statement_element]))

    def is_action_permitted(
        self,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, Any] | None = None,
    ) -> PermissionResult:
        condition = self._statement.get("Condition")
        if condition and not conditions_hold(condition, incoming_condition_values or {}):
            return PermissionResult.NEUTRAL
        plain = {k: v for k, v in self._statement.items() if k != "Condition"}
        if "NotResource" in plain:
            if self._check_element_matches("NotResource", resource):
                return PermissionResult.NEUTRAL
            plain = {k: v for k, v in plain.items() if k != "NotResource"} | {"Resource": "*"}
        if "Resource" not in plain:  # moto would read a statement without resources as a trust policy
            return PermissionResult.NEUTRAL
        return IAMPolicyStatement.is_action_permitted(Statement(plain), action, resource)

    def granted(self, action: str, resource: str) -> list[tuple[str, str]]:
        """The (action pattern, resource pattern) pairs of this statement that cover the call."""
        if "NotAction" in self._statement:
            actions = ["NotAction " + ",".join(as_list(self._statement["NotAction"]))]
        else:
            actions = [p for p in as_list(self._statement["Action"]) if matches(p, action, True)]
        if "NotResource" in self._statement:
            resources = ["NotResource " + ",".join(as_list(self._statement["NotResource"]))]
        else:
            resources = [p for p in as_list(self._statement.get("Resource", [])) if matches(p, resource)]
        return [(a, r) for a in actions for r in resources]


@dataclass
class Decision:
    allowed: bool
    explicit_deny: bool = False
    grants: list[tuple[str, str]] = field(default_factory=list)


def statements(documents: Iterable[Any]) -> list[Statement]:
    """Every statement of the given policy documents (JSON text or already parsed)."""
    found: list[Statement] = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        found.extend(Statement(s) for s in as_list(parsed.get("Statement", [])))
    return found


def evaluate(
    policy_statements: list[Statement], action: str, resource: str, context: dict[str, Any] | None = None
) -> Decision:
    allowed, grants = False, []
    for statement in policy_statements:
        result = statement.is_action_permitted(action, resource, incoming_condition_values=context)
        if result == PermissionResult.DENIED:
            return Decision(False, explicit_deny=True)
        if result == PermissionResult.PERMITTED:
            allowed = True
            grants.extend(statement.granted(action, resource))
    return Decision(allowed, grants=grants)
