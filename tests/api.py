"""Calling the deployed REST API as a client does: signed in to the stage's user pool (the
local sign-in of localcloud/tools/signin.py), or not."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from localcloud.tools.signin import SignedIn, sign_in


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def upload_url(cloud, stack, query: str = "") -> str:
    stage = stack.name.rsplit("-", 1)[1]
    return f"{cloud.endpoint}/_api/{stage}/upload{query}"


def post(cloud, stack, body: bytes, headers: dict[str, str], query: str = "") -> Answer:
    request = urllib.request.Request(upload_url(cloud, stack, query), data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return Answer(response.status, json.loads(response.read()), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read()), dict(error.headers))


def user(cloud, stack, username: str) -> SignedIn:
    """`username` in the stage's user pool (created if needed), signed in."""
    return sign_in(cloud.client_environment(), stack.outputs, username)


def as_user(signed_in: SignedIn, **headers: str) -> dict[str, str]:
    """Request headers of a signed-in client: the ID token in Authorization, as is."""
    return {"Authorization": signed_in.id_token, **{k.replace("_", "-"): v for k, v in headers.items()}}


def api_url(cloud, stack, path: str) -> str:
    stage = stack.name.rsplit("-", 1)[1]
    return f"{cloud.endpoint}/_api/{stage}/{path.lstrip('/')}"


def call(cloud, stack, method: str, path: str, signed_in: SignedIn | None, **headers: str) -> Answer:
    """Any route of the stage's API (`path` with its query), as `signed_in` (or nobody)."""
    sent = as_user(signed_in, **headers) if signed_in else {k.replace("_", "-"): v for k, v in headers.items()}
    request = urllib.request.Request(api_url(cloud, stack, path), headers=sent, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            data = response.read()
            return Answer(response.status, json.loads(data) if data else None, dict(response.headers))
    except urllib.error.HTTPError as error:
        data = error.read()
        return Answer(error.code, json.loads(data) if data else None, dict(error.headers))
