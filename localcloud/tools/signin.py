"""Local sign-in: a user of the deployed stage's Cognito user pool and an ID token for them,
for the `token` command and the console's upload form.

It does what an administrator and a user do on AWS (see docs/sign-in.md): create the
account if it does not exist (AdminCreateUser, no invitation), give it a fresh random
password (AdminSetUserPassword, permanent), and sign in through the stage's app client with
USER_PASSWORD_AUTH (InitiateAuth). The token is one moto's Cognito signed; the local REST API
checks it as API Gateway would (localcloud/services/apigateway/authorizer.py).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass

from localcloud.clients import aws_client

# Cognito's username rule (letters, marks, symbols, numbers, punctuation; no spaces).
_USERNAME = re.compile(r"^[\w.@+=,!#$%&'*/?^`{|}~-]{1,128}$")


class SignInError(Exception):
    """The user cannot be signed in (a bad username, or a stage without a user pool)."""


@dataclass(frozen=True)
class SignedIn:
    username: str
    sub: str
    id_token: str
    expires_in: int


def sign_in(cloud_env: dict[str, str], outputs: dict[str, str], username: str, password: str | None = None) -> SignedIn:
    """Creates `username` in the stack's user pool if needed, gives it `password` (default: a
    fresh random one) and signs them in. A password the pool's policy refuses is a SignInError."""
    if not _USERNAME.match(username):
        raise SignInError(f"{username!r} is not a valid username: 1-128 letters, digits or -_.@+ (no spaces)")
    pool, client = outputs.get("UserPoolId"), outputs.get("UserPoolClientId")
    if not (pool and client):
        raise SignInError("the deployed stack has no user pool (outputs UserPoolId, UserPoolClientId): redeploy it")
    idp = aws_client(cloud_env, "cognito-idp")
    with contextlib.suppress(idp.exceptions.UsernameExistsException):
        idp.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS")
    # Meets the pool's password policy: upper and lower case letters and digits, 12+ characters.
    password = password or f"Aa1-{secrets.token_urlsafe(24)}"
    try:
        idp.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
    except idp.exceptions.InvalidPasswordException as refused:
        raise SignInError(f"the pool refuses that password: {refused.response['Error']['Message']}") from None
    result = idp.initiate_auth(
        ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": username, "PASSWORD": password}
    )["AuthenticationResult"]
    user = idp.admin_get_user(UserPoolId=pool, Username=username)
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return SignedIn(username, sub, result["IdToken"], int(result["ExpiresIn"]))
