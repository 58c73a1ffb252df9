"""Browser sign-in (USER_SRP_AUTH + PASSWORD_VERIFIER) against the local cloud's Cognito, with
the client library the app bundles (amazon-cognito-identity-js, under Node): the right password
signs in and gets tokens the pool's keys verify; a wrong one is refused as Cognito refuses it
(moto alone accepts any password: localcloud/services/cognitoidp/srp.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from localcloud.services.apigateway.authorizer import authorize

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "tests" / "cognito_srp_client.mjs"
NODE = ROOT / "node_modules" / ".bin" / "node"


def sign_in(endpoint: str, pool: str, client: str, username: str, password: str) -> dict:
    node = str(NODE) if NODE.exists() else shutil.which("node")
    done = subprocess.run(
        [node, str(CLIENT), endpoint, pool, client, username, password],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pool(cloud):
    idp = boto3.client("cognito-idp")
    created = idp.create_user_pool(PoolName="srp-users")["UserPool"]
    client_id = idp.create_user_pool_client(
        UserPoolId=created["Id"],
        ClientName="browser",
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    pool_id = created["Id"]
    idp.admin_create_user(UserPoolId=pool_id, Username="ann", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="ann", Password="Correct-horse-42", Permanent=True)
    return pool_id, client_id, created["Arn"]


def test_the_right_password_signs_in_with_srp(cloud, pool):
    pool_id, client_id, arn = pool
    answer = sign_in(cloud.endpoint, pool_id, client_id, "ann", "Correct-horse-42")
    assert "idToken" in answer, answer
    claims = authorize(answer["idToken"], [arn], validation_expression=client_id)  # as API Gateway checks it
    assert claims["cognito:username"] == "ann" and claims["aud"] == client_id
    assert answer["refreshToken"]


@pytest.mark.parametrize("password", ["Correct-horse-43", "correct-horse-42", ""])
def test_a_wrong_password_is_refused(cloud, pool, password):
    pool_id, client_id, _ = pool
    answer = sign_in(cloud.endpoint, pool_id, client_id, "ann", password or "x")
    assert answer == {"error": "NotAuthorizedException", "message": "Incorrect username or password."}
