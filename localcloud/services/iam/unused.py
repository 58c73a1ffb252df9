"""Unused access (what IAM Access Analyzer reports): every (action, resource) pair a role of the
stack grants that no call of its function or state machine used, minus those justified in
serverless.yml by a comment of the form

    # unused-locally: ACTIONS [on RESOURCE] [in ROLE]: WHY

ACTIONS is a comma-separated list of action patterns, RESOURCE a resource pattern (the ARN as
deployed) and ROLE the role's logical id in the template (e.g. ImageWorkflowRole); each may use
IAM's `*` and `?`, RESOURCE and ROLE default to `*`. WHY says why the permission is needed
although the local cloud never exercises it. A justification that matches no unused pair is
stale and reported too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .policy import as_list, matches

_JUSTIFICATION = re.compile(
    r"#\s*unused-locally:\s*(?P<actions>\S+?)(?:\s+on\s+(?P<resource>\S+?))?(?:\s+in\s+(?P<role>\S+?))?"
    r":\s+(?P<why>\S.*?)\s*$"
)


@dataclass(frozen=True)
class Pair:
    role: str  # logical id of the role in the template
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.role}: {self.action} on {self.resource}"


@dataclass(frozen=True)
class Justification:
    line: int
    actions: tuple[str, ...]
    resource: str
    role: str
    why: str

    def covers(self, pair: Pair) -> bool:
        return (
            any(matches(a, pair.action, fold_case=True) for a in self.actions)
            and matches(self.resource, pair.resource)
            and matches(self.role, pair.role)
        )


@dataclass
class Report:
    unjustified: list[Pair] = field(default_factory=list)
    justified: dict[Pair, Justification] = field(default_factory=dict)
    stale: list[Justification] = field(default_factory=list)


def justifications(serverless_yml: str) -> list[Justification]:
    """The justifications in serverless.yml; WHY may go on in comment lines indented past the `#`."""
    found = []
    lines = serverless_yml.splitlines()
    for number, line in enumerate(lines, start=1):
        if "unused-locally:" not in line:
            continue
        match = _JUSTIFICATION.search(line)
        if not match:
            raise ValueError(
                f"serverless.yml:{number}: expected `# unused-locally: ACTIONS [on RESOURCE] [in ROLE]: WHY`"
            )
        why = [match["why"]]
        for following in lines[number:]:
            continued = re.match(r"\s*#\s{2,}(\S.*)$", following)
            if not continued:
                break
            why.append(continued.group(1).strip())
        actions = tuple(match["actions"].split(","))
        found.append(Justification(number, actions, match["resource"] or "*", match["role"] or "*", " ".join(why)))
    return found


def granted(cloudformation: Any, iam: Any, stack_name: str) -> dict[Pair, str]:
    """Every Allow (action, resource) pair of every role in the stack, with the role's name."""
    pairs: dict[Pair, str] = {}
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    for resource in resources:
        if resource.get("ResourceType") != "AWS::IAM::Role":
            continue
        logical, name = resource["LogicalResourceId"], resource["PhysicalResourceId"]
        documents = [
            iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            documents.append(
                iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
            )
        for document in documents:
            for statement in as_list(document.get("Statement", [])):
                if statement.get("Effect") != "Allow":
                    continue
                for action, target in _patterns(statement):
                    pairs[Pair(logical, action, target)] = name
    return pairs


def _patterns(statement: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """The statement's pairs, spelled as policy.Statement.granted spells them."""
    if "NotAction" in statement:
        actions = ["NotAction " + ",".join(as_list(statement["NotAction"]))]
    else:
        actions = as_list(statement["Action"])
    if "NotResource" in statement:
        resources = ["NotResource " + ",".join(as_list(statement["NotResource"]))]
    else:
        resources = as_list(statement.get("Resource", []))
    return [(a, r) for a in actions for r in resources]


def report(granted_pairs: dict[Pair, str], used: Iterable[Any], reasons: list[Justification]) -> Report:
    """`used` holds localcloud.services.iam.Grant records (role name, action, resource)."""
    used_keys = {(grant.role, grant.action, grant.resource) for grant in used}
    result = Report()
    for pair, role_name in sorted(granted_pairs.items(), key=lambda item: str(item[0])):
        if (role_name, pair.action, pair.resource) in used_keys:
            continue
        reason = next((r for r in reasons if r.covers(pair)), None)
        if reason:
            result.justified[pair] = reason
        else:
            result.unjustified.append(pair)
    result.stale = [r for r in reasons if r not in result.justified.values()]
    return result
