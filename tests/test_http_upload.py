"""POST /upload through the deployed REST API (served by the local cloud)."""

import json
import urllib.error
import urllib.request

import requests

from tests import images as pictures


def post(cloud, stack, body: bytes, headers: dict, query: str = "") -> tuple[int, dict]:
    stage = stack.name.rsplit("-", 1)[1]
    request = urllib.request.Request(
        f"{cloud.endpoint}/_api/{stage}/upload{query}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_posted_photo_is_stored_under_a_safe_key_and_processed(cloud, stack, pipeline):
    data = pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(77))
    status, body = post(
        cloud, stack, data, {"Content-Type": "image/jpeg", "X-User-Id": "web-user", "X-Filename": "../My Photo.jpg"}
    )
    assert status == 201, body
    assert body["key"].startswith("uploads/web-user/") and body["key"].endswith("-My-Photo.jpg")
    assert body["bytes"] == len(data)
    [outcome] = pipeline.wait({body["key"]: "My Photo.jpg"}, timeout=60)
    assert outcome.result.kind == "processed"


def test_bad_uploads_get_clear_4xx_errors(cloud, stack):
    jpeg = {"Content-Type": "image/jpeg"}
    assert post(cloud, stack, b"", jpeg)[0] == 400
    status, body = post(cloud, stack, pictures.png_bytes(), {"Content-Type": "image/png"})
    assert status == 415 and "image/jpeg" in body["error"]
    assert post(cloud, stack, pictures.png_bytes(), jpeg)[0] == 415  # content checked, not just the header
    assert post(cloud, stack, pictures.jpeg_bytes(), jpeg | {"X-User-Id": "../admin"})[0] == 400
    too_big = pictures.jpeg_bytes() + b"\0" * 4_600_000
    status, body = post(cloud, stack, too_big, jpeg)
    assert status == 413 and "presign" in body["error"]


def test_a_presigned_post_takes_a_large_file_into_the_pipeline(cloud, stack, pipeline):
    status, body = post(cloud, stack, b"", {"X-User-Id": "big"}, "?presign=true&filename=large.jpg")
    assert status == 200 and body["key"].startswith("uploads/big/")
    data = pictures.jpeg_bytes(pictures.photo("coffee.jpg").resize((2400, 1600)).rotate(5), quality=100)
    form = body["upload"]
    reply = requests.post(form["url"], data=form["fields"], files={"file": ("large.jpg", data)}, timeout=30)
    assert reply.status_code in (200, 204), reply.text
    [outcome] = pipeline.wait({body["key"]: "large.jpg"}, timeout=90)
    assert outcome.result.kind == "processed"
