"""Sign-In with Ethereum (EIP-4361) and the tokens a login gives.

A login proves control of an address once; it opens a session. The session's access
tokens are short-lived JWTs (HS256) naming it; its refresh tokens are random strings,
stored hashed, each usable once: refreshing returns a new pair, and presenting a spent
refresh token again revokes the session (someone else has a copy). Logging out revokes the
session, which every access token is checked against, so it stops working at once.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import jwt
import siwe
from sqlalchemy import delete, update
from sqlmodel import Session, select
from web3 import HTTPProvider

from api.errors import BadRequest, Unauthorized
from api.models import AuthSession, LoginNonce, RefreshToken
from api.settings import ApiSettings
from indexer.escrow import to_checksum_address

_ALGORITHM = "HS256"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
LIVE_SESSION_SECONDS = 5.0
"""How long this process trusts that a session it checked is still live. A logout through this
process takes effect at once; through another replica, within this many seconds."""
_LIVE_CACHE_ENTRIES = 100_000
_live_until: dict[str, float] = {}  # session id -> until when it is known live
_verified: dict[str, tuple[Caller, int]] = {}  # access token -> (its caller, its expiry), once its signature checked


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    address: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an access token speaks for."""

    address: str
    session_id: str


def login_message(
    address: str, nonce: str, *, domain: str, uri: str, chain_id: int, statement: str = "Sign in to Orrange.",
    expires: str | None = None,
) -> str:
    """The EIP-4361 message a wallet signs to log in here (for clients: the CLI's demo, the tests)."""
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:", address, "", statement, "", f"URI: {uri}",
        "Version: 1", f"Chain ID: {chain_id}", f"Nonce: {nonce}",
        f"Issued At: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
    ]
    if expires:
        lines.append(f"Expiration Time: {expires}")
    return "\n".join(lines)


def address_named_in(message: str) -> str | None:
    """The address on an EIP-4361 message's second line, before the message is checked (for
    rate limits); None when that line holds no address."""
    lines = message.split("\n", 2)
    if len(lines) < 2 or not _ADDRESS.fullmatch(lines[1]):
        return None
    return lines[1]


def issue_nonce(session: Session, settings: ApiSettings, now: int | None = None) -> LoginNonce:
    now = int(time.time()) if now is None else now
    session.exec(delete(LoginNonce).where(LoginNonce.expires_at <= now))  # keep the table small
    nonce = LoginNonce(nonce=siwe.generate_nonce(), expires_at=now + settings.nonce_ttl)
    session.add(nonce)
    return nonce


def login(
    session: Session, settings: ApiSettings, chain_id: int, message: str, signature: str, provider: HTTPProvider | None
) -> Tokens:
    """Verifies a signed SIWE message (EOA, or ERC-1271 wallet through `provider`) and opens a session."""
    try:
        parsed = siwe.SiweMessage.from_message(message=message)
    except Exception as error:  # noqa: BLE001 - the grammar's errors are many; all mean a malformed message
        raise BadRequest(f"the login message is not an EIP-4361 message: {error}") from None
    now = int(time.time())
    # Spend the nonce first, in the caller's transaction: one message logs in at most once.
    spent = session.exec(
        delete(LoginNonce).where(LoginNonce.nonce == parsed.nonce, LoginNonce.expires_at > now)
    ).rowcount
    if spent != 1:
        raise Unauthorized("the login nonce is unknown, used or expired; ask /auth/nonce for a new one")
    try:
        parsed.verify(
            signature,
            domain=settings.siwe_domain,
            uri=settings.siwe_uri,
            chain_id=chain_id,
            nonce=parsed.nonce,
            provider=provider,
        )
    except siwe.DomainMismatch:
        raise Unauthorized(f"the login message is for another domain; this is {settings.siwe_domain}") from None
    except siwe.UriMismatch:
        raise Unauthorized(f"the login message is for another URI; this is {settings.siwe_uri}") from None
    except siwe.ChainIdMismatch:
        raise Unauthorized(f"the login message is for another chain; this is chain {chain_id}") from None
    except siwe.ExpiredMessage:
        raise Unauthorized("the login message has expired; sign a new one") from None
    except siwe.NotYetValidMessage:
        raise Unauthorized("the login message is not valid yet (its not-before time is in the future)") from None
    except siwe.VerificationError:
        raise Unauthorized("the signature is not the message's address's (EOA or ERC-1271 wallet)") from None
    address = to_checksum_address(parsed.address)
    auth_session = AuthSession(id=secrets.token_hex(16), address=address, created_at=now)
    session.add(auth_session)
    return _tokens(session, settings, auth_session, now)


def refresh(session: Session, settings: ApiSettings, refresh_token: str) -> Tokens:
    now = int(time.time())
    token = session.get(RefreshToken, _digest(refresh_token), with_for_update=True)
    if token is None or token.expires_at <= now:
        raise Unauthorized("the refresh token is unknown or expired; sign in again")
    auth_session = session.get(AuthSession, token.session_id)
    if auth_session.revoked:
        raise Unauthorized("this session was logged out; sign in again")
    if token.used:
        # A spent token came back: whoever holds it is not the one who spent it. End the session.
        auth_session.revoked = True
        session.add(auth_session)
        _live_until.pop(auth_session.id, None)
        session.commit()  # the revocation stands although the request fails
        raise Unauthorized("this refresh token was already used, so the session is revoked; sign in again")
    token.used = True
    session.add(token)
    return _tokens(session, settings, auth_session, now)


def logout(session: Session, caller: Caller) -> None:
    session.exec(update(AuthSession).where(AuthSession.id == caller.session_id).values(revoked=True))
    _live_until.pop(caller.session_id, None)


def authenticate(
    read: Callable[[], AbstractContextManager[Session]], settings: ApiSettings, access_token: str
) -> Caller:
    """The caller an access token names, if it is genuine, unexpired, and its session is live.
    `read` opens a session, for when this process has not checked the session lately."""
    caller = authenticated(settings, access_token)
    if not known_live(caller):
        check_live(read, caller)
    return caller


def authenticated(settings: ApiSettings, access_token: str) -> Caller:
    """The caller a genuine, unexpired access token names; whether its session is live is
    `known_live`'s question, or else `check_live`'s (which reads the database)."""
    caller, expires = _verified_token(settings, access_token)
    if expires <= time.time():  # as PyJWT counts it
        raise Unauthorized("the access token has expired; refresh it at /auth/refresh")
    return caller


def known_live(caller: Caller) -> bool:
    """Whether this process checked the caller's session lately and found it live."""
    return _live_until.get(caller.session_id, 0.0) > time.monotonic()


def check_live(read: Callable[[], AbstractContextManager[Session]], caller: Caller) -> None:
    """Reads whether the caller's session is live (Unauthorized if not), and remembers it for
    about `LIVE_SESSION_SECONDS`: spread over a quarter either way, so that sessions checked
    together (a server's first requests) are not all read again at the same moment."""
    sid = caller.session_id
    with read() as session:
        revoked = session.exec(select(AuthSession.revoked).where(AuthSession.id == sid)).first()
    if revoked is None or revoked:
        raise Unauthorized("this session was logged out; sign in again")
    if len(_live_until) >= _LIVE_CACHE_ENTRIES:
        _live_until.clear()
    _live_until[sid] = time.monotonic() + LIVE_SESSION_SECONDS * random.uniform(0.75, 1.25)


def _verified_token(settings: ApiSettings, access_token: str) -> tuple[Caller, int]:
    """(caller, expiry) of a genuine access token. A token's signature is checked once per
    process: a client sends the same token with every request until it expires."""
    known = _verified.get(access_token)
    if known is not None:
        return known
    try:
        claims = jwt.decode(
            access_token, settings.jwt_secret.get_secret_value(), algorithms=[_ALGORITHM],
            options={"require": ["sub", "sid", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired; refresh it at /auth/refresh") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the access token is not valid; sign in at /auth/login") from None
    if len(_verified) >= _LIVE_CACHE_ENTRIES:
        _verified.clear()
    known = _verified[access_token] = (Caller(address=claims["sub"], session_id=claims["sid"]), int(claims["exp"]))
    return known


def _tokens(session: Session, settings: ApiSettings, auth_session: AuthSession, now: int) -> Tokens:
    access = jwt.encode(
        {"sub": auth_session.address, "sid": auth_session.id, "iat": now, "exp": now + settings.access_ttl},
        settings.jwt_secret.get_secret_value(),
        algorithm=_ALGORITHM,
    )
    refresh_token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(token_hash=_digest(refresh_token), session_id=auth_session.id, expires_at=now + settings.refresh_ttl)
    )
    return Tokens(access, refresh_token, settings.access_ttl, auth_session.address)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
