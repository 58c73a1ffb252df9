"""API Gateway gaps (moto.apigateway) in creating the REST API from a template, closed here
(serving it is localcloud/apigw.py's job):

1. Methods with a MOCK integration (the CORS preflight Serverless adds) have no
   IntegrationHttpMethod or Uri, which moto requires; they are given empty ones.
   Test: test_the_cors_preflight_method_is_created.
2. A REST API's BinaryMediaTypes from the template are dropped; they are kept (the upload
   endpoint needs its JPEG body base64-encoded, as API Gateway does for binary types).
   Test: test_the_rest_api_keeps_its_binary_media_types.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.models import Method, RestAPI

from .cloudformation import extend_create


def install() -> None:
    def default_integration(properties: dict[str, Any]) -> None:
        integration = properties.get("Integration")
        if integration is not None:
            integration.setdefault("IntegrationHttpMethod", None)
            integration.setdefault("Uri", None)

    extend_create(Method, before=default_integration)

    def apply_binary_media_types(api: RestAPI, properties: dict[str, Any], account_id: str) -> None:
        api.binaryMediaTypes = list(properties.get("BinaryMediaTypes", []))

    extend_create(RestAPI, after=apply_binary_media_types)
