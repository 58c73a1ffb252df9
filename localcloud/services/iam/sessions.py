"""Role sessions: the temporary credentials a function or the state machine calls AWS with.

Lambda runs a function with credentials of its execution role; Step Functions calls its
integrations with the state machine's role. Here both are real STS sessions in moto
(`AssumeRole`), so `GetCallerIdentity` names the assumed role as on AWS, and any request signed
with a session's access key is made as that role. Sessions a user creates with
`aws sts assume-role` are roles too; every other key (the deployer's, a user's) is an admin.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

SESSION_SECONDS = 12 * 3600  # moto does not expire sessions; this is what GetCallerIdentity reports


@dataclass(frozen=True)
class Principal:
    """Who a request is made as."""

    account: str
    partition: str
    role_arn: str
    session_name: str
    access_key: str
    origin: str  # "lambda" (a function), "states" (a state machine), "sts" (anyone else's session)

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """The variables the Lambda runtime sets for them."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


class Sessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[tuple[str, str], Credentials] = {}
        self._principals: dict[str, Principal] = {}

    def issue(self, role_arn: str, session_name: str, origin: str, region: str) -> Credentials:
        """Credentials of `role_arn` (one session per role and session name, reused)."""
        from moto.sts.models import sts_backends

        with self._lock:
            known = self._issued.get((role_arn, session_name))
            if known:
                return known
            partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
            session = sts_backends[account][partition].assume_role(
                region_name=region,
                role_session_name=session_name,
                role_arn=role_arn,
                policy="",
                duration=SESSION_SECONDS,
                external_id="",
            )
            credentials = Credentials(session.access_key_id, session.secret_access_key, session.session_token)
            self._issued[(role_arn, session_name)] = credentials
            self._principals[credentials.access_key] = Principal(
                account, partition, role_arn, session_name, credentials.access_key, origin
            )
            return credentials

    def principal(self, access_key: str) -> Principal | None:
        """The role session an access key belongs to, or None for anyone else (an admin)."""
        with self._lock:
            known = self._principals.get(access_key)
        if known or not access_key.startswith("ASIA"):
            return known
        from moto.sts.models import sts_backends

        for account, partitions in list(sts_backends.items()):
            for partition, backend in list(partitions.items()):
                session = backend.get_assumed_role_from_access_key(access_key)
                if session:
                    return Principal(account, partition, session.role_arn, session.session_name, access_key, "sts")
        return None

    def secret(self, access_key: str) -> str | None:
        """The secret key of a role session's access key (to check what it presigned)."""
        with self._lock:
            issued = next((c for c in self._issued.values() if c.access_key == access_key), None)
        if issued:
            return issued.secret_key
        from moto.sts.models import sts_backends

        for partitions in list(sts_backends.values()):
            for backend in list(partitions.values()):
                session = backend.get_assumed_role_from_access_key(access_key)
                if session:
                    return session.secret_access_key
        return None
