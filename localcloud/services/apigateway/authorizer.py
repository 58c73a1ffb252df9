"""API Gateway's Cognito user pool authoriser, for the local REST API (localcloud/services/apigateway/rest_api.py).

A method whose AuthorizationType is COGNITO_USER_POOLS reaches its function only with a
token, in the authoriser's identity source (a request header), that:

- is a JWS signed with RS256 by a key of the JSON Web Key Set the user pool publishes (its
  `/.well-known/jwks.json`), the pool being one of the authoriser's ProviderARNs: a token
  whose header, claims or signature were altered fails here;
- was issued by that pool (`iss` = `https://cognito-idp.<region>.amazonaws.com/<pool id>`):
  a token of another pool fails, whoever signed it;
- has not expired (`exp`, no leeway);
- is an ID token (`token_use` = `id`) when the method has no AuthorizationScopes, or else an
  access token whose `scope` holds one of them;
- was issued to an app client the authoriser accepts: its IdentityValidationExpression, a
  regular expression, must match the whole of the token's `aud` (`client_id` for access
  tokens).

Otherwise the answer is what API Gateway sends: 401, `{"message":"Unauthorized"}` (or
`"The incoming token has expired"`), header `x-amzn-ErrorType: UnauthorizedException`, and
the function is not invoked. The verified claims reach the function in
`requestContext.authorizer.claims`, as API Gateway passes them: every value a string, `exp`
and `iat` as dates (`Sun Dec 17 07:28:12 UTC 2017`).

Not emulated: the authoriser's result cache (AuthorizerResultTtlInSeconds; every request is
checked), token revocation (API Gateway does not check it either), and the signing keys'
secrecy: moto signs every pool's tokens with one key pair published in moto's source, so a
local token proves nothing outside the local cloud.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256"]  # what Cognito signs with; anything else (`none`, HS256, ...) is refused
_POOL_ARN = re.compile(r"^arn:[\w-]+:cognito-idp:(?P<region>[\w-]+):(?P<account>\d+):userpool/(?P<pool>[\w-]+)$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class Unauthorized(Exception):
    """The request does not get through; the message is the body's, as API Gateway words it."""

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)
        self.message = message


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def identity_header(identity_source: str | None) -> str:
    """The header an authoriser reads its token from (`method.request.header.Authorization`)."""
    prefix = "method.request.header."
    source = (identity_source or f"{prefix}Authorization").split(",")[0].strip()
    if not source.startswith(prefix):
        raise ValueError(f"identity source {source!r} is not a request header")
    return source[len(prefix) :]


def authorize(
    token: str | None,
    provider_arns: list[str],
    validation_expression: str | None = None,
    scopes: list[str] | None = None,
    now: float | None = None,
) -> dict[str, str]:
    """The claims of a token the authoriser accepts, as the function receives them; raises
    Unauthorized otherwise. `token` is the identity header's value: the token itself (no
    `Bearer ` prefix, which API Gateway's documentation does not provide for)."""
    if not token:
        raise Unauthorized()
    claimed = _unverified_claims(token)
    pools = {issuer(m["region"], m["pool"]): m for m in map(_POOL_ARN.match, provider_arns) if m}
    pool = pools.get(claimed.get("iss"))  # type: ignore[arg-type]
    if pool is None:
        raise Unauthorized()  # another pool's token (or none of ours)
    keys = pool_keys(pool["account"], pool["region"], pool["pool"])
    try:
        verified = jwt.decode(token, keys, algorithms=ALGORITHMS)
        expected_use = "access" if scopes else "id"
        jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()),
            iss={"essential": True, "value": issuer(pool["region"], pool["pool"])},
            exp={"essential": True},
            sub={"essential": True},
            token_use={"essential": True, "value": expected_use},
        ).validate(verified.claims)
    except ExpiredTokenError:
        raise Unauthorized("The incoming token has expired") from None
    except (JoseError, ValueError):
        raise Unauthorized() from None
    claims = verified.claims
    if scopes and not set(str(claims.get("scope", "")).split()) & set(scopes):
        raise Unauthorized()
    audience = claims.get("aud") if claims.get("token_use") == "id" else claims.get("client_id")
    if validation_expression and not (
        isinstance(audience, str) and re.fullmatch(validation_expression, audience) is not None
    ):
        raise Unauthorized()
    return event_claims(claims)


def pool_keys(account_id: str, region: str, pool_id: str) -> KeySet:
    """The pool's JSON Web Key Set, as its `/.well-known/jwks.json` serves it; a pool that does
    not exist (deleted) has none, so none of its tokens verify."""
    from moto.cognitoidp.models import cognitoidp_backends
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    if pool_id not in cognitoidp_backends[account_id][region].user_pools:
        raise Unauthorized()
    return KeySet.import_key_set(json.loads(CognitoIdpJsonWebKeyResponse.json_web_key))


def event_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as a REST API passes them to a Lambda proxy: strings, times as dates."""
    shown = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int | float):
            shown[name] = _java_date(value)
        elif isinstance(value, bool):
            shown[name] = "true" if value else "false"
        elif isinstance(value, list):
            shown[name] = ",".join(map(str, value))
        else:
            shown[name] = str(value)
    return shown


def _unverified_claims(token: str) -> dict[str, Any]:
    """The claims before the signature is checked: only to find the pool whose keys check it."""
    try:
        claims = json.loads(jws.extract_compact(token.encode()).payload)
    except (JoseError, ValueError):
        raise Unauthorized() from None
    if not isinstance(claims, dict):
        raise Unauthorized()
    return claims


def _java_date(epoch: float) -> str:
    t = time.gmtime(epoch)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {clock} UTC {t.tm_year}"
