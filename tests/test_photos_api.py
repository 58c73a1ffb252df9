"""The photos API through the deployed REST API (served by the local cloud): a signed-in user
lists, fetches and erases their own photos and nobody else's; the OpenAPI document is the
one the code generates; the local API gateway routes path parameters as API Gateway does."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from handlers.core import library
from localcloud.services.apigateway import rest_api as apigw
from ops import openapi
from tests import images as pictures
from tests.api import as_user, call, post, user

JPEG = {"Content_Type": "image/jpeg"}


# -- without the cloud -------------------------------------------------------------------------
def test_the_committed_openapi_document_is_the_generated_one():
    committed = openapi.DOCUMENT.read_text()
    assert committed == openapi.generated(), "docs/api/openapi.json is stale: run `python -m ops.openapi`"
    paths = json.loads(committed)["paths"]
    assert set(paths) == {"/photos", "/photos/{photo_id}", "/uploads/{upload_id}", "/me"}
    assert set(paths["/photos/{photo_id}"]) == {"get", "delete"}


def test_path_templates_match_as_api_gateway_matches_them():
    resources = [SimpleNamespace(get_path=lambda p=p: p) for p in ("/", "/photos", "/photos/{photo_id}", "/me")]
    [(found, parameters)] = apigw.matching_resources(resources, "/photos/abc")
    assert found.get_path() == "/photos/{photo_id}" and parameters == {"photo_id": "abc"}
    [(found, parameters)] = apigw.matching_resources(resources, "/photos")
    assert found.get_path() == "/photos" and parameters is None
    assert apigw.matching_resources(resources, "/photos/a/b") == []
    both = [SimpleNamespace(get_path=lambda p=p: p) for p in ("/photos/{photo_id}", "/photos/recent")]
    assert next(r.get_path() for r, _ in apigw.matching_resources(both, "/photos/recent")) == "/photos/recent"


def test_proxy_answers_become_responses_as_api_gateway_makes_them():
    plain = apigw._response({"statusCode": 204, "body": ""})
    assert plain.status_code == 204 and plain.headers["Content-Type"] == "application/json"
    both = apigw._response(
        {"statusCode": 200, "body": "{}", "headers": {"A": "1"}, "multiValueHeaders": {"B": ["2", "3"], "A": ["4"]}}
    )
    assert both.headers.getlist("A") == ["1", "4"] and both.headers.getlist("B") == ["2", "3"]


def test_the_proxy_event_carries_path_and_query_parameters_as_api_gateway_passes_them():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    request = Request(
        EnvironBuilder(path="/_api/dev/photos/abc", method="DELETE", query_string="a=1&a=2&b=x%20y").get_environ()
    )
    api = SimpleNamespace(id="api1", binaryMediaTypes=[])
    event = apigw._proxy_event(request, api, "dev", "/photos/abc", "/photos/{photo_id}", {"photo_id": "abc"})
    assert (
        event["httpMethod"] == "DELETE" and event["resource"] == "/photos/{photo_id}" and event["path"] == "/photos/abc"
    )
    assert event["pathParameters"] == {"photo_id": "abc"}
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}  # the last value of a repeated one
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert event["requestContext"]["resourcePath"] == "/photos/{photo_id}"


def test_a_cursor_is_bound_to_its_user_and_query():
    mine = library.Query("alice", "uploaded", None)
    cursor = library.encode_cursor(mine, {"photoId": "a" * 64, "uploadedAt": "2026-12-01T00:00:00.000+00:00"})
    assert library.decode_cursor(mine, cursor)["userId"] == "alice"
    assert "alice" not in cursor and "a" * 64 not in cursor  # opaque: neither the user nor the id readable
    for other in (library.Query("bob"), library.Query("alice", "captured"), library.Query("alice", month="2026-12")):
        with pytest.raises(library.BadRequest):
            library.decode_cursor(other, cursor)
    for broken in ("", "x", cursor[:-3], cursor + "AA", "eyJ2IjoxfQ"):
        with pytest.raises(library.BadRequest):
            library.decode_cursor(mine, broken)


# -- through the deployed API -----------------------------------------------------------------
def _upload(cloud, stack, pipeline, me, name: str, seed: int) -> bytes:
    data = pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(seed))
    answer = post(cloud, stack, data, as_user(me, Content_Type="image/jpeg", X_Filename=name))
    assert answer.status == 201, answer.body
    [outcome] = pipeline.wait({answer.body["key"]: name}, timeout=90)
    assert outcome.result.kind == "processed", outcome.result
    return data


def _remains(stack, user_id: str, item: dict[str, Any]) -> list[str]:
    """Every trace of a photo still stored: object versions of its outputs, its record, its index entries."""
    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    bucket, found = stack.outputs["DestinationBucketName"], []
    for key in library.output_keys_of(item).values():  # every output OutputKeys names
        listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
        found += [
            f"s3 {v['Key']} {v['VersionId']}" for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
        ]
    key = {"userId": {"S": user_id}, "photoId": {"S": item["photoId"]}}
    if "Item" in dynamodb.get_item(TableName=stack.outputs["PhotosTableName"], Key=key, ConsistentRead=True):
        found.append(f"record {item['photoId']}")
    index = item.get("uniquenessIndex") or {}
    for band in index.get("bands", []):
        entry = {"entry": {"S": band}, "photo": {"S": index["member"]}}
        if "Item" in dynamodb.get_item(TableName=stack.outputs["UniquenessTableName"], Key=entry, ConsistentRead=True):
            found.append(f"index {band}")
    return found


def _record(stack, user_id: str, photo_id: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    return table.get_item(Key={"userId": user_id, "photoId": photo_id}, ConsistentRead=True)["Item"]


def test_the_owner_lists_fetches_and_erases_a_photo(cloud, stack, pipeline, unique):
    me = user(cloud, stack, f"owner-{unique}")
    data = _upload(cloud, stack, pipeline, me, "Beach Day.jpg", 11)
    listed = call(cloud, stack, "GET", "photos", me)
    assert listed.status == 200, listed.body
    [entry] = listed.body["photos"]
    assert entry["id"] == hashlib.sha256(data).hexdigest() and entry["fileName"] == "Beach-Day.jpg"
    assert entry["bytes"] == len(data) and entry["width"] > 0 and listed.body["cursor"] is None
    captured = call(cloud, stack, "GET", "photos?order=captured", me)  # a photo without EXIF time is not there
    assert captured.status == 200 and captured.body["photos"] == [], captured.body
    thumbnail = requests.get(entry["thumbnailUrl"], timeout=10)
    assert thumbnail.status_code == 200 and thumbnail.content[:3] == b"\xff\xd8\xff"

    got = call(cloud, stack, "GET", f"photos/{entry['id']}", me)
    assert got.status == 200, got.body
    item = _record(stack, me.sub, entry["id"])
    assert set(got.body["downloads"]) == set(library.output_keys_of(item))
    s3 = boto3.client("s3")
    for name, url in got.body["downloads"].items():
        fetched = requests.get(url, timeout=10)
        key = library.output_keys_of(item)[name]  # the renditions' too (docs/renditions.md)
        stored = s3.get_object(Bucket=stack.outputs["DestinationBucketName"], Key=key)["Body"].read()
        assert fetched.status_code == 200 and fetched.content == stored, name
        assert 'filename="Beach-Day' in fetched.headers["Content-Disposition"], fetched.headers

    assert call(cloud, stack, "DELETE", f"photos/{entry['id']}", me).status == 204
    assert _remains(stack, me.sub, item) == []
    missing = call(cloud, stack, "GET", f"photos/{entry['id']}", me)
    assert missing.status == 404 and missing.body == {"message": "no such photo"}
    assert call(cloud, stack, "DELETE", f"photos/{entry['id']}", me).status == 204  # idempotent
    assert call(cloud, stack, "GET", "photos", me).body["photos"] == []


def test_two_users_never_see_fetch_page_or_erase_each_others_photos(cloud, stack, pipeline, unique):
    alice, bob = user(cloud, stack, f"alice-{unique}"), user(cloud, stack, f"bob-{unique}")
    _upload(cloud, stack, pipeline, alice, "a1.jpg", 21)
    _upload(cloud, stack, pipeline, alice, "a2.jpg", 22)
    _upload(cloud, stack, pipeline, bob, "b1.jpg", 23)
    first = call(cloud, stack, "GET", "photos?limit=1", alice)
    assert first.status == 200 and len(first.body["photos"]) == 1 and first.body["cursor"]
    alices = [p["id"] for p in call(cloud, stack, "GET", "photos", alice).body["photos"]]
    bobs = [p["id"] for p in call(cloud, stack, "GET", "photos", bob).body["photos"]]
    assert len(alices) == 2 and len(bobs) == 1 and not set(alices) & set(bobs)

    nowhere = call(cloud, stack, "GET", f"photos/{uuid.uuid4().hex * 2}", bob)
    for photo_id in alices:
        theirs = call(cloud, stack, "GET", f"photos/{photo_id}", bob)
        assert (theirs.status, theirs.body) == (nowhere.status, nowhere.body) == (404, {"message": "no such photo"})
        assert call(cloud, stack, "DELETE", f"photos/{photo_id}", bob).status == 204
        assert call(cloud, stack, "GET", f"photos/{photo_id}", alice).status == 200  # still there
    cursor = first.body["cursor"]
    for query in (
        f"photos?cursor={cursor}",
        f"photos?limit=1&cursor={cursor}",
        f"photos?order=captured&cursor={cursor}",
    ):
        refused = call(cloud, stack, "GET", query, bob)
        assert refused.status == 400 and "cursor" in refused.body["message"], query
    assert call(cloud, stack, "GET", f"photos?order=captured&cursor={cursor}", alice).status == 400
    assert call(cloud, stack, "GET", f"photos?cursor={cursor}", alice).status == 200
    # The user is the token's, never the request's.
    assert (
        call(cloud, stack, "GET", f"photos?userId={alice.sub}", bob, X_User_Id=alice.sub).body["photos"][0]["id"]
        in bobs
    )
    assert call(cloud, stack, "GET", "photos", None).status == 401


def _record_directly(table: Any, user_id: str, uploaded: datetime, number: int) -> str:
    photo_id = hashlib.sha256(f"{user_id}/{number}".encode()).hexdigest()
    stem = f"photos/{user_id}/{number}-{photo_id[:16]}"
    table.put_item(
        Item={
            "userId": user_id,
            "photoId": photo_id,
            "uploadedAt": uploaded.isoformat(timespec="milliseconds"),
            "sourceKey": f"uploads/{user_id}/{uuid.uuid4().hex}-p{number}.jpg",
            "sourceBytes": 1000 + number,
            "width": 640,
            "height": 480,
            "originalKey": f"originals/{stem}.jpg",
            "pngKey": f"png/{stem}.png",
            "thumbnailKey": f"thumbnails/{stem}.jpg",
        }
    )
    return photo_id


def test_paging_through_hundreds_of_photos_has_no_gap_no_repeat_while_uploads_continue(cloud, stack, unique):
    me = user(cloud, stack, f"pager-{unique}")
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # 320 photos; every fifth shares its upload time with the one before (ties are ordered too).
    times = [start + timedelta(minutes=n - (n % 5 == 4)) for n in range(320)]
    existing = {_record_directly(table, me.sub, when, n): when for n, when in enumerate(times)}
    seen: list[str] = []
    cursor, added, pages = None, 0, 0
    while True:
        query = "photos?limit=37" + (f"&cursor={cursor}" if cursor else "")
        page = call(cloud, stack, "GET", query, me)
        assert page.status == 200, page.body
        seen += [p["id"] for p in page.body["photos"]]
        pages += 1
        # Uploads go on between pages: newer photos, ahead of the cursor.
        _record_directly(table, me.sub, datetime.now(UTC), 1000 + added)
        added += 1
        cursor = page.body["cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)), "a photo came twice"
    assert set(existing) <= set(seen), f"{len(set(existing) - set(seen))} photos never came"
    first_page_ids = set(seen[:37])
    assert not (set(seen) - set(existing) - first_page_ids), "a photo uploaded after the first page came"
    order = [existing[i] for i in seen if i in existing]
    assert order == sorted(order, reverse=True), "not newest first"
    assert pages == 320 // 37 + 1
    month = call(cloud, stack, "GET", "photos?month=2026-01&limit=100", me)
    assert month.status == 200 and len(month.body["photos"]) == 100
    assert all(p["uploadedAt"].startswith("2026-01") for p in month.body["photos"])
    # A repeated parameter: API Gateway passes both forms (test_the_proxy_event_...), and the
    # resolver validates the multi-value one: one page size, not two.
    assert call(cloud, stack, "GET", "photos?limit=5&limit=3", me).status == 422
    too_many = call(cloud, stack, "GET", "photos?limit=101", me)
    assert too_many.status == 422  # validated by the resolver: never more than 100 a page


def test_download_links_get_one_object_only_and_expire(cloud, stack, pipeline, unique):
    me = user(cloud, stack, f"links-{unique}")
    _upload(cloud, stack, pipeline, me, "link.jpg", 31)
    [entry] = call(cloud, stack, "GET", "photos", me).body["photos"]
    url = call(cloud, stack, "GET", f"photos/{entry['id']}", me).body["downloads"]["original"]
    assert requests.get(url, timeout=10).status_code == 200 and "X-Amz-Signature=" in url
    put = requests.put(url, data=b"replaced", timeout=10)
    assert put.status_code == 403 and "SignatureDoesNotMatch" in put.text
    deleted = requests.delete(url, timeout=10)
    assert deleted.status_code == 403 and "SignatureDoesNotMatch" in deleted.text
    other_key = url.replace("/originals/", "/png/", 1)
    assert requests.get(other_key, timeout=10).status_code == 403
    assert requests.get(url, timeout=10).status_code == 200  # still the original, untouched

    # A link signed by the same role, for one second, after it ran out.
    function = boto3.client("lambda").get_function_configuration(FunctionName=f"{stack.name}-getPhoto")
    credentials = cloud.iam.sessions.issue(function["Role"], f"{stack.name}-getPhoto", "lambda", "us-east-1")
    signer = boto3.client("s3", config=Config(signature_version="s3v4"), **_client_keys(credentials))
    short = signer.generate_presigned_url(
        "get_object", Params={"Bucket": stack.outputs["DestinationBucketName"], "Key": _key_of(url)}, ExpiresIn=1
    )
    assert requests.get(short, timeout=10).status_code == 200
    time.sleep(2.1)  # past its expiry: the point of the test, not a race
    expired = requests.get(short, timeout=10)
    assert expired.status_code == 403 and "Request has expired" in expired.text


def _client_keys(credentials: Any) -> dict[str, str]:
    return {
        "aws_access_key_id": credentials.access_key,
        "aws_secret_access_key": credentials.secret_key,
        "aws_session_token": credentials.session_token,
    }


def _key_of(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(url).path).lstrip("/")
    return path.partition("/")[2]


def test_an_upload_can_be_followed_until_it_ends_and_only_by_its_owner(cloud, stack, pipeline, unique):
    from tests.test_workflow import control

    me, other = user(cloud, stack, f"poller-{unique}"), user(cloud, stack, f"nosy-{unique}")
    data = pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(71))
    truncated = pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(72))[:2000]
    answers = {}
    for name, body in (("first.jpg", data), ("again.jpg", data), ("broken.jpg", truncated)):
        answer = post(cloud, stack, body, as_user(me, Content_Type="image/jpeg", X_Filename=name))
        assert answer.status == 201 and answer.body["key"].split("/")[-1].startswith(answer.body["uploadId"] + "-")
        answers[name] = answer.body
        pipeline.wait({answer.body["key"]: name}, timeout=90)
    waiting_key = f"uploads/{me.sub}/{uuid.uuid4().hex}-waiting.jpg"
    control(cloud, "faults", {"drop": waiting_key, "times": 1}, "POST")  # no run starts for it
    boto3.client("s3").put_object(Bucket=stack.outputs["UploadBucketName"], Key=waiting_key, Body=data)

    def state(name_or_id: str, who=me) -> Any:
        upload_id = answers[name_or_id]["uploadId"] if name_or_id in answers else name_or_id
        return call(cloud, stack, "GET", f"uploads/{upload_id}", who)

    photo_id = hashlib.sha256(data).hexdigest()
    assert state("first.jpg").body == {"status": "processed", "photoId": photo_id, "duplicateOf": None, "reason": None}
    assert state("again.jpg").body["status"] == "duplicate" and state("again.jpg").body["duplicateOf"] == photo_id
    assert state("broken.jpg").body["status"] == "rejected" and state("broken.jpg").body["reason"]
    assert state(waiting_key.split("/")[-1][:32]).body["status"] == "waiting"
    nowhere = state(uuid.uuid4().hex)
    assert (nowhere.status, nowhere.body) == (404, {"message": "no such upload"})
    for name in answers:
        theirs = state(name, other)
        assert (theirs.status, theirs.body) == (404, {"message": "no such upload"})
    assert state(waiting_key.split("/")[-1][:32], other).status == 404
    boto3.client("s3").delete_object(Bucket=stack.outputs["UploadBucketName"], Key=waiting_key)


def test_answers_allow_only_the_configured_browser_origins_as_upload_does(cloud, stack, unique):
    me = user(cloud, stack, f"browser-{unique}")
    allowed = call(cloud, stack, "GET", "photos", me, Origin="http://localhost:3000")
    assert allowed.status == 200 and allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert allowed.headers["Vary"] == "Origin"
    refused = call(cloud, stack, "GET", f"photos/{'0' * 64}", me, Origin="https://evil.example")
    assert refused.status == 404 and "Access-Control-Allow-Origin" not in refused.headers
