"""What AWS authorises for a request: its IAM actions and the resource ARN of each.

One resolver per service, chosen by the service named in the request's SigV4 credential
scope. A resolver returns a `Call`: the checks AWS makes (an operation may need several, e.g.
CopyObject reads one object and writes another) and the protocol its errors are written in.
A request no resolver knows raises `Unmapped`: it is refused rather than let through, so a
function that starts calling something new is noticed (add its mapping here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree

from werkzeug.wrappers import Request

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


class Unmapped(Exception):
    """The local cloud does not know which IAM action this request needs."""


@dataclass(frozen=True)
class Check:
    action: str
    resource: str


@dataclass
class Call:
    service: str
    operation: str
    protocol: str  # how the service writes errors: rest-xml (S3), json, rest-json, query
    checks: list[Check]
    # S3 GetObject/HeadObject: AWS answers 404 for a missing object only to a caller that may
    # also list the bucket, 403 otherwise.
    missing_needs: Check | None = None
    error_code: str = "AccessDenied"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Signature:
    access_key: str
    region: str
    service: str


def signature(request: Request, form: dict[str, str] | None = None) -> Signature | None:
    """The signer of a request: the Authorization header, a presigned URL, or a presigned POST's fields."""
    match = _SCOPE.search(request.headers.get("Authorization", ""))
    if match:
        return Signature(*match.groups())
    form = form or {}
    credential = request.args.get("X-Amz-Credential") or form.get("x-amz-credential")
    if credential:
        parts = credential.split("/")
        if len(parts) == 5:
            return Signature(parts[0], parts[2], parts[3])
    # S3's older signature (what boto3 presigns POSTs with unless told otherwise) names no region
    legacy = request.args.get("AWSAccessKeyId") or form.get("awsaccesskeyid")
    return Signature(legacy, "us-east-1", "s3") if legacy else None


def signed_request(environ: dict[str, Any]) -> tuple[Signature | None, dict[str, str]]:
    """Who signed a request, and, for a browser upload (a presigned POST, which carries its
    signature in its form rather than a header), that form's fields, read once."""
    request = Request(environ)
    browser_upload = request.method == "POST" and "Authorization" not in request.headers
    form = post_form(environ) if browser_upload else {}
    return signature(request, form), form


def body(environ: dict[str, Any]) -> bytes:
    """Reads the request body and puts it back for the service."""
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return data


def post_form(environ: dict[str, Any]) -> dict[str, str]:
    """The text fields of an S3 browser-upload form (a presigned POST), lower-cased names."""
    request = Request(environ)
    if request.method != "POST" or request.mimetype != "multipart/form-data":
        return {}
    data = body(environ)
    import io

    parsed = Request(dict(environ, **{"wsgi.input": io.BytesIO(data)}))
    fields = {name.lower(): value for name, value in parsed.form.items()}
    filename = next((f.filename for f in parsed.files.values() if f.filename), "")
    environ["wsgi.input"] = io.BytesIO(data)
    if "key" in fields:
        fields["key"] = fields["key"].replace("${filename}", filename or "")
    return fields


# -- S3 -----------------------------------------------------------------------------------
_BUCKET_READS = {
    "versions": "ListBucketVersions",
    "uploads": "ListBucketMultipartUploads",
    "location": "GetBucketLocation",
    "acl": "GetBucketAcl",
    "policy": "GetBucketPolicy",
    "policyStatus": "GetBucketPolicyStatus",
    "versioning": "GetBucketVersioning",
    "tagging": "GetBucketTagging",
    "notification": "GetBucketNotification",
    "cors": "GetBucketCORS",
    "lifecycle": "GetLifecycleConfiguration",
    "encryption": "GetEncryptionConfiguration",
    "publicAccessBlock": "GetBucketPublicAccessBlock",
    "ownershipControls": "GetBucketOwnershipControls",
    "website": "GetBucketWebsite",
    "logging": "GetBucketLogging",
    "object-lock": "GetBucketObjectLockConfiguration",
    "replication": "GetReplicationConfiguration",
    "requestPayment": "GetBucketRequestPayment",
    "accelerate": "GetAccelerateConfiguration",
}
_BUCKET_WRITES = {
    "acl": "PutBucketAcl",
    "policy": "PutBucketPolicy",
    "versioning": "PutBucketVersioning",
    "tagging": "PutBucketTagging",
    "notification": "PutBucketNotification",
    "cors": "PutBucketCORS",
    "lifecycle": "PutLifecycleConfiguration",
    "encryption": "PutEncryptionConfiguration",
    "publicAccessBlock": "PutBucketPublicAccessBlock",
    "ownershipControls": "PutBucketOwnershipControls",
    "website": "PutBucketWebsite",
    "logging": "PutBucketLogging",
}
_BUCKET_DELETES = {
    "policy": "DeleteBucketPolicy",
    "tagging": "PutBucketTagging",
    "cors": "PutBucketCORS",
    "lifecycle": "PutLifecycleConfiguration",
    "encryption": "PutEncryptionConfiguration",
    "publicAccessBlock": "PutBucketPublicAccessBlock",
    "ownershipControls": "PutBucketOwnershipControls",
    "website": "DeleteBucketWebsite",
}
_OBJECT_SUBRESOURCES = {
    ("GET", "acl"): "GetObjectAcl",
    ("GET", "tagging"): "GetObjectTagging",
    ("GET", "retention"): "GetObjectRetention",
    ("GET", "legal-hold"): "GetObjectLegalHold",
    ("GET", "attributes"): "GetObjectAttributes",
    ("PUT", "acl"): "PutObjectAcl",
    ("PUT", "tagging"): "PutObjectTagging",
    ("PUT", "retention"): "PutObjectRetention",
    ("PUT", "legal-hold"): "PutObjectLegalHold",
    ("DELETE", "tagging"): "DeleteObjectTagging",
    ("POST", "restore"): "RestoreObject",
}
# Subresources whose IAM action takes "Version" when a versionId is given.
_VERSIONED = {"GetObject", "GetObjectAcl", "GetObjectTagging", "PutObjectAcl", "PutObjectTagging", "DeleteObject"}
_VERSIONED |= {"DeleteObjectTagging", "GetObjectAttributes"}


def _bucket_and_key(request: Request) -> tuple[str, str]:
    host = request.host.split(":")[0]
    path = request.path
    virtual = re.match(r"(.+?)\.(s3[.-].*|localhost)$", host)
    if virtual and not re.fullmatch(r"[\d.]+", host):
        return virtual.group(1), path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _object(action: str, arn: str, versioned: bool) -> Check:
    """An object action; on a given version AWS checks its Version form (GetObjectVersionAcl, ...)."""
    if versioned and action in _VERSIONED:
        action = action.replace("Object", "ObjectVersion", 1)
    return Check(f"s3:{action}", arn)


def _copy_source(header: str, partition: str) -> Check:
    source, _, query = unquote(header).lstrip("/").partition("?")
    return _object("GetObject", f"arn:{partition}:s3:::{source}", "versionId=" in query)


def s3(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    partition = "aws"
    bucket, key = _bucket_and_key(request)
    params = set(request.args.keys())
    method = request.method
    versioned = "versionId" in params

    def call(operation: str, *checks: Check, missing: Check | None = None) -> Call:
        return Call("s3", operation, "rest-xml", list(checks), missing_needs=missing)

    if not bucket:
        if method == "GET":
            return call("ListBuckets", Check("s3:ListAllMyBuckets", "*"))
        raise Unmapped(f"S3 {method} /")
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    if key:
        arn = f"{bucket_arn}/{key}"
        sub = next((s for (m, s) in _OBJECT_SUBRESOURCES if m == method and s in params), None)
        if sub:
            action = _OBJECT_SUBRESOURCES[(method, sub)]
            return call(action, _object(action, arn, versioned))
        if method in ("GET", "HEAD"):
            if "uploadId" in params:
                return call("ListParts", Check("s3:ListMultipartUploadParts", arn))
            listing = Check("s3:ListBucket", bucket_arn)
            return call("GetObject", _object("GetObject", arn, versioned), missing=listing)
        if method == "PUT":
            checks = [Check("s3:PutObject", arn)]
            if request.headers.get("x-amz-copy-source"):
                checks.append(_copy_source(request.headers["x-amz-copy-source"], partition))
            if "uploadId" in params:
                return call("UploadPart", *checks)
            if request.headers.get("x-amz-acl") or any(
                name.lower().startswith("x-amz-grant-") for name, _ in request.headers.items()
            ):
                checks.append(Check("s3:PutObjectAcl", arn))
            if request.headers.get("x-amz-tagging"):
                checks.append(Check("s3:PutObjectTagging", arn))
            return call("PutObject", *checks)
        if method == "POST" and ("uploads" in params or "uploadId" in params):
            operation = "CreateMultipartUpload" if "uploads" in params else "CompleteMultipartUpload"
            return call(operation, Check("s3:PutObject", arn))
        if method == "DELETE":
            if "uploadId" in params:
                return call("AbortMultipartUpload", Check("s3:AbortMultipartUpload", arn))
            checks = [_object("DeleteObject", arn, versioned)]
            if request.headers.get("If-Match", "*") != "*":  # a delete on condition of the ETag reads it
                checks.append(Check("s3:GetObject", arn))
            return call("DeleteObject", *checks)
        raise Unmapped(f"S3 {method} object request with {sorted(params)}")
    if method == "POST" and "delete" in params:
        # Each object as a DeleteObject of its own: DeleteObjectVersion where it names a version.
        document = ElementTree.fromstring(body(environ))
        objects = [e for e in document.iter() if e.tag.rpartition("}")[2] == "Object"]
        checks = []
        for entry in objects:
            fields = {child.tag.rpartition("}")[2]: child.text or "" for child in entry}
            checks.append(_object("DeleteObject", f"{bucket_arn}/{fields.get('Key', '')}", "VersionId" in fields))
        return call("DeleteObjects", *checks)
    if method == "POST" and form.get("key"):
        return call("PostObject", Check("s3:PutObject", f"{bucket_arn}/{form['key']}"))
    table = {"GET": _BUCKET_READS, "PUT": _BUCKET_WRITES, "DELETE": _BUCKET_DELETES}.get(method, {})
    sub = next((s for s in table if s in params), None)
    if sub:
        return call(table[sub], Check(f"s3:{table[sub]}", bucket_arn))
    if method in ("GET", "HEAD"):  # ListObjects(V2) and HeadBucket, whatever their listing parameters
        return call("ListBucket", Check("s3:ListBucket", bucket_arn))
    if method in ("PUT", "DELETE") and not params:
        operation = "CreateBucket" if method == "PUT" else "DeleteBucket"
        return call(operation, Check(f"s3:{operation}", bucket_arn))
    raise Unmapped(f"S3 {method} bucket request with {sorted(params)}")


# -- JSON services: DynamoDB, Step Functions -----------------------------------------------
def _table_arn(name: str, region: str, account: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"


_TRANSACT = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
_ANY_RESOURCE = {"ListTables", "DescribeLimits", "DescribeEndpoints", "ListBackups", "ListGlobalTables"}


def dynamodb(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
    params = json.loads(body(environ) or b"{}")

    def table(name: str) -> str:
        return _table_arn(name, scope.region, account)

    if operation in _ANY_RESOURCE:
        checks = [Check(f"dynamodb:{operation}", "*")]
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        checks = [Check(f"dynamodb:{operation}", table(name)) for name in params.get("RequestItems", {})]
    elif operation == "TransactGetItems":
        items = params.get("TransactItems", [])
        checks = [Check("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in items]
    elif operation == "TransactWriteItems":
        checks = [
            Check(f"dynamodb:{_TRANSACT[kind]}", table(detail["TableName"]))
            for item in params.get("TransactItems", [])
            for kind, detail in item.items()
        ]
    elif "TableName" in params:
        arn = table(params["TableName"])
        if params.get("IndexName") and operation in ("Query", "Scan"):
            arn += f"/index/{params['IndexName']}"
        checks = [Check(f"dynamodb:{operation}", arn)]
    elif "ResourceArn" in params:
        checks = [Check(f"dynamodb:{operation}", params["ResourceArn"])]
    else:
        raise Unmapped(f"DynamoDB {operation}")
    return Call("dynamodb", operation, "json", checks, extra={"message_key": "Message"})


_SFN_ARGUMENT = {
    "StartExecution": "stateMachineArn",
    "StartSyncExecution": "stateMachineArn",
    "DescribeStateMachine": "stateMachineArn",
    "ListExecutions": "stateMachineArn",
    "UpdateStateMachine": "stateMachineArn",
    "DeleteStateMachine": "stateMachineArn",
    "DescribeExecution": "executionArn",
    "GetExecutionHistory": "executionArn",
    "StopExecution": "executionArn",
    "RedriveExecution": "executionArn",
    "DescribeStateMachineForExecution": "executionArn",
}


def stepfunctions(
    request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]
) -> Call:
    operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
    params = json.loads(body(environ) or b"{}")
    if operation in ("ListStateMachines", "ListActivities"):
        resource = "*"
    elif operation in _SFN_ARGUMENT and params.get(_SFN_ARGUMENT[operation]):
        resource = params[_SFN_ARGUMENT[operation]]
    else:
        raise Unmapped(f"Step Functions {operation}")
    return Call("states", operation, "json", [Check(f"states:{operation}", resource)])


# -- query services: SNS, STS -------------------------------------------------------------
def _query(request: Request, environ: dict[str, Any]) -> dict[str, str]:
    params = {name: values[0] for name, values in parse_qs(body(environ).decode(), keep_blank_values=True).items()}
    return params | {name: value for name, value in request.args.items()}


_SNS_TOPIC_OPERATIONS = {
    "Publish",
    "PublishBatch",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "Subscribe",
    "ListSubscriptionsByTopic",
    "DeleteTopic",
}


def sns(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    params = _query(request, environ)
    operation = params.get("Action", "")
    action = "Publish" if operation == "PublishBatch" else operation
    if operation in _SNS_TOPIC_OPERATIONS and (params.get("TopicArn") or params.get("TargetArn")):
        resource = params.get("TopicArn") or params["TargetArn"]
    elif operation == "CreateTopic":
        resource = f"arn:aws:sns:{scope.region}:{account}:{params.get('Name', '')}"
    elif operation in ("ListTopics", "ListSubscriptions", "Unsubscribe"):
        resource = "*"  # Unsubscribe names a subscription, which is no resource type of IAM's
    else:
        raise Unmapped(f"SNS {operation}")
    return Call("sns", operation, "query", [Check(f"sns:{action}", resource)], error_code="AuthorizationError")


def sts(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    operation = _query(request, environ).get("Action", "")
    if operation == "GetCallerIdentity":  # needs no permission on AWS either
        return Call("sts", operation, "query", [])
    raise Unmapped(f"STS {operation}")


# -- SQS (JSON, or the query protocol of older SDKs) ---------------------------------------
# Batch operations are authorised as their single form.
_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _queue_arn(url: str, region: str, account: str) -> str:
    owner, _, name = urlparse(url).path.strip("/").rpartition("/")
    return f"arn:aws:sqs:{region}:{owner.rpartition('/')[2] or account}:{name}"


def sqs(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    target = request.headers.get("X-Amz-Target", "")
    if target:
        operation = target.rpartition(".")[2]
        params = json.loads(body(environ) or b"{}")
        protocol = "json"
    else:
        params = _query(request, environ)
        operation = params.get("Action", "")
        protocol = "query"
    action = _SQS_ACTIONS.get(operation, operation)
    if params.get("QueueUrl"):
        resource = _queue_arn(params["QueueUrl"], scope.region, account)
    elif operation in ("GetQueueUrl", "CreateQueue") and params.get("QueueName"):
        owner = params.get("QueueOwnerAWSAccountId") or account
        resource = f"arn:aws:sqs:{scope.region}:{owner}:{params['QueueName']}"
    elif operation == "ListQueues":
        resource = "*"
    else:
        raise Unmapped(f"SQS {operation}")
    return Call("sqs", operation, protocol, [Check(f"sqs:{action}", resource)])


# -- what an operator's tools call (ops/): CloudFormation, Cognito user pools ---------------
def cloudformation(
    request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]
) -> Call:
    params = _query(request, environ)
    operation = params.get("Action", "")
    if operation == "ValidateTemplate":  # no resource-level permissions
        return Call("cloudformation", operation, "query", [Check("cloudformation:ValidateTemplate", "*")])
    if operation not in _STACK_OPERATIONS:
        raise Unmapped(f"CloudFormation {operation}")
    name = params.get("StackName", "")
    if not name and operation in ("DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet"):
        name = _change_set_stack(params.get("ChangeSetName", ""), scope.region, account)
    if not name:
        resource = "*"
    elif name.startswith("arn:"):
        resource = name
    else:  # AWS evaluates the stack's ARN, which ends in its id
        resource = _stack_arn(name, scope.region, account)
    checks = [Check(f"cloudformation:{operation}", resource)]
    if not params.get("RoleARN"):
        return Call("cloudformation", operation, "query", checks)
    # a service role for CloudFormation: the caller passes it to CloudFormation
    checks.append(Check("iam:PassRole", params["RoleARN"]))
    context = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    return Call("cloudformation", operation, "query", checks, extra={"context": context})


# What an operator's tools and the deployer (`sls package`, `sls deploy`) call on a stack.
_STACK_OPERATIONS = {
    "DescribeStacks",
    "DescribeStackResources",
    "DescribeStackResource",
    "ListStackResources",
    "DescribeStackEvents",
    "GetTemplate",
    "CreateStack",
    "UpdateStack",
    "DeleteStack",
    "CreateChangeSet",
    "DescribeChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
}


def _change_set_stack(change_set: str, region: str, account: str) -> str:
    """The stack a change set named by its ARN belongs to (the Framework names it so)."""
    from moto.cloudformation.models import cloudformation_backends

    found = cloudformation_backends[account][region].change_sets.get(change_set)
    return found.stack_id if found else ""


def _stack_arn(name: str, region: str, account: str) -> str:
    from moto.cloudformation.models import cloudformation_backends

    stacks = cloudformation_backends[account][region].stacks.values()
    found = next((s.stack_id for s in stacks if s.name == name and s.status != "DELETE_COMPLETE"), None)
    return found or f"arn:aws:cloudformation:{region}:{account}:stack/{name}/*"


_PUBLIC_COGNITO = {"InitiateAuth", "RespondToAuthChallenge", "GetUser", "GlobalSignOut", "RevokeToken"}


def cognito_idp(
    request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]
) -> Call:
    operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
    if operation in _PUBLIC_COGNITO:  # a user's own calls, authorised by the pool, not by IAM
        return Call("cognito-idp", operation, "json", [])
    params = json.loads(body(environ) or b"{}")
    if not params.get("UserPoolId"):
        raise Unmapped(f"Cognito user pools {operation}")
    resource = f"arn:aws:cognito-idp:{scope.region}:{account}:userpool/{params['UserPoolId']}"
    return Call("cognito-idp", operation, "json", [Check(f"cognito-idp:{operation}", resource)])


# -- Lambda (REST JSON) -------------------------------------------------------------------
_LAMBDA_PATH = re.compile(r"/20\d\d-\d\d-\d\d/functions/([^/]+)(/.*)?$")


def _function_arn(name: str, qualifier: str | None, region: str, account: str) -> str:
    name = unquote(name)
    if name.startswith("arn:"):
        arn = name
    elif ":function:" in name:  # 123456789012:function:name
        arn = f"arn:aws:lambda:{region}:{name}"
    else:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    if qualifier and arn.count(":") == 6:
        arn += f":{qualifier}"
    return arn


def awslambda(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    match = _LAMBDA_PATH.search(request.path)
    if request.method == "GET" and re.search(r"/functions/?$", request.path):
        return Call("lambda", "ListFunctions", "rest-json", [Check("lambda:ListFunctions", "*")])
    if not match:
        raise Unmapped(f"Lambda {request.method} {request.path}")
    arn = _function_arn(match.group(1), request.args.get("Qualifier"), scope.region, account)
    rest = match.group(2) or ""
    operation = {
        ("POST", "/invocations"): "InvokeFunction",
        ("POST", "/invoke-async/"): "InvokeAsync",
        ("GET", ""): "GetFunction",
        ("GET", "/configuration"): "GetFunctionConfiguration",
    }.get((request.method, rest))
    if not operation:
        raise Unmapped(f"Lambda {request.method} {request.path}")
    return Call("lambda", operation, "rest-json", [Check(f"lambda:{operation}", arn)])


RESOLVERS: dict[str, Callable[..., Call]] = {
    "s3": s3,
    "dynamodb": dynamodb,
    "states": stepfunctions,
    "sns": sns,
    "sts": sts,
    "lambda": awslambda,
    "cloudformation": cloudformation,
    "sqs": sqs,
    "cognito-idp": cognito_idp,
}


def resolve(request: Request, environ: dict[str, Any], scope: Signature, account: str, form: dict[str, str]) -> Call:
    resolver = RESOLVERS.get(scope.service)
    if resolver is None:
        raise Unmapped(f"service {scope.service!r}")
    return resolver(request, environ, scope, account, form)
