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
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import ChangeSet, CloudFormationBackend
from moto.cloudformation.utils import validate_template_cfn_lint
from moto.core.common_models import CloudFormationModel

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
    original = model.create_from_cloudformation_json.__func__

    def create(
        cls: type, name: str, cloudformation_json: dict[str, Any], account_id: str, region: str, **kw: Any
    ) -> Any:
        properties = cloudformation_json.setdefault("Properties", {})
        if before:
            before(properties)
        resource = original(cls, name, cloudformation_json, account_id, region, **kw)
        if after:
            after(resource, properties, account_id)
        return resource

    model.create_from_cloudformation_json = classmethod(create)


def register(*models: type[CloudFormationModel]) -> None:
    """Makes moto's CloudFormation create resources of the types `models` stand for, instead of
    skipping them (its map of supported types is built once, from the CloudFormationModel
    subclasses it imports, so it is extended in place)."""
    for model in models:
        cfn_parsing.get_model_map()[model.cloudformation_type()] = model
        cfn_parsing.get_name_type_map()[model.cloudformation_type()] = model.cloudformation_name_type()
