"""Where moto falls short of AWS for this project's stack, and how the local cloud adapts it.

Everything else is moto as it is. Each adaptation is small, names the gap it closes, and is
covered by tests/test_localcloud_adapter.py:

1. ValidateTemplate: moto runs cfn-lint and rejects a template on its first match, warnings
   included (serverless-step-functions' redundant DependsOn is W3005). AWS only rejects
   invalid templates, so only cfn-lint errors (E*) are reported.
2. State machines created by CloudFormation land in moto's non-executing Step Functions
   backend; they are created in the executing one (the ASL interpreter) instead.
3. A bucket's NotificationConfiguration in a template is ignored by moto; it is applied.
4. Lambda invocations (Tasks, API calls, S3 notifications) run the deployed code in the
   local Lambda runtime instead of Docker; S3 notifications are asynchronous, as on AWS.
5. Fn::Sub with a variable map (how serverless-step-functions passes function ARNs into
   the definition): moto substitutes with string.Template, whose names cannot start with a
   digit, and the plugin's names are hex hashes; the map is substituted first.
6. API Gateway methods with a MOCK integration (the CORS preflight Serverless adds) have no
   IntegrationHttpMethod or Uri, which moto requires; they are given empty ones.
   The same goes for a REST API's BinaryMediaTypes, which the upload endpoint needs.
7. Executing a change set (how `sls deploy` updates a stack) does not recompute the stack's
   Outputs, so DescribeStacks kept the first template's (none); they are recomputed.
8. moto's S3 event records have no `sequencer`, which S3 always sends (it orders events
   for the same key and tells a re-upload from a redelivery); one is added, increasing.
9. Retry waits of the ASL interpreter go through a RetryClock, so tests can check the
   backoff schedule without waiting for it and the demo can shorten it.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.apigateway.models import Method, RestAPI
from moto.awslambda.models import LambdaFunction
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.models import ChangeSet, CloudFormationBackend
from moto.s3 import notifications as s3_notifications
from moto.s3.models import FakeBucket, s3_backends
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from .runtime import LambdaRuntime


@dataclass
class RetryClock:
    """Stands in for `time` in the ASL interpreter's retrier: records every retry wait and
    sleeps it multiplied by `scale` (1 = real time, 0 = no wait)."""

    scale: float = 1.0
    waits: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        if self.scale > 0:
            time.sleep(seconds * self.scale)

    def take(self) -> list[float]:
        with self._lock:
            waits, self.waits = self.waits, []
        return waits


_installed: dict[str, Any] = {}


def install(runtime: LambdaRuntime, clock: RetryClock) -> None:
    """Applies the adaptations (once per process; a later call swaps runtime and clock)."""
    _installed["runtime"], _installed["clock"] = runtime, clock
    if _installed.get("patched"):
        return
    _installed["patched"] = True

    original_validate = CloudFormationBackend.validate_template

    def validate_template(self: CloudFormationBackend, template: str) -> list[Any]:
        return [match for match in original_validate(self, template) if match.rule.id.startswith("E")]

    CloudFormationBackend.validate_template = validate_template  # type: ignore[method-assign]

    sfn_models.stepfunctions_backends = stepfunctions_parser_backends  # type: ignore[assignment]

    original_clean_json = cfn_parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and isinstance(resource_json.get("Fn::Sub"), list):
            template, variables = resource_json["Fn::Sub"]
            values = {name: str(original_clean_json(value, resources_map)) for name, value in variables.items()}
            resource_json = {"Fn::Sub": substitute(template, values)}
        return original_clean_json(resource_json, resources_map)

    cfn_parsing.clean_json = clean_json

    def apply_notifications(bucket: FakeBucket, properties: dict[str, Any], account_id: str) -> None:
        config = properties.get("NotificationConfiguration")
        if config:
            s3_backends[account_id][bucket.partition].put_bucket_notification_configuration(
                bucket.name, notification_from_template(config)
            )

    _extend_cfn_create(FakeBucket, after=apply_notifications)

    original_apply = ChangeSet.apply

    def apply_change_set(self: ChangeSet) -> None:
        original_apply(self)
        self.stack.template_dict = self.template_dict
        self.stack.output_map = self.stack._create_output_map()

    ChangeSet.apply = apply_change_set  # type: ignore[method-assign]

    def default_integration(properties: dict[str, Any]) -> None:
        integration = properties.get("Integration")
        if integration is not None:
            integration.setdefault("IntegrationHttpMethod", None)
            integration.setdefault("Uri", None)

    _extend_cfn_create(Method, before=default_integration)

    def apply_binary_media_types(api: RestAPI, properties: dict[str, Any], account_id: str) -> None:
        api.binaryMediaTypes = list(properties.get("BinaryMediaTypes", []))

    _extend_cfn_create(RestAPI, after=apply_binary_media_types)

    def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        self.logs_backend.ensure_log_group(self.logs_group_name)
        result = _installed["runtime"].invoke(self, event if event is not None else {})
        return result.payload, result.errored, result.logs

    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]

    original_s3_event = s3_notifications._get_s3_event
    sequence = itertools.count(1)

    def s3_event_with_sequencer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        event = original_s3_event(*args, **kwargs)
        for record in event.get("Records", []):
            record["s3"]["object"].setdefault("sequencer", f"{time.time_ns():016X}{next(sequence):08X}")
        return event

    s3_notifications._get_s3_event = s3_event_with_sequencer

    def invoke_from_s3(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        from moto.awslambda.utils import get_backend

        function = get_backend(account_id, region_name).get_function(fn_arn)
        function.logs_backend.ensure_log_group(function.logs_group_name)
        _installed["runtime"].invoke_async(function, event_body)

    s3_notifications._invoke_awslambda = invoke_from_s3

    class _ClockModule:
        def sleep(self, seconds: float) -> None:
            _installed["clock"].sleep(seconds)

    retrier_decl.time = _ClockModule()  # type: ignore[assignment]


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def substitute(template: str, values: dict[str, str]) -> str:
    """Fn::Sub's `${name}` for the names in `values`; other references are left for moto."""
    return _SUB_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _extend_cfn_create(
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


def notification_from_template(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the shape moto's S3 API stores."""

    def rules(item: dict[str, Any]) -> dict[str, Any]:
        found = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {"Filter": {"S3Key": {"FilterRule": found}}} if found else {}

    def events(item: dict[str, Any]) -> list[str]:
        return [item["Event"]] if isinstance(item["Event"], str) else list(item["Event"])

    return {
        "CloudFunctionConfiguration": [
            {"CloudFunction": item["Function"], "Event": events(item), **rules(item)}
            for item in config.get("LambdaConfigurations", [])
        ],
        "QueueConfiguration": [
            {"Queue": item["Queue"], "Event": events(item), **rules(item)}
            for item in config.get("QueueConfigurations", [])
        ],
        "TopicConfiguration": [
            {"Topic": item["Topic"], "Event": events(item), **rules(item)}
            for item in config.get("TopicConfigurations", [])
        ],
    }
