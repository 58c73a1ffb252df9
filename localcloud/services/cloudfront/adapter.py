"""CloudFront gaps (moto.cloudfront), closed here:

1. moto's CloudFormation skips AWS::CloudFront::Distribution and
   AWS::CloudFront::OriginAccessControl (no CloudFormation support at all): a `Fn::GetAtt` of
   the distribution's DomainName fails the template, and the outputs naming it are dropped.
   Both are created through moto's CloudFront API instead, so they exist with the ids, ARN and
   `<id>.cloudfront.net` domain that references and Outputs name.
   Test: tests/test_app.py (the stack deploys with the app's distribution and gives its URL).

Not modelled: a distribution serving anything (moto only stores it; `*.cloudfront.net` does not
resolve here). The local cloud serves the app from the same private bucket at `/_app/<stage>/`
instead (localcloud/services/cloudfront/app_site.py), reading it with its own rights as the origin access control
lets CloudFront read it.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.cloudfront.models import CloudFrontBackend, cloudfront_backends

from localcloud.services.cloudformation.adapter import TemplateResource, register


def _backend(account_id: str) -> CloudFrontBackend:
    return cloudfront_backends[account_id]["global"]


def _items(values: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(values), "Items": values}


def _moto_config(config: dict[str, Any]) -> dict[str, Any]:
    """A template's DistributionConfig (lists) as moto's API takes it (Quantity/Items), with
    what moto reads: origins, the default behaviour and the root object."""
    origins = []
    for origin in config.get("Origins", []):
        shaped = {"Id": origin["Id"], "DomainName": origin["DomainName"]}
        if "S3OriginConfig" in origin:
            identity = origin["S3OriginConfig"].get("OriginAccessIdentity", "")
            shaped["S3OriginConfig"] = {"OriginAccessIdentity": identity}
        if "CustomOriginConfig" in origin:
            shaped["CustomOriginConfig"] = origin["CustomOriginConfig"]
        origins.append(shaped)
    default = config.get("DefaultCacheBehavior", {})
    return {
        "CallerReference": str(uuid.uuid4()),
        "Comment": config.get("Comment", ""),
        "Enabled": config.get("Enabled", True),
        "DefaultRootObject": config.get("DefaultRootObject", ""),
        "Origins": _items(origins),
        "DefaultCacheBehavior": {
            "TargetOriginId": default.get("TargetOriginId"),
            "ViewerProtocolPolicy": default.get("ViewerProtocolPolicy", "allow-all"),
            "CachePolicyId": default.get("CachePolicyId", ""),
        },
    }


class DistributionFromTemplate(TemplateResource):
    resource_type = "AWS::CloudFront::Distribution"
    attributes = ("DomainName", "Id")

    def __init__(self, account_id: str, distribution_id: str) -> None:
        self.account_id, self.distribution_id = account_id, distribution_id

    @property
    def physical_resource_id(self) -> str:
        return self.distribution_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        distribution, _ = _backend(self.account_id).get_distribution(self.distribution_id)
        return {"DomainName": distribution.domain_name, "Id": distribution.distribution_id}[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> DistributionFromTemplate:
        config = cloudformation_json.get("Properties", {}).get("DistributionConfig", {})
        distribution, _, _ = _backend(account_id).create_distribution(_moto_config(config), [])
        return cls(account_id, distribution.distribution_id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: DistributionFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> DistributionFromTemplate:
        return original_resource  # kept, with its domain (moto stores nothing that serves)

    def delete(self, account_id: str, region: str) -> None:
        backend = _backend(account_id)
        backend.distributions.pop(self.distribution_id, None)


class OriginAccessControlFromTemplate(TemplateResource):
    resource_type = "AWS::CloudFront::OriginAccessControl"
    attributes = ("Id",)

    def __init__(self, account_id: str, control_id: str) -> None:
        self.account_id, self.control_id = account_id, control_id

    @property
    def physical_resource_id(self) -> str:
        return self.control_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.control_id

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> OriginAccessControlFromTemplate:
        config = cloudformation_json.get("Properties", {}).get("OriginAccessControlConfig", {})
        return cls(account_id, _backend(account_id).create_origin_access_control(config).id)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: OriginAccessControlFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> OriginAccessControlFromTemplate:
        return original_resource

    def delete(self, account_id: str, region: str) -> None:
        _backend(account_id).origin_access_controls.pop(self.control_id, None)


def install() -> None:
    register(DistributionFromTemplate, OriginAccessControlFromTemplate)
