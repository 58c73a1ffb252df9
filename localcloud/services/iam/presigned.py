"""Presigned S3 URLs (SigV4 query signing), checked as S3 checks them; moto checks neither the
signature nor the expiry, so a presigned GET would otherwise fetch forever, and with any verb.

- Expiry: a URL used after `X-Amz-Date` + `X-Amz-Expires` is refused with 403 AccessDenied
  "Request has expired" (S3's words).
- Signature: the canonical request (verb, path, query without the signature, the signed
  headers, `UNSIGNED-PAYLOAD`) is signed again with the signer's secret key; a URL used with
  another verb (a PUT or DELETE through a GET's URL), on another key, or with a changed query
  gets 403 SignatureDoesNotMatch.

Only URLs signed by the local cloud's role sessions (a function's or the state machine's) are
checked, since only their secret keys are known here; an operator's own keys are an admin's.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from calendar import timegm
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.wrappers import Request

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES = 604800  # seven days: S3 refuses a longer X-Amz-Expires


def is_presigned(request: Request) -> bool:
    return request.args.get("X-Amz-Algorithm") == ALGORITHM and "X-Amz-Signature" in request.args


def refusal(
    request: Request, environ: dict[str, Any], secret_key: str, now: float | None = None
) -> tuple[str, str] | None:
    """(error code, message) S3 would answer this presigned request with, or None if it holds."""
    args = request.args
    try:
        signed_at = timegm(time.strptime(args["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        expires = int(args["X-Amz-Expires"])
        credential = args["X-Amz-Credential"].split("/")
        _, day, region, service, _ = credential
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError", "the presigned URL's query is not a complete SigV4 signature"
    if not 1 <= expires <= MAX_EXPIRES:
        return "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds"
    if (now if now is not None else time.time()) > signed_at + expires:
        return "AccessDenied", "Request has expired"
    signed_headers = args.get("X-Amz-SignedHeaders", "host").split(";")
    canonical = "\n".join(
        [
            request.method,
            _canonical_path(environ),
            _canonical_query(environ),
            "".join(f"{name}:{(request.headers.get(name) or '').strip()}\n" for name in signed_headers),
            ";".join(signed_headers),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, args["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, args["X-Amz-Signature"]):
        return (
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return None


def _raw(environ: dict[str, Any]) -> tuple[str, str]:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path, _, query = raw.partition("?")
        return path, query
    return quote(environ.get("PATH_INFO", "/"), safe="/~"), environ.get("QUERY_STRING", "")


def _canonical_path(environ: dict[str, Any]) -> str:
    # S3 signs the path as sent, each segment URI-encoded once.
    path, _ = _raw(environ)
    return quote(unquote(path), safe="/~")


def _canonical_query(environ: dict[str, Any]) -> str:
    _, query = _raw(environ)
    pairs = []
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        if name != "X-Amz-Signature":
            pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))
