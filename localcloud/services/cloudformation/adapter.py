"""CloudFormation gaps (moto.cloudformation), closed here:

1. ValidateTemplate: moto runs cfn-lint and rejects a template on its first match, warnings
   included (serverless-step-functions' redundant DependsOn is W3005). AWS only rejects
   invalid templates, so only cfn-lint errors (E*) are reported.
   Test: test_validate_template_rejects_errors_only.
   cfn-lint takes ~2 s a template (~1 s of it importing and loading its rules): `prelint`
   lints a template in the background (the stage's last packaged one, while `sls package`
   runs), and a template that differs from one already linted only in its artifact folder
   (`serverless/<service>/<stage>/<time>/`, new at every deploy), the name of its API deployment
   (`ApiGatewayDeployment<time>`) or its JSON layout reuses that result.
   Test: test_a_template_linted_ahead_is_not_linted_again.
2. Fn::Sub with a variable map (how serverless-step-functions passes function ARNs into the
   definition): moto substitutes with string.Template, whose names cannot start with a digit,
   and the plugin's names are hex hashes; the map is substituted first.
   Tests: test_fn_sub_variables_are_substituted_whatever_their_name,
   test_the_deployed_definition_names_the_deployed_functions.
3. Executing a change set (how `sls deploy` updates a stack) does not recompute the stack's
   Outputs, so DescribeStacks kept the first template's (none); they are recomputed.
   Test: test_a_deployed_stack_has_its_outputs.

4. A stack deployed with a service role (CreateStack / CreateChangeSet with RoleARN: the
   Framework's provider.iam.deploymentRole) has its resources created, updated and deleted as
   that role: each is checked against the role's policies before moto acts (the actions
   localcloud/services/iam/stack_resources.py lists), and a denial fails the stack with the resource's
   CREATE_FAILED (UPDATE_FAILED, DELETE_FAILED) event naming the permission, as AWS does (the
   Framework prints it). Not modelled: the rollback itself (what was done before the failure
   stays done).
   Test: tests/test_deployer.py.

`extend_create` is how the other service modules adapt a resource that moto creates from a
template, and `register` how they add a resource type that moto's CloudFormation skips.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import MethodType
from typing import TYPE_CHECKING, Any, ClassVar

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import ChangeSet, CloudFormationBackend
from moto.cloudformation.utils import validate_template_cfn_lint
from moto.core.common_models import CloudFormationModel

if TYPE_CHECKING:
    from localcloud.services.iam import Iam

_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")
_ARTIFACT_FOLDER = re.compile(r"serverless/([^/\"]+)/([^/\"]+)/\d+-[0-9T:.Z-]+/")
_API_DEPLOYMENT = re.compile(r"\bApiGatewayDeployment\d{13}\b")
_linted: dict[str, Future[list[Any]]] = {}
_lint_lock = threading.Lock()


def _lint_key(template: str) -> str:
    """The template as cfn-lint judges it: the same whatever its layout, artifact folder and
    API deployment (the Framework names it by the time it packaged the stage)."""
    with contextlib.suppress(ValueError):  # (YAML stays as written)
        template = json.dumps(json.loads(template), sort_keys=True)
    template = _ARTIFACT_FOLDER.sub(r"serverless/\1/\2/ARTIFACTS/", template)
    return _API_DEPLOYMENT.sub("ApiGatewayDeployment", template)


def _lint(template: str) -> Future[list[Any]]:
    """The errors cfn-lint finds in `template` (E* rules only), computed once per template."""
    key = _lint_key(template)
    with _lint_lock:
        found = _linted.get(key)
        if found is None:
            found = _linted[key] = Future()
            mine = True
        else:
            mine = False
    if mine:
        try:
            matches = validate_template_cfn_lint(template)
            found.set_result([match for match in matches if match.rule.id.startswith("E")])
        except Exception as error:  # told to whoever waits for it
            found.set_exception(error)
    return found


def prelint(template: str) -> None:
    """Lints `template` on a thread of its own, for a ValidateTemplate expected soon."""
    threading.Thread(target=_lint, args=(template,), name="cfn-lint ahead", daemon=True).start()


def install() -> None:
    def validate_template(self: CloudFormationBackend, template: str) -> list[Any]:
        return _lint(template).result()

    CloudFormationBackend.validate_template = validate_template  # type: ignore[method-assign]

    original_clean_json = cfn_parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and isinstance(resource_json.get("Fn::Sub"), list):
            template, variables = resource_json["Fn::Sub"]
            values = {name: str(original_clean_json(value, resources_map)) for name, value in variables.items()}
            resource_json = {"Fn::Sub": substitute(template, values)}
        return original_clean_json(resource_json, resources_map)

    cfn_parsing.clean_json = clean_json

    original_apply = ChangeSet.apply

    def apply_change_set(self: ChangeSet) -> None:
        original_apply(self)
        self.stack.template_dict = self.template_dict
        self.stack.output_map = self.stack._create_output_map()

    ChangeSet.apply = apply_change_set  # type: ignore[method-assign]
    _check_service_role()


# -- resources created as the stack's service role ----------------------------------------
_iam: Iam | None = None


def use(iam: Iam | None) -> None:
    """The local cloud's IAM (localcloud/services/iam.Iam), which a service role's rights are read from."""
    global _iam
    _iam = iam


class ResourceDenied(Exception):
    def __init__(self, logical_id: str, resource_type: str, reason: str, operation: str = "create") -> None:
        super().__init__(reason)
        self.logical_id, self.resource_type, self.reason, self.operation = logical_id, resource_type, reason, operation


def _service_role_checks(
    operation: str, logical_id: str, resource_json: dict[str, Any], resources_map: Any, physical_name: str = ""
) -> None:
    """Raises ResourceDenied if the stack's service role may not create, update or delete this resource."""
    from moto.cloudformation.models import cloudformation_backends

    from localcloud.services.iam import errors, stack_resources
    from localcloud.services.iam.sessions import Principal

    account, region = resources_map._account_id, resources_map._region_name
    stack = cloudformation_backends[account][region].stacks.get(resources_map.stack_id)
    role_arn = getattr(stack, "role_arn", None)
    if stack is None or not role_arn or _iam is None or not _iam.enforce:
        return
    condition = resource_json.get("Condition")
    if operation == "create" and condition and not resources_map.lazy_condition_map[condition]:
        return
    resource_type = resource_json["Type"]
    raw = resource_json.get("Properties", {})
    try:
        properties = cfn_parsing.clean_json(raw, resources_map)
    except Exception:  # a deleted resource's references may be gone already
        properties = raw
    name = physical_name.rsplit(":", 1)[-1].rsplit("/", 1)[-1] if physical_name else ""
    name = name or cfn_parsing.generate_resource_name(resource_type, stack.name, logical_id)
    tagged = any(not key.startswith("aws:") for key in (stack.tags or {}))
    principal = Principal(account, "aws", role_arn, "AWSCloudFormation", "", "cloudformation")
    try:
        found = stack_resources.checks(operation, resource_type, name, properties, tagged, region, account)
    except stack_resources.UnmappedResource:
        reason = f"localcloud cannot tell which IAM actions working on a {resource_type} needs: map it in {_MAP}"
        raise ResourceDenied(logical_id, resource_type, reason) from None
    own = {"aws:ResourceTag/aws:cloudformation:stack-name": stack.name}
    for check, extra in found:
        refused = _iam.authorize(principal, [check], region, own | extra)
        if refused:
            text = errors.message(principal, *refused, check.action.split(":")[0])
            reason = f'Resource handler returned message: "{text}" (HandlerErrorCode: AccessDenied)'
            raise ResourceDenied(logical_id, resource_type, reason, operation)


def _check_service_role() -> None:
    from moto.cloudformation.models import CloudFormationBackend, Event, Stack

    original_create = cfn_parsing.parse_and_create_resource
    original_update = cfn_parsing.parse_and_update_resource
    original_delete = cfn_parsing.ResourceMap._delete_resource

    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        _service_role_checks("create", logical_id, resource_json, resources_map)
        return original_create(logical_id, resource_json, resources_map, account_id, region_name)

    def parse_and_update_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str
    ) -> Any:
        existing = resources_map[logical_id]
        physical = str(getattr(existing, "physical_resource_id", "") or "")
        _service_role_checks("update", logical_id, resource_json, resources_map, physical)
        return original_update(logical_id, resource_json, resources_map, account_id, region_name)

    def delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        logical_id = getattr(parsed_resource, "logical_resource_id", "")
        physical = str(getattr(parsed_resource, "physical_resource_id", "") or "")
        _service_role_checks("delete", logical_id, resource_json, self, physical)
        original_delete(self, parsed_resource, resource_json)

    cfn_parsing.parse_and_create_resource = parse_and_create_resource
    cfn_parsing.parse_and_update_resource = parse_and_update_resource
    cfn_parsing.ResourceMap._delete_resource = delete_resource  # type: ignore[method-assign]

    def failed(stack: Any, denied: ResourceDenied, creating: bool) -> None:
        stack.events.append(
            Event(stack.stack_id, stack.name, denied.logical_id, "", denied.resource_type,
                  f"{denied.operation.upper()}_FAILED", denied.reason, None)
        )  # fmt: skip
        rollback = "ROLLBACK" if creating else "UPDATE_ROLLBACK"
        stack._add_stack_event(f"{rollback}_IN_PROGRESS", resource_status_reason="The following resource(s) failed")
        stack._add_stack_event(f"{rollback}_COMPLETE")
        stack.status = f"{rollback}_COMPLETE"

    original_execute = CloudFormationBackend.execute_change_set

    def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None
        )
        if change_set is not None and getattr(change_set, "role_arn", None):
            self.stacks[change_set.stack_id].role_arn = change_set.role_arn  # the role given last is kept
        try:
            original_execute(self, change_set_name, stack_name)
        except ResourceDenied as denied:
            assert change_set is not None
            change_set.execution_status = "EXECUTE_FAILED"
            failed(self.stacks[change_set.stack_id], denied, change_set.change_set_type == "CREATE")

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]

    original_create_resources = Stack.create_resources

    def create_resources(self: Stack) -> None:
        try:
            original_create_resources(self)
        except ResourceDenied as denied:
            failed(self, denied, True)

    Stack.create_resources = create_resources  # type: ignore[method-assign]


_MAP = "localcloud/services/iam/stack_resources.py"


def substitute(template: str, values: dict[str, str]) -> str:
    """Fn::Sub's `${name}` for the names in `values`; other references are left for moto."""
    return _SUB_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def extend_create(
    model: Any,
    before: Callable[[dict[str, Any]], None] | None = None,
    after: Callable[[Any, dict[str, Any], str], None] | None = None,
) -> None:
    """Runs `before(properties)` ahead of moto creating a resource from a template and
    `after(resource, properties, account_id)` once it exists."""
    original = classmethod_function(model.create_from_cloudformation_json)

    def create(
        cls: type, /, name: str, cloudformation_json: dict[str, Any], account_id: str, region: str, **kw: Any
    ) -> Any:
        properties = cloudformation_json.setdefault("Properties", {})
        if before:
            before(properties)
        resource = original(cls, name, cloudformation_json, account_id, region, **kw)
        if after:
            after(resource, properties, account_id)
        return resource

    model.create_from_cloudformation_json = classmethod(create)


def classmethod_function(method: Callable[..., Any]) -> Callable[..., Any]:
    """The function behind a classmethod as read from its class (a method bound to it), for a
    replacement to call with the class it is itself called with (a subclass too)."""
    assert isinstance(method, MethodType), f"{method!r} is not a classmethod"
    return method.__func__


class TemplateResource(CloudFormationModel):
    """A resource of a type moto's CloudFormation skips, created through its own service's API by
    that service's adapter, which `register`s it: the stack keeps what Ref and Fn::GetAtt need.
    A subclass names its type, the property that names a resource of it ("" for none) and the
    attributes Fn::GetAtt may ask; it says how one is created, updated, read and deleted."""

    resource_type: ClassVar[str] = ""  # moto maps this base class too (its direct subclasses)
    name_property: ClassVar[str] = ""
    attributes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes


def register(*models: type[CloudFormationModel]) -> None:
    """Makes moto's CloudFormation create resources of the types `models` stand for, instead of
    skipping them (its map of supported types is built once, from the CloudFormationModel
    subclasses it imports, so it is extended in place)."""
    for model in models:
        cfn_parsing.get_model_map()[model.cloudformation_type()] = model
        cfn_parsing.get_name_type_map()[model.cloudformation_type()] = model.cloudformation_name_type()
