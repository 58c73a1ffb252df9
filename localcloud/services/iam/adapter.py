"""IAM gaps (moto.iam) in roles created from a template, closed here (the local cloud checks
every call against these policies: localcloud/services/iam):

1. A role's inline policies from a template are stored as Python dicts: GetRolePolicy returns
   their Python repr, which no client parses as JSON. They are stored as JSON text, as the
   PutRolePolicy API stores them. Test: test_a_template_role_policy_reads_back_as_json.
2. Updating a stack leaves a role's inline policies as they were (moto only updates its
   description): a statement added to or removed from serverless.yml would not apply until the
   stack is deleted. They are replaced by the new template's.
   Test: test_a_stack_update_replaces_a_role_policy.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam.models import Role

from localcloud.services.cloudformation.adapter import classmethod_function, extend_create


def _store_as_json(role: Role, properties: dict[str, Any]) -> None:
    role.policies = {
        policy["PolicyName"]: json.dumps(policy["PolicyDocument"]) for policy in properties.get("Policies", [])
    }


def install() -> None:
    extend_create(Role, after=lambda role, properties, account_id: _store_as_json(role, properties))

    original_update = classmethod_function(Role.update_from_cloudformation_json)

    def update(cls: type, /, original_resource: Role, cloudformation_json: dict[str, Any], **kw: Any) -> Role:
        role: Role = original_update(
            cls, original_resource=original_resource, cloudformation_json=cloudformation_json, **kw
        )
        _store_as_json(role, cloudformation_json.get("Properties", {}))
        return role

    Role.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]
