"""The photo app (app/, docs/app.md) served by the local cloud at `/_app/<stage>/`, from the
stage's own private app bucket (the stack's AppBucketName output), as its CloudFront
distribution serves it on AWS.

On AWS only the distribution may read that bucket (origin access control); here the local cloud
reads it with its own rights, which stand for the distribution's. As CloudFront does with an S3
origin it may not list: `/` is the root object (index.html), and a key that is not there answers
403 AccessDenied, never a listing. Objects keep the Content-Type and Cache-Control they were
uploaded with (plugins/app-upload.js). The API is the same origin here (`/_api/<stage>/`), as the
distribution's `/<stage>/*` behaviour makes it on AWS.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

PREFIX = "/_app/"
ROOT_OBJECT = "index.html"


def app_bucket(account_id: str, stage: str) -> str | None:
    """The app bucket of the stage's stack (`<service>-<stage>`), if one is deployed."""
    from moto.cloudformation.models import cloudformation_backends

    for backend in cloudformation_backends[account_id].values():
        for stack in backend.stacks.values():
            if stack.status.startswith("DELETE") or not stack.name.endswith(f"-{stage}"):
                continue
            for output in stack.outputs or []:
                if output["OutputKey"] == "AppBucketName":
                    return str(output["OutputValue"])
    return None


def handle(request: Request, account_id: str) -> Response:
    from moto.s3.exceptions import MissingBucket, MissingKey
    from moto.s3.models import s3_backends

    stage, slash, key = request.path.removeprefix(PREFIX).partition("/")
    if not slash:  # /_app/<stage>: the app's links are relative to its folder
        return Response(status=301, headers={"Location": f"{PREFIX}{stage}/"})
    if request.method not in ("GET", "HEAD"):
        return Response("method not allowed", status=405, headers={"Allow": "GET, HEAD"})
    bucket = app_bucket(account_id, stage)
    if bucket is None:
        return Response(f"no stage {stage!r} with the photo app is deployed here\n", status=404, mimetype="text/plain")
    try:
        found = s3_backends[account_id]["global"].get_object(bucket, key or ROOT_OBJECT)
    except (MissingBucket, MissingKey):
        found = None
    if found is None:
        return Response(_ACCESS_DENIED, status=403, mimetype="application/xml")
    stored = found.metadata  # the headers it was put with (a case-insensitive dict)
    headers = {"Content-Type": stored.get("Content-Type") or "binary/octet-stream", "ETag": found.etag}
    if stored.get("Cache-Control"):
        headers["Cache-Control"] = stored["Cache-Control"]
    if request.headers.get("If-None-Match") == found.etag:
        return Response(status=304, headers=headers)
    return Response(b"" if request.method == "HEAD" else found.value, headers=headers)


_ACCESS_DENIED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
)
