"""POST /upload: the posted JPEG goes to the upload bucket under a safe generated key
(`uploads/<user>/<uuid>-<name>`, the name from X-Filename, ?filename=, a multipart/form-data
file part or a Content-Disposition header), or, with `?presign=true`, a presigned POST for that key is
returned for larger files. The user is the `sub` of the Cognito token API Gateway verified
(requestContext.authorizer.claims); headers and parameters cannot choose it."""

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import uploads
from .core.errors import UploadRejected
from .core.observability import logger


def _response(status: int, body: dict[str, Any], origin: str | None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **uploads.cors_headers(origin)},
        "body": json.dumps(body),
    }


def _body(request: APIGatewayProxyEvent) -> bytes:
    # Powertools' decoded_body returns text; a photo needs the raw bytes.
    if not request.body:
        return b""
    if not request.is_base64_encoded:
        return request.body.encode()
    try:
        return base64.b64decode(request.body, validate=True)
    except binascii.Error:
        raise UploadRejected(400, "the body is marked base64 but is not valid base64") from None


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayProxyEvent(event)
    params = request.query_string_parameters or {}
    filename = request.headers.get("x-filename") or params.get("filename")
    origin = request.headers.get("origin")
    try:
        user = uploads.owner(request.request_context.authorizer.claims)
        if params.get("presign", "").lower() in ("1", "true", "yes"):
            return _response(200, uploads.presign(filename, user), origin)
        photo, content_type, sent_as = uploads.posted_photo(
            _body(request), request.headers.get("content-type"), request.headers.get("content-disposition")
        )
        stored = uploads.store(photo, content_type, filename or sent_as, user)
    except UploadRejected as rejected:
        logger.info("upload rejected", extra={"status": rejected.status, "reason": str(rejected)})
        return _response(rejected.status, {"error": str(rejected)}, origin)
    logger.info("upload stored", extra=stored)
    return _response(201, stored, origin)
