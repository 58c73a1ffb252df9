"""API Gateway gaps (moto.apigateway) in creating the REST API from a template, closed here
(serving it is localcloud/services/apigateway/rest_api.py's job):

1. Methods with a MOCK integration (the CORS preflight Serverless adds) have no
   IntegrationHttpMethod or Uri, which moto requires; they are given empty ones.
   Test: test_the_cors_preflight_method_is_created.
2. A REST API's BinaryMediaTypes from the template are dropped; they are kept (the upload
   endpoint needs its JPEG body base64-encoded, as API Gateway does for binary types).
   Test: test_the_rest_api_keeps_its_binary_media_types.
3. moto's CloudFormation skips AWS::ApiGateway::Authorizer (a `Ref` to it resolves to ''),
   and moto's CreateAuthorizer drops IdentityValidationExpression (a misspelt keyword). The
   authoriser is created through the API with every property the template gives it.
   Test: test_the_upload_method_has_the_templates_cognito_authorizer.
4. A method's AuthorizerId and AuthorizationScopes from the template are dropped (only its
   AuthorizationType is kept); they are kept, so the local API knows which authoriser guards
   a method. Test: test_the_upload_method_has_the_templates_cognito_authorizer.
5. A deployment's StageDescription is dropped: its stage-wide throttling (ThrottlingRateLimit,
   ThrottlingBurstLimit) becomes the stage's `*/*` method settings, as GetStage shows them on
   AWS (localcloud/services/apigateway/rest_api.py enforces them).
   Test: test_the_stage_has_the_templates_throttling.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.models import APIGatewayBackend, Authorizer, Deployment, Method, RestAPI, apigateway_backends

from localcloud.services.cloudformation.adapter import TemplateResource, extend_create, register

ALL_METHODS = "*/*"  # the method-settings key that covers every resource and method of a stage


def _backend(account_id: str, region: str) -> APIGatewayBackend:
    return apigateway_backends[account_id][region]


class AuthorizerFromTemplate(TemplateResource):
    """An authoriser created from a template: its REST API and id (for Ref)."""

    resource_type = "AWS::ApiGateway::Authorizer"
    name_property = "Name"
    attributes = ("AuthorizerId",)

    def __init__(self, rest_api_id: str, authorizer_id: str) -> None:
        self.rest_api_id, self.authorizer_id = rest_api_id, authorizer_id

    @property
    def physical_resource_id(self) -> str:
        return self.authorizer_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name != "AuthorizerId":
            raise KeyError(attribute_name)
        return self.authorizer_id

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> AuthorizerFromTemplate:
        properties = cloudformation_json.get("Properties", {})
        rest_api_id = properties["RestApiId"]
        authorizer = _backend(account_id, region_name).create_authorizer(
            rest_api_id, properties.get("Name", resource_name), properties["Type"]
        )
        cls._apply(authorizer, properties)
        assert authorizer.id is not None  # moto hints it optional; create_authorizer always makes one
        return cls(rest_api_id, authorizer.id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: AuthorizerFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> AuthorizerFromTemplate:
        # In place, keeping the id the methods refer to (as CloudFormation updates an authoriser).
        backend = _backend(account_id, region_name)
        authorizer = backend.get_authorizer(original_resource.rest_api_id, original_resource.authorizer_id)
        cls._apply(authorizer, cloudformation_json.get("Properties", {}))
        return original_resource

    @staticmethod
    def _apply(authorizer: Authorizer, properties: dict[str, Any]) -> None:
        authorizer.type = properties["Type"]
        authorizer.provider_arns = properties.get("ProviderARNs")
        authorizer.auth_type = properties.get("AuthType")
        authorizer.authorizer_uri = properties.get("AuthorizerUri")
        authorizer.authorizer_credentials = properties.get("AuthorizerCredentials")
        authorizer.identity_source = properties.get("IdentitySource")
        authorizer.identity_validation_expression = properties.get("IdentityValidationExpression")
        authorizer.authorizer_result_ttl = int(properties.get("AuthorizerResultTtlInSeconds", 300))

    def delete(self, account_id: str, region: str) -> None:
        _backend(account_id, region).delete_authorizer(self.rest_api_id, self.authorizer_id)


def install() -> None:
    def default_integration(properties: dict[str, Any]) -> None:
        integration = properties.get("Integration")
        if integration is not None:
            integration.setdefault("IntegrationHttpMethod", None)
            integration.setdefault("Uri", None)

    def keep_authorizer(method: Method, properties: dict[str, Any], account_id: str) -> None:
        method.authorizer_id = properties.get("AuthorizerId") or None
        method.authorization_scopes = properties.get("AuthorizationScopes") or None

    extend_create(Method, before=default_integration, after=keep_authorizer)

    def apply_binary_media_types(api: RestAPI, properties: dict[str, Any], account_id: str) -> None:
        api.binaryMediaTypes = list(properties.get("BinaryMediaTypes", []))

    extend_create(RestAPI, after=apply_binary_media_types)

    def apply_stage_description(deployment: Deployment, properties: dict[str, Any], account_id: str) -> None:
        description = properties.get("StageDescription") or {}
        limits: dict[str, float | int] = {}
        if "ThrottlingRateLimit" in description:
            limits["throttlingRateLimit"] = float(description["ThrottlingRateLimit"])
        if "ThrottlingBurstLimit" in description:
            limits["throttlingBurstLimit"] = int(description["ThrottlingBurstLimit"])
        for backend in apigateway_backends[account_id].values():
            api = backend.apis.get(properties["RestApiId"])
            stage = api.stages.get(deployment.stage_name) if api and deployment.stage_name else None
            if stage is not None and limits:
                stage.method_settings.setdefault(ALL_METHODS, {}).update(limits)

    extend_create(Deployment, after=apply_stage_description)

    register(AuthorizerFromTemplate)
