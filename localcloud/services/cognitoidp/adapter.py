"""Cognito user pool gaps (moto.cognitoidp), closed here:

1. moto's CloudFormation skips AWS::Cognito::UserPool and AWS::Cognito::UserPoolClient: a
   `Ref` to them resolves to '', a `Fn::GetAtt` fails the template, and an output naming
   them is dropped (or, with GetAtt, answers HTTP 500). Both are created through moto's
   Cognito API instead, so the pool and app client exist, with the ids, ARN and attributes
   that references and Outputs name, and users can sign in to them.
   Test: test_the_user_pool_and_client_come_from_the_template.

2. USER_SRP_AUTH accepted any password (random SRP_B, the signature never checked): the
   server's half of SRP is computed for real (localcloud/services/cognitoidp/srp.py).
   Test: tests/test_app_signin.py.

Token signing, sign-in flows and the pool's JWKS are moto's own (RS256, one key pair for
every pool). Checking a token the way API Gateway's Cognito authoriser does is not a
Cognito gap: it lives in localcloud/tools/signin.py.
"""

from __future__ import annotations

from typing import Any

from moto.cognitoidp.models import CognitoIdpBackend, cognitoidp_backends

from localcloud.services.cloudformation.adapter import TemplateResource, register

from . import srp as cognito_srp


def _backend(account_id: str, region: str) -> CognitoIdpBackend:
    return cognitoidp_backends[account_id][region]


class UserPoolFromTemplate(TemplateResource):
    """A user pool created from a template: what the stack keeps of it (its id, for Ref)."""

    resource_type = "AWS::Cognito::UserPool"
    name_property = "UserPoolName"
    attributes = ("Arn", "ProviderName", "ProviderURL", "UserPoolId")

    def __init__(self, account_id: str, region: str, pool_id: str) -> None:
        self.account_id, self.region, self.pool_id = account_id, region, pool_id

    @property
    def physical_resource_id(self) -> str:
        return self.pool_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        pool = _backend(self.account_id, self.region).describe_user_pool(self.pool_id)
        provider = f"cognito-idp.{self.region}.amazonaws.com/{pool.id}"
        return {"Arn": pool.arn, "ProviderName": provider, "ProviderURL": f"https://{provider}", "UserPoolId": pool.id}[
            attribute_name
        ]

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> UserPoolFromTemplate:
        properties = dict(cloudformation_json.get("Properties", {}))
        name = properties.pop("UserPoolName", resource_name)
        pool = _backend(account_id, region_name).create_user_pool(name, properties)
        return cls(account_id, region_name, pool.id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: UserPoolFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> UserPoolFromTemplate:
        # Updated in place, as CloudFormation does for the settings this project changes: the
        # pool keeps its id and its users.
        properties = dict(cloudformation_json.get("Properties", {}))
        properties.pop("UserPoolName", None)
        _backend(account_id, region_name).update_user_pool(original_resource.pool_id, properties)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        _backend(account_id, region_name).delete_user_pool(resource_name)


class UserPoolClientFromTemplate(TemplateResource):
    """An app client created from a template (its id, for Ref)."""

    resource_type = "AWS::Cognito::UserPoolClient"
    name_property = "ClientName"
    attributes = ("ClientId", "ClientSecret", "Name")

    def __init__(self, account_id: str, region: str, pool_id: str, client_id: str) -> None:
        self.account_id, self.region, self.pool_id, self.client_id = account_id, region, pool_id, client_id

    @property
    def physical_resource_id(self) -> str:
        return self.client_id

    def get_cfn_attribute(self, attribute_name: str) -> str | None:  # ClientSecret: None without one
        client = _backend(self.account_id, self.region).describe_user_pool_client(self.pool_id, self.client_id)
        return {"ClientId": client.id, "ClientSecret": client.secret, "Name": client.extended_config.get("ClientName")}[
            attribute_name
        ]

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> UserPoolClientFromTemplate:
        properties = dict(cloudformation_json.get("Properties", {}))
        pool_id = properties.pop("UserPoolId")
        generate_secret = bool(properties.pop("GenerateSecret", False))
        properties.setdefault("ClientName", resource_name)
        client = _backend(account_id, region_name).create_user_pool_client(pool_id, generate_secret, properties)
        return cls(account_id, region_name, pool_id, client.id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: UserPoolClientFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> UserPoolClientFromTemplate:
        properties = dict(cloudformation_json.get("Properties", {}))
        properties.pop("UserPoolId", None)
        properties.pop("GenerateSecret", None)
        backend = _backend(account_id, region_name)
        backend.update_user_pool_client(original_resource.pool_id, original_resource.client_id, properties)
        return original_resource

    def delete(self, account_id: str, region: str) -> None:
        """Called by moto when the stack or the resource goes (the client id alone does not
        name its pool)."""
        _backend(account_id, region).delete_user_pool_client(self.pool_id, self.client_id)


def install() -> None:
    register(UserPoolFromTemplate, UserPoolClientFromTemplate)
    cognito_srp.install()  # sign-in as browsers do it (USER_SRP_AUTH), checked for real
