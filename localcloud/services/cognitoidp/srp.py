"""Cognito's SRP sign-in (USER_SRP_AUTH, then the PASSWORD_VERIFIER challenge), as browsers
sign in (amazon-cognito-identity-js, Amplify), done for real on moto's user pools.

moto 5.2.5 answers USER_SRP_AUTH with random hex for SRP_B and SALT and accepts any
PASSWORD_CLAIM_SIGNATURE: every password signs in. Here the server's half of Cognito's SRP-6a
variant is computed from the user's password (which moto keeps in clear): the challenge carries
a real salt, B = k·v + g^b and a base64 SECRET_BLOCK; the client's signature, an HMAC keyed by
HKDF(S, u) over pool name, USER_ID_FOR_SRP, secret block and timestamp, is checked, and a wrong
one is refused with NotAuthorizedException "Incorrect username or password.", as Cognito does.
Test: tests/test_app_signin.py (the real client library, under Node, against the local cloud).

Constants and derivations are those of Cognito's published client (AuthenticationHelper): the
3072-bit group of RFC 5054, g = 2, SHA-256, the "Caldera Derived Key" HKDF info.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from moto.cognitoidp.exceptions import NotAuthorizedError
from moto.cognitoidp.models import CognitoIdpBackend

N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
INFO = b"Caldera Derived Key"


def pad_hex(value: int | str) -> str:
    """Cognito's padding: even length, and a leading 00 where the first bit would read as a sign."""
    text = format(value, "x") if isinstance(value, int) else value
    if len(text) % 2:
        text = "0" + text
    return "00" + text if text[0] in "89abcdefABCDEF" else text


def hex_hash(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest()


K = int(hex_hash(pad_hex(N) + pad_hex(G)), 16)


def password_exponent(pool_name: str, user_id: str, password: str, salt_hex: str) -> int:
    """x = H(salt | H(pool name | user id | ":" | password))."""
    inner = hashlib.sha256(f"{pool_name}{user_id}:{password}".encode()).hexdigest()
    return int(hex_hash(pad_hex(salt_hex) + inner), 16)


def scrambler(a_value: int, b_value: int) -> int:
    return int(hex_hash(pad_hex(a_value) + pad_hex(b_value)), 16)


def derived_key(shared: int, u_value: int) -> bytes:
    """HKDF-SHA256 (one block, 16 bytes) of S salted with u, as the client derives it."""
    prk = hmac.new(bytes.fromhex(pad_hex(u_value)), bytes.fromhex(pad_hex(shared)), hashlib.sha256).digest()
    return hmac.new(prk, INFO + b"\x01", hashlib.sha256).digest()[:16]


def claim_signature(key: bytes, pool_name: str, user_id: str, secret_block: str, timestamp: str) -> str:
    message = pool_name.encode() + user_id.encode() + base64.b64decode(secret_block) + timestamp.encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Challenge:
    """The server's half of one sign-in, until the client answers it."""

    a_value: int
    b_secret: int
    b_value: int
    salt: str
    verifier: int
    pool_name: str
    user_id: str


_challenges: dict[str, Challenge] = {}
_lock = threading.Lock()


def _begin(backend: CognitoIdpBackend, answer: dict[str, Any], srp_a: str) -> dict[str, Any]:
    a_value = int(srp_a, 16)
    if a_value % N == 0:  # Cognito refuses A ≡ 0 (it would make S known to anyone)
        raise NotAuthorizedError("Incorrect username or password.")
    session = answer["Session"]
    username, pool = backend.sessions.pop(session)
    user = backend.admin_get_user(pool.id, username)
    params = answer["ChallengeParameters"]
    # Cognito's USER_ID_FOR_SRP is the user's internal name (moto sends its `id`, which no later
    # call finds the user by): the client signs with it and answers with it as USERNAME.
    pool_name, user_id = pool.id.split("_", 1)[1], user.username
    salt = secrets.token_hex(16)
    verifier = pow(G, password_exponent(pool_name, user_id, user.password or "", salt), N)
    b_secret = secrets.randbelow(N - 2) + 1
    b_value = (K * verifier + pow(G, b_secret, N)) % N
    # The secret block is what the client signs and sends back; moto keys the session by it.
    secret_block = base64.b64encode(secrets.token_bytes(48)).decode()
    backend.sessions[secret_block] = (username, pool)
    with _lock:
        _challenges[secret_block] = Challenge(a_value, b_secret, b_value, salt, verifier, pool_name, user_id)
    params.update(USER_ID_FOR_SRP=user_id, SALT=salt, SRP_B=format(b_value, "x"), SECRET_BLOCK=secret_block)
    return {**answer, "Session": secret_block}


def _check(responses: dict[str, str]) -> None:
    secret_block = responses.get("PASSWORD_CLAIM_SECRET_BLOCK") or ""
    with _lock:
        challenge = _challenges.pop(secret_block, None)  # one answer per challenge
    if challenge is None:
        return  # moto answers an unknown session itself (ResourceNotFound)
    u_value = scrambler(challenge.a_value, challenge.b_value)
    shared = pow(challenge.a_value * pow(challenge.verifier, u_value, N), challenge.b_secret, N)
    expected = claim_signature(
        derived_key(shared, u_value),
        challenge.pool_name,
        challenge.user_id,
        secret_block,
        responses.get("TIMESTAMP") or "",
    )
    if not hmac.compare_digest(expected, responses.get("PASSWORD_CLAIM_SIGNATURE") or ""):
        raise NotAuthorizedError("Incorrect username or password.")


def install() -> None:
    initiate, respond = CognitoIdpBackend.initiate_auth, CognitoIdpBackend.respond_to_auth_challenge

    def initiate_auth(self: CognitoIdpBackend, client_id: str, auth_flow: str, auth_parameters: dict[str, str]) -> Any:
        answer = initiate(self, client_id, auth_flow, auth_parameters)
        if auth_flow == "USER_SRP_AUTH" and answer.get("ChallengeName") == "PASSWORD_VERIFIER":
            return _begin(self, answer, auth_parameters["SRP_A"])
        return answer

    def respond_to_auth_challenge(
        self: CognitoIdpBackend, session: str, client_id: str, challenge_name: str, challenge_responses: dict[str, str]
    ) -> Any:
        if challenge_name == "PASSWORD_VERIFIER":
            _check(challenge_responses)
        return respond(self, session, client_id, challenge_name, challenge_responses)

    CognitoIdpBackend.initiate_auth = initiate_auth  # type: ignore[method-assign]
    CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge  # type: ignore[method-assign]
