"""Lambda gaps (moto.awslambda), closed here:

1. moto runs function code only in Docker (or echoes the payload without it). Every
   invocation (state-machine Tasks, the Invoke API, S3 notifications, the REST API) runs the
   deployed code in the local Lambda runtime (localcloud/runtime.py) instead, with the
   function's log group created first, as Lambda does on a first invocation.
   Tests: tests/test_workflow.py end to end; test_invoke_runs_the_deployed_code.
2. moto's Invoke answers an error with `FunctionError: Handled`; Lambda reports `Unhandled`
   for every error a Python function raises or the runtime hits (timeouts, crashes), which
   is what clients such as Step Functions' Lambda integration look at.
   Test: test_invoke_runs_the_deployed_code.
3. A function created from a template loses its `Layers` (moto's CloudFormation passes only a
   few properties on), so it ran as if it had none; a layer version loses its
   `CompatibleArchitectures`; a stack update that changes a function failed on its layers
   (a Ref to a layer reached moto as the layer object, not its ARN). All three are fixed.
   Test: test_template_functions_keep_their_layers (tests/test_template.py).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaFunction, LayerVersion

from ..runtime import LambdaRuntime
from . import cloudformation

_runtime: list[LambdaRuntime] = []


def use(runtime: LambdaRuntime) -> None:
    _runtime[:] = [runtime]


def install() -> None:
    def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        self.logs_backend.ensure_log_group(self.logs_group_name)
        result = _runtime[0].invoke(self, event if event is not None else {})
        return result.payload, result.errored, result.logs

    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]

    original_invoke = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        answer = original_invoke(self, body, request_headers, response_headers)
        if "x-amz-function-error" in response_headers:
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]

    def layer_arns(properties: dict[str, Any]) -> list[str]:
        # a Ref to a layer in the same template resolves to the LayerVersion itself
        return [getattr(layer, "arn", layer) for layer in properties.get("Layers") or []]

    def keep_layers(function: LambdaFunction, properties: dict[str, Any], account_id: str) -> None:
        if properties.get("Layers"):
            function.layers = function._get_layers_data(layer_arns(properties))

    original_update = LambdaFunction.update_from_cloudformation_json.__func__

    def update(cls: type, *args: Any, **kw: Any) -> Any:
        template = kw["cloudformation_json"] if "cloudformation_json" in kw else args[2]
        properties = template.get("Properties", {})
        if properties.get("Layers"):
            properties["Layers"] = layer_arns(properties)
        return original_update(cls, *args, **kw)

    LambdaFunction.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign]

    def keep_architectures(layer: LayerVersion, properties: dict[str, Any], account_id: str) -> None:
        layer.compatible_architectures = properties.get("CompatibleArchitectures", [])

    cloudformation.extend_create(LambdaFunction, after=keep_layers)
    cloudformation.extend_create(LayerVersion, after=keep_architectures)


def invoke_async(account_id: str, region: str, function_arn: str, event: Any) -> None:
    """An asynchronous invocation (Lambda queues the event and answers at once)."""
    from moto.awslambda.utils import get_backend

    function = get_backend(account_id, region).get_function(function_arn)
    function.logs_backend.ensure_log_group(function.logs_group_name)
    _runtime[0].invoke_async(function, event)
