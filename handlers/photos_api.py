"""The photos API (GET /photos, GET /photos/{id}, DELETE /photos/{id}, GET /uploads/{id},
DELETE /me): a signed-in user's own photos. The user is the `sub` of the Cognito token API Gateway verified; nothing
in the request can name another. Routing, validation of parameters and answers, and the
OpenAPI document are Powertools' event handler's; what each route does is handlers/core's.

Each route is its own function in serverless.yml (its own least-privilege role) with this
same handler: API Gateway sends each function only its own route."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from .core import api_models, config, erasure, library, upload_status, uploads
from .core.errors import UploadRejected
from .core.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

MISSING = "no such photo"  # the same words for a missing photo and for another user's
# Time kept back from the function's timeout when erasing an account in one call.
ERASURE_MARGIN_MS = 4000

app = APIGatewayRestResolver(enable_validation=True)
_json = "application/json"


def _answer(description: str, model: type[BaseModel] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {_json: {"model": model}}} if model else {"description": description}


def _answers(ok: int, ok_description: str, **more: dict[str, Any]) -> dict[int, Any]:
    """A route's documented answers: its own, and API Gateway's (not signed in, throttled)."""
    answers = {ok: {"description": ok_description}} if ok != 204 else {204: _answer(ok_description)}
    answers |= {int(status.removeprefix("s")): answer for status, answer in more.items()}
    answers[401] = _answer("no valid ID token in Authorization (API Gateway's answer)", api_models.Error)
    answers[429] = _answer("over the stage's request rate (API Gateway's answer)", api_models.Error)
    return answers


_missing = _answer(MISSING + ": not yours, or not there (the same answer)", api_models.Error)


def _user() -> str:
    return uploads.owner(app.current_event.request_context.authorizer.claims)


def _error(status: int, message: str) -> Response[str]:
    return Response(status, _json, json.dumps({"message": message}))


@app.exception_handler(library.BadRequest)
def _bad_request(error: library.BadRequest) -> Response[str]:
    return _error(400, str(error))


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response[str]:
    # Powertools' own 422 answer leaves out `msg`, which the document it generates requires
    # (schemathesis found it): the same answer, with each error's message.
    details = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg") or f"invalid ({e.get('type')})", "type": e.get("type")}
        for e in error.errors()
    ]
    return Response(422, _json, json.dumps({"statusCode": 422, "detail": details}))


@app.exception_handler(library.PhotoNotFound)
def _photo_not_found(_: library.PhotoNotFound) -> Response[str]:
    return _error(404, MISSING)


@app.exception_handler(upload_status.UploadNotFound)
def _upload_not_found(_: upload_status.UploadNotFound) -> Response[str]:
    return _error(404, "no such upload")


@app.exception_handler(UploadRejected)
def _refused(error: UploadRejected) -> Response[str]:
    return _error(error.status, str(error))


def _cors(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """The answer's CORS headers, as POST /upload's (only an allowed origin, never `*`)."""
    answer = next_middleware(app)
    answer.headers.update(uploads.cors_headers(app.current_event.headers.get("origin")))
    return answer


app.use(middlewares=[_cors])


@app.get(
    "/photos",
    summary="Your photos, newest first",
    responses=_answers(200, "a page of photos", s400=_answer("a cursor of another listing", api_models.Error)),
    tags=["photos"],
)
def list_photos(
    order: Annotated[Literal["uploaded", "captured"], Query(description="by upload or capture time")] = "uploaded",
    month: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="only YYYY-MM")] = None,
    limit: Annotated[int, Query(ge=1, le=library.MAX_PAGE, description="photos per page")] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=1000, description="the last page's cursor")] = None,
) -> api_models.PhotoPage:
    page = library.page(library.Query(_user(), order, month), limit, cursor)
    entries = []
    for item in page.items:
        preview = library.download_links(item, only=[library.PREVIEW]).get(library.PREVIEW)
        entries.append(api_models.PhotoSummary(**api_models.summary(item), thumbnailUrl=preview))
    return api_models.PhotoPage(photos=entries, cursor=page.cursor)


@app.get(
    "/photos/<photo_id>",
    summary="One of your photos, with download links",
    responses=_answers(200, "the photo", s404=_missing),
    tags=["photos"],
)
def get_photo(photo_id: Annotated[str, Path(max_length=200)]) -> api_models.PhotoDetail:
    item = library.record(_user(), photo_id)
    if item is None:
        raise library.PhotoNotFound()
    links = library.download_links(item)
    return api_models.PhotoDetail(
        **api_models.summary(item),
        thumbnailUrl=links.get(library.PREVIEW),
        cameraMake=item.get("cameraMake"),
        cameraModel=item.get("cameraModel"),
        lens=item.get("lens"),
        downloads=links,
        downloadsExpireIn=config.download_url_seconds(),
    )


@app.delete(
    "/photos/<photo_id>",
    summary="Erase one of your photos (every stored version); the same answer if it is already gone",
    status_code=204,
    responses=_answers(
        204,
        "erased, or there was no such photo",
        s404=_answer("a path no photo id can have (characters the router does not route)", api_models.Error),
    ),
    tags=["photos"],
)
# No return annotation: Powertools reads one as the answer's schema, and a 204 has no body.
def delete_photo(photo_id: Annotated[str, Path(max_length=200)]):  # type: ignore[no-untyped-def]
    user = _user()
    erased = erasure.erase_photo(user, photo_id)
    logger.info("photo erasure", extra={"photoId": photo_id, "erased": erased})
    return Response(204, None, "")


@app.get(
    "/uploads/<upload_id>",
    summary="Where one of your uploads is: waiting, processing, processed, rejected, duplicate, failed",
    responses=_answers(200, "the upload's state", s404=_answer("no such upload of yours", api_models.Error)),
    tags=["uploads"],
)
def get_upload(upload_id: Annotated[str, Path(max_length=200)]) -> api_models.UploadStatus:
    found = upload_status.status(_user(), upload_id)
    if found is None:
        raise upload_status.UploadNotFound()
    return api_models.UploadStatus(**found)


@app.delete(
    "/me",
    summary="Erase your account: every photo and upload, then the sign-in itself",
    responses=_answers(200, "all erased", s202=_answer("more is left: call again", api_models.AccountErasure)),
    tags=["account"],
)
def delete_me() -> Response[api_models.AccountErasure]:
    claims = app.current_event.request_context.authorizer.claims or {}
    context: LambdaContext = app.lambda_context
    erased = erasure.erase_account(
        _user(),
        claims.get("cognito:username"),
        keep_going=lambda: context.get_remaining_time_in_millis() > ERASURE_MARGIN_MS,
    )
    logger.info("account erasure", extra={"photos": erased.photos, "uploads": erased.uploads, "done": erased.done})
    answer = api_models.AccountErasure(done=erased.done, photos=erased.photos, uploads=erased.uploads)
    return Response(200 if erased.done else 202, _json, answer)


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (docs/api/openapi.json is this, committed)."""
    text = app.get_openapi_json_schema(
        title="Image converter photos API",
        version="1",
        description="A signed-in user's own photos. Send the Cognito ID token in Authorization.",
        security_schemes={"cognito": APIKey(name="Authorization", in_=APIKeyIn.header)},
        security=[{"cognito": []}],
    )
    document: dict[str, Any] = json.loads(text)
    return document


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
