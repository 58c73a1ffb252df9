"""POST /upload through the deployed REST API (served by the local cloud), signed in."""

import re
from urllib.parse import urlsplit

import requests

from tests import images as pictures
from tests.api import as_user, post, user

JPEG = {"Content-Type": "image/jpeg"}


def test_a_posted_photo_is_stored_under_the_users_sub_and_processed(cloud, stack, pipeline, unique):
    me = user(cloud, stack, f"web-{unique}")
    data = pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(77))
    answer = post(cloud, stack, data, as_user(me, Content_Type="image/jpeg", X_Filename="../My Photo.jpg"))
    assert answer.status == 201, answer.body
    assert re.fullmatch(r"[0-9a-f-]{36}", me.sub)
    assert answer.body["key"].startswith(f"uploads/{me.sub}/") and answer.body["key"].endswith("-My-Photo.jpg")
    assert answer.body["userId"] == me.sub and answer.body["bytes"] == len(data)
    [outcome] = pipeline.wait({answer.body["key"]: "My Photo.jpg"}, timeout=60)
    assert outcome.result.kind == "processed"


def test_the_user_comes_from_the_token_never_from_the_request(cloud, stack, unique):
    me, other = user(cloud, stack, f"me-{unique}"), user(cloud, stack, f"other-{unique}")
    claimed = as_user(me, Content_Type="image/jpeg", X_User_Id=other.sub)
    answer = post(cloud, stack, pictures.jpeg_bytes(), claimed, f"?userId={other.sub}")
    assert answer.status == 201 and answer.body["key"].startswith(f"uploads/{me.sub}/"), answer.body
    answer = post(cloud, stack, b"", claimed, f"?presign=true&filename=x.jpg&userId={other.sub}")
    assert answer.status == 200 and answer.body["key"].startswith(f"uploads/{me.sub}/"), answer.body
    assert answer.body["upload"]["fields"]["key"] == answer.body["key"]


def test_bad_uploads_get_clear_4xx_errors(cloud, stack, unique):
    headers = as_user(user(cloud, stack, f"bad-{unique}"), Content_Type="image/jpeg")
    assert post(cloud, stack, b"", headers).status == 400
    answer = post(cloud, stack, pictures.png_bytes(), headers | {"Content-Type": "image/png"})
    assert answer.status == 415 and "image/jpeg" in answer.body["error"]
    assert post(cloud, stack, pictures.png_bytes(), headers).status == 415  # content checked, not just the header
    too_big = pictures.jpeg_bytes() + b"\0" * 4_600_000
    answer = post(cloud, stack, too_big, headers)
    assert answer.status == 413 and "presign" in answer.body["error"]


def test_a_presigned_post_takes_a_large_file_into_the_pipeline(cloud, stack, pipeline, unique):
    me = user(cloud, stack, f"big-{unique}")
    answer = post(cloud, stack, b"", as_user(me), "?presign=true&filename=large.jpg")
    assert answer.status == 200 and answer.body["key"].startswith(f"uploads/{me.sub}/")
    data = pictures.jpeg_bytes(pictures.photo("coffee.jpg").resize((2400, 1600)).rotate(5), quality=100)
    form = answer.body["upload"]
    reply = requests.post(form["url"], data=form["fields"], files={"file": ("large.jpg", data)}, timeout=30)
    assert reply.status_code in (200, 204), reply.text
    [outcome] = pipeline.wait({answer.body["key"]: "large.jpg"}, timeout=90)
    assert outcome.result.kind == "processed"


def test_a_presigned_post_cannot_write_another_key_or_break_its_conditions(cloud, stack, pipeline, s3, unique):
    me, other = user(cloud, stack, f"pre-{unique}"), user(cloud, stack, f"victim-{unique}")
    form = post(cloud, stack, b"", as_user(me), "?presign=true&filename=mine.jpg").body["upload"]
    photo = {"file": ("mine.jpg", pictures.jpeg_bytes())}

    def send(**changed: str) -> requests.Response:
        return requests.post(form["url"], data=form["fields"] | changed, files=photo, timeout=30)

    stolen = f"uploads/{other.sub}/{unique}-planted.jpg"
    refused = send(key=stolen)
    assert refused.status_code == 403 and "Policy Condition failed" in refused.text and '"$key"' in refused.text
    assert "Contents" not in s3.list_objects_v2(Bucket=pipeline.upload_bucket, Prefix=f"uploads/{other.sub}/")
    refused = send(**{"Content-Type": "text/html"})
    assert refused.status_code == 403 and "Content-Type" in refused.text
    refused = send(**{"x-amz-meta-user-id": other.sub})
    assert refused.status_code == 403 and "Extra input fields: x-amz-meta-user-id" in refused.text
    assert send().status_code in (200, 204)  # the form as issued still works


def test_answers_allow_only_the_configured_browser_origins(cloud, stack, function_env, unique):
    allowed = function_env("upload")["ALLOWED_ORIGINS"]
    assert allowed == "http://localhost:3000"  # the default of .env.example
    headers = as_user(user(cloud, stack, f"cors-{unique}"), Content_Type="image/jpeg")
    answer = post(cloud, stack, pictures.jpeg_bytes(), headers | {"Origin": "http://localhost:3000"})
    assert answer.status == 201 and answer.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert answer.headers["Vary"] == "Origin"
    answer = post(cloud, stack, pictures.jpeg_bytes(), headers | {"Origin": "https://evil.example"})
    assert answer.status == 201 and "Access-Control-Allow-Origin" not in answer.headers


def test_the_execute_api_url_reaches_the_same_api_as_api_gateway_routes_it(cloud, stack, unique):
    """The ServiceEndpoint URL's request, sent to the local cloud's address (`curl --connect-to`):
    API Gateway routes by the host name, and so does the local cloud."""
    url = urlsplit(stack.outputs["ServiceEndpoint"])
    assert re.fullmatch(r"[a-z0-9]+\.execute-api\.us-east-1\.amazonaws\.com", url.netloc), url.netloc

    def send(host: str, headers: dict[str, str]) -> requests.Response:
        target = f"{cloud.endpoint}{url.path}/upload"
        return requests.post(target, data=pictures.jpeg_bytes(), headers={"Host": host, **headers}, timeout=30)

    assert send(url.netloc, JPEG).status_code == 401  # the authoriser, as at /_api/
    me = user(cloud, stack, f"host-{unique}")
    stored = send(url.netloc, as_user(me, Content_Type="image/jpeg"))
    assert stored.status_code == 201 and stored.json()["key"].startswith(f"uploads/{me.sub}/"), stored.text
    elsewhere = send("0123456789.execute-api.us-east-1.amazonaws.com", as_user(me, Content_Type="image/jpeg"))
    assert elsewhere.status_code == 403 and elsewhere.json() == {"message": "Missing Authentication Token"}


def test_the_photos_name_comes_from_a_browsers_form_or_a_content_disposition_header(cloud, stack, pipeline, unique):
    """`curl --data-binary` sends no name; a browser's <form> or FormData sends the file part with
    its filename (multipart/form-data), and a client may name the body in Content-Disposition."""
    me = user(cloud, stack, f"named-{unique}")
    data = pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(31))
    form = requests.Request(
        "POST", "http://x/", files={"photo": ("Summer 2024.jpg", data, "image/jpeg")}, data={"note": "hi"}
    ).prepare()
    answer = post(cloud, stack, form.body, as_user(me, Content_Type=form.headers["Content-Type"]))
    assert answer.status == 201 and answer.body["key"].endswith("-Summer-2024.jpg"), answer.body
    assert answer.body["bytes"] == len(data)  # the file part only, not the form around it
    [outcome] = pipeline.wait({answer.body["key"]: "Summer 2024.jpg"}, timeout=60)
    assert outcome.result.kind == "processed"
    named = as_user(
        me, Content_Type="image/jpeg", Content_Disposition="attachment; filename*=UTF-8''Holiday%20photo.jpg"
    )
    answer = post(cloud, stack, pictures.jpeg_bytes(), named)
    assert answer.status == 201 and answer.body["key"].endswith("-Holiday-photo.jpg"), answer.body
    no_file = requests.Request("POST", "http://x/", files={"note": (None, "no photo")}).prepare()
    answer = post(cloud, stack, no_file.body, as_user(me, Content_Type=no_file.headers["Content-Type"]))
    assert answer.status == 400 and "no file field" in answer.body["error"]
