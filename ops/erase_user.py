"""python -m ops erase-user USER --stage STAGE: erases an account for good, as DELETE /me does,
for a user who can no longer sign in (or asked an operator): every photo (every stored version
of its outputs, its record and index entries), the uploads still in the upload bucket, the
quota counters, and last the user in the pool. USER is the pool username or the `sub`.

Safe to run again: after a crash or an interruption it goes on from what is left (the pool
user is deleted last, so an account half erased can still be found by its username)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .stage import Stage

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp.type_defs import AttributeTypeTypeDef

HELP = "erase a user's photos, uploads, quota counters and sign-in (account erasure)"
_SUB = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The functions' settings the erasure reads, from the stack's outputs.
SETTINGS = {
    "PHOTOS_TABLE": "PhotosTableName",
    "UNIQUENESS_TABLE": "UniquenessTableName",
    "DESTINATION_BUCKET": "DestinationBucketName",
    "UPLOAD_BUCKET": "UploadBucketName",
    "UPLOAD_PREFIX": "UploadPrefix",
    "QUOTA_TABLE": "UploadQuotaTableName",
    "USER_POOL_ID": "UserPoolId",
    "UPLOAD_STATUS_TABLE": "UploadStatusTableName",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user", help="the user's pool username, or their sub (a user no longer in the pool)")


def find_user(stage: Stage, user: str) -> tuple[str, str | None]:
    """(sub, username) of a pool user named by username or sub; a sub that is no longer in
    the pool is erased without a pool user."""
    idp, pool = stage.client("cognito-idp"), stage.output("UserPoolId")
    try:
        found = idp.admin_get_user(UserPoolId=pool, Username=user)
        return _attribute(found["UserAttributes"], "sub"), found["Username"]
    except idp.exceptions.UserNotFoundException:
        pass
    if not _SUB.match(user):
        raise SystemExit(f"python -m ops erase-user: no user {user!r} in the pool (give their sub to erase their data)")
    listed = idp.list_users(UserPoolId=pool, Filter=f'sub = "{user}"', Limit=1)["Users"]
    return user, listed[0]["Username"] if listed else None


def _attribute(attributes: list[AttributeTypeTypeDef], name: str) -> str:
    return next(a["Value"] for a in attributes if a["Name"] == name)


def run(args: argparse.Namespace, stage: Stage, keep_going: Callable[[], bool] | None = None) -> int:
    for variable, output in SETTINGS.items():
        os.environ[variable] = stage.output(output)
    if stage.region:
        os.environ["AWS_DEFAULT_REGION"] = stage.region
    from handlers.core import erasure

    sub, username = find_user(stage, args.user)
    print(f"erase-user: {username or '(no pool user)'} (sub {sub}) on stage {stage.name}")
    erased = erasure.erase_account(sub, username, keep_going or (lambda: True), stage.output("UserPoolId"))
    print(f"  photos erased: {erased.photos}; uploads erased: {erased.uploads}; quota counters: {erased.counters}")
    if not erased.done:
        print("  stopped before the end: run the same command again to finish", file=sys.stderr)
        return 1
    print(f"  pool user deleted: {'yes' if erased.pool_user else 'none was left'}; the account is erased")
    return 0
