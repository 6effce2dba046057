"""Sign-In with Ethereum: a nonce, a signed message, and the tokens it gives."""

from __future__ import annotations

from fastapi import APIRouter, Request
from web3 import HTTPProvider

from api import auth
from api.deps import CurrentTrader, PlatformDep, client_ip
from api.schemas import LoginIn, NonceOut, RefreshIn, TokensOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/nonce", response_model=NonceOut)
def nonce(request: Request, platform: PlatformDep) -> NonceOut:
    """A single-use nonce for the EIP-4361 message, with the domain, URI and chain it must name."""
    platform.limiter.login(client_ip(request))
    settings = platform.settings
    issued = platform.write(lambda session, _: auth.issue_nonce(session, settings))
    return NonceOut(
        nonce=issued.nonce, expires_at=issued.expires_at, domain=settings.siwe_domain, uri=settings.siwe_uri,
        chain_id=platform.market.chain_id,
    )


@router.post("/login", response_model=TokensOut)
def login(body: LoginIn, request: Request, platform: PlatformDep) -> TokensOut:
    """Checks the signed message (an EOA's signature, or an ERC-1271 wallet's) and opens a session."""
    platform.limiter.login(client_ip(request), auth.address_named_in(body.message))
    provider = HTTPProvider(platform.settings.rpc_url, request_kwargs={"timeout": 10})
    tokens = platform.write(
        lambda session, _: auth.login(
            session, platform.settings, platform.market.chain_id, body.message, body.signature, provider
        )
    )
    return _out(tokens)


@router.post("/refresh", response_model=TokensOut)
def refresh(body: RefreshIn, platform: PlatformDep) -> TokensOut:
    """A new access token and a new refresh token; the one presented is spent."""
    return _out(platform.write(lambda session, _: auth.refresh(session, platform.settings, body.refresh_token)))


@router.post("/logout", status_code=204)
def logout(caller: CurrentTrader, platform: PlatformDep) -> None:
    """Ends the session: its access and refresh tokens stop working at once."""
    platform.write(lambda session, _: auth.logout(session, caller))


@router.get("/me")
def me(caller: CurrentTrader) -> dict:
    """The address the access token speaks for."""
    return {"address": caller.address}


def _out(tokens: auth.Tokens) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_in=tokens.expires_in,
        address=tokens.address,
    )
