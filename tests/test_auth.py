"""Signed-in uploads: the local API's Cognito authoriser refuses every token API Gateway's
would (missing, expired, tampered, another pool's, another app client's, an access token),
before the function runs; and the per-user daily quota."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from localcloud.cloud import DEFAULT_ACCOUNT
from localcloud.services.apigateway import authorizer
from localcloud.services.apigateway.rest_api import TokenBucket
from localcloud.tools.signin import sign_in
from tests import images as pictures
from tests.api import as_user, post, user
from tests.test_workflow import control

JPEG = {"Content-Type": "image/jpeg"}


def upload_invocations(cloud, stack) -> int:
    return control(cloud, "stats")["invocations"].get(f"{stack.name}-upload", 0)


def assert_refused(cloud, stack, headers: dict, message: str = "Unauthorized") -> None:
    """401 from API Gateway itself, in its words, and the function never ran."""
    before = upload_invocations(cloud, stack)
    answer = post(cloud, stack, pictures.jpeg_bytes(), JPEG | headers)
    assert (answer.status, answer.body) == (401, {"message": message})
    assert answer.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert upload_invocations(cloud, stack) == before


def moto_pool(stack):
    from moto.cognitoidp.models import cognitoidp_backends

    return cognitoidp_backends[DEFAULT_ACCOUNT]["us-east-1"].user_pools[stack.outputs["UserPoolId"]]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


# -- the authoriser -------------------------------------------------------------------------


def test_without_a_token_nobody_gets_through(cloud, stack, unique):
    assert_refused(cloud, stack, {})
    assert_refused(cloud, stack, {"X-User-Id": f"someone-{unique}"})  # what used to be enough
    assert_refused(cloud, stack, {"Authorization": ""})
    assert_refused(cloud, stack, {"Authorization": "not a token"})


def test_a_signed_in_user_gets_through_with_verified_claims(cloud, stack, unique):
    me = user(cloud, stack, f"ok-{unique}")
    answer = post(cloud, stack, pictures.jpeg_bytes(), as_user(me) | JPEG)
    assert answer.status == 201 and answer.body["userId"] == me.sub
    assert claims_of(me.id_token)["cognito:username"] == f"ok-{unique}"


def test_an_expired_token_is_refused(cloud, stack, unique):
    me = user(cloud, stack, f"late-{unique}")
    expired, _ = moto_pool(stack).create_jwt(stack.outputs["UserPoolClientId"], me.username, "id", expires_in=-5)
    assert claims_of(expired)["exp"] < time.time()
    assert_refused(cloud, stack, {"Authorization": expired}, "The incoming token has expired")


def test_a_tampered_token_is_refused(cloud, stack, unique):
    me, other = user(cloud, stack, f"me-{unique}"), user(cloud, stack, f"other-{unique}")
    header, _, signature = me.id_token.split(".")
    claims = claims_of(me.id_token) | {"sub": other.sub}
    assert_refused(cloud, stack, {"Authorization": f"{header}.{b64(claims)}.{signature}"})  # claims changed
    forger = RSAKey.generate_key(2048, parameters={"kid": json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]})
    forged = jwt.encode({"alg": "RS256", "kid": forger.kid}, claims, forger)
    assert_refused(cloud, stack, {"Authorization": forged})  # signed by a key that is not the pool's
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert_refused(cloud, stack, {"Authorization": unsigned})


def test_a_token_of_another_user_pool_is_refused(cloud, stack, unique):
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=f"elsewhere-{unique}")["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="elsewhere")["UserPoolClient"]
    outputs = {"UserPoolId": pool["Id"], "UserPoolClientId": client["ClientId"]}
    stranger = sign_in(cloud.client_environment(), outputs, f"stranger-{unique}")
    # moto signs every pool's tokens with the same key: only the issuer tells them apart.
    assert claims_of(stranger.id_token)["iss"].endswith(pool["Id"])
    assert_refused(cloud, stack, {"Authorization": stranger.id_token})


def test_a_token_for_another_app_client_or_an_access_token_is_refused(cloud, stack, unique):
    idp = boto3.client("cognito-idp")
    pool_id = stack.outputs["UserPoolId"]
    client = idp.create_user_pool_client(UserPoolId=pool_id, ClientName=f"other-app-{unique}")["UserPoolClient"]
    outputs = stack.outputs | {"UserPoolClientId": client["ClientId"]}
    other_app = sign_in(cloud.client_environment(), outputs, f"app-{unique}")  # same pool, other client
    assert claims_of(other_app.id_token)["aud"] == client["ClientId"]
    assert_refused(cloud, stack, {"Authorization": other_app.id_token})
    me = user(cloud, stack, f"access-{unique}")
    access, _ = moto_pool(stack).create_access_token(stack.outputs["UserPoolClientId"], me.username, "jti")
    assert_refused(cloud, stack, {"Authorization": access})  # the method has no scopes: ID tokens only


def test_a_deleted_pool_has_no_keys(cloud):
    idp = boto3.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="short-lived")["UserPool"]
    idp.delete_user_pool(UserPoolId=pool["Id"])
    with pytest.raises(authorizer.Unauthorized):
        authorizer.pool_keys(DEFAULT_ACCOUNT, "us-east-1", pool["Id"])


def test_claims_reach_the_function_as_api_gateway_passes_them():
    claims = {"sub": "s", "exp": 1513495692, "iat": 1513492092, "auth_time": 1513492092, "email_verified": True}
    assert authorizer.event_claims(claims) == {
        "sub": "s",
        "exp": "Sun Dec 17 07:28:12 UTC 2017",
        "iat": "Sun Dec 17 06:28:12 UTC 2017",
        "auth_time": "1513492092",
        "email_verified": "true",
    }


# -- throttling -----------------------------------------------------------------------------


def test_the_stage_throttles_with_a_token_bucket():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]  # the burst, then empty
    now[0] = 0.5
    assert [bucket.take(), bucket.take()] == [True, False]  # 2 per second: one more after 0.5 s
    now[0] = 100
    assert sum(bucket.take() for _ in range(10)) == 3  # never more than the burst at once


def test_over_the_stages_burst_api_gateway_answers_429_before_anything_else(cloud, stack):
    """The deployed burst, with time stopped (no refill): that many requests get through the
    throttle (to be refused by the authoriser: no token), the next ones are throttled."""
    from localcloud.services.apigateway import rest_api as apigw

    stage = stack.name.rsplit("-", 1)[1]
    post(cloud, stack, b"", {})  # the stage's bucket exists from the first request on
    [bucket] = [b for key, b in apigw._buckets.items() if key[1] == stage]
    burst = bucket.burst
    assert (bucket.rate, burst) == (10.0, 20)  # the deployed API_RATE_LIMIT and API_BURST_LIMIT
    stopped = bucket.clock()
    bucket.clock, bucket.tokens, bucket.updated = (lambda: stopped), float(burst), stopped
    try:
        answers = [post(cloud, stack, b"", {}) for _ in range(burst + 3)]
    finally:
        bucket.clock, bucket.tokens, bucket.updated = time.monotonic, float(burst), time.monotonic()
    assert [a.status for a in answers] == [401] * burst + [429] * 3
    assert answers[-1].body == {"message": "Too Many Requests"}
    assert answers[-1].headers["x-amzn-ErrorType"] == "TooManyRequestsException"


# -- the daily quota ------------------------------------------------------------------------


@pytest.fixture
def use_up(as_function):
    """Counts `n` uploads against a user's day, as the upload function does."""
    from handlers.core import quota

    as_function("upload")

    def take(sub: str, n: int) -> None:
        for _ in range(n):
            quota.take(sub)

    return take


def test_over_the_daily_quota_the_answer_is_429_and_nothing_is_stored(
    cloud, stack, pipeline, s3, function_env, use_up, unique
):
    limit = int(function_env("upload")["DAILY_UPLOAD_QUOTA"])
    me = user(cloud, stack, f"busy-{unique}")
    use_up(me.sub, limit)
    answer = post(cloud, stack, pictures.jpeg_bytes(), as_user(me) | JPEG)
    assert answer.status == 429 and f"daily upload quota reached: {limit} uploads per day" in answer.body["error"]
    assert "nothing was stored" in answer.body["error"]
    assert "Contents" not in s3.list_objects_v2(Bucket=pipeline.upload_bucket, Prefix=f"uploads/{me.sub}/")
    assert post(cloud, stack, b"", as_user(me), "?presign=true").status == 429  # no presigned POST either
    other = user(cloud, stack, f"fresh-{unique}")
    assert post(cloud, stack, pictures.jpeg_bytes(), as_user(other) | JPEG).status == 201  # per user


def test_concurrent_uploads_never_pass_the_quota(cloud, stack, pipeline, function_env, use_up, unique):
    limit = int(function_env("upload")["DAILY_UPLOAD_QUOTA"])
    me = user(cloud, stack, f"race-{unique}")
    use_up(me.sub, limit - 3)
    photos = [pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(7 * i + 1)) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda data: post(cloud, stack, data, as_user(me) | JPEG), photos))
    assert sorted(a.status for a in answers) == [201] * 3 + [429] * 5
    stored = {a.body["key"]: "photo" for a in answers if a.status == 201}
    assert all(key.startswith(f"uploads/{me.sub}/") for key in stored)
    assert [o.status for o in pipeline.wait(stored, timeout=90)] == ["SUCCEEDED"] * 3  # the 3 were really stored


def test_the_quota_is_per_utc_day_and_an_upload_that_fails_is_not_counted(as_function, monkeypatch, unique):
    from datetime import UTC, datetime, timedelta

    from botocore.exceptions import ClientError

    from handlers.core import quota, uploads
    from handlers.core.errors import QuotaExceeded

    limit = int(as_function("upload")["DAILY_UPLOAD_QUOTA"])
    user, late = f"day-{unique}", datetime(2030, 1, 1, 23, 59, 59, tzinfo=UTC)
    assert [quota.take(user, late).used for _ in range(limit)] == list(range(1, limit + 1))
    with pytest.raises(QuotaExceeded, match="more from 2030-01-02 00:00 UTC"):
        quota.take(user, late)
    assert quota.take(user, late + timedelta(seconds=1)).used == 1  # a new day, a new count
    # Storing fails (the bucket is gone): the upload is given back, so the count does not move.
    monkeypatch.setenv("UPLOAD_BUCKET", f"no-such-bucket-{unique}")
    for _ in range(3):
        with pytest.raises(ClientError):
            uploads.store(pictures.jpeg_bytes(), "image/jpeg", "x.jpg", user)
    assert quota.take(user).used == 1
