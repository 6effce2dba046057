"""The API's settings: the indexer's (database, RPC, deployments, logs) plus login, trading,
relaying, rate limits and health. Like the indexer's, read from `ORRANGE_*` environment
variables and `.env`; this class is the platform's whole configuration."""

from __future__ import annotations

import secrets
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

from api.ratelimit import Rate
from indexer.settings import Settings

RateSetting = Annotated[Rate, NoDecode, BeforeValidator(Rate.parse)]  # "30/minute", not JSON


class ApiSettings(Settings):
    # Sign-In with Ethereum: what a login message must name to be accepted here.
    siwe_domain: str = Field("localhost:8000", description="the domain (host[:port]) a login message must name")
    siwe_uri: str = Field("http://localhost:8000", description="the URI a login message must name")
    chain_id: int | None = Field(None, description="the chain traded on; unset: asked of the RPC")
    jwt_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="HMAC key of access tokens; set it when several API replicas run (default: random per process)",
    )
    nonce_ttl: int = Field(300, ge=10, description="seconds a login nonce stays usable")
    access_ttl: int = Field(900, ge=10, description="seconds an access token lives")
    refresh_ttl: int = Field(30 * 86400, ge=60, description="seconds a refresh token lives")
    # Trading.
    lock_window: int = Field(900, ge=60, description="seconds the seller has to lock a trade's escrow")
    payment_window: int = Field(
        1800, ge=600, le=7 * 86400, description="seconds the buyer has to pay once locked (the escrow's deadline)"
    )
    max_open_orders: int = Field(200, ge=1, description="open orders one maker may have at once")
    # Relaying: the platform account that pays gas for signed MarkPaid / Release / Cancel.
    relayer_key: SecretStr | None = Field(None, description="private key of the relaying account; unset: no relays")
    # Webhooks.
    webhook_timeout: float = Field(5.0, gt=0, description="seconds a webhook receiver has to answer")
    webhook_max_attempts: int = Field(8, ge=1, description="deliveries tried before a webhook event is dropped")
    redis_url: str | None = Field(
        None, description="Redis for live updates and rate limits across API processes (redis://host:6379/0); "
        "unset: one process",
    )
    redis_prefix: str = Field("orrange:", description="prefix of this platform's Redis channels and keys")
    request_threads: int = Field(8, ge=1, le=200, description="threads that run request handlers")
    jobs: bool = Field(True, description="run the scheduled jobs in the API process")
    jobs_interval: float = Field(1.0, gt=0, description="seconds between runs of the trade-following jobs")
    indexer_in_api: bool = Field(
        False, description="run an indexer in each API process (one per chain is active, the others stand by)"
    )
    # Operations.
    health_max_lag: int = Field(
        50, ge=0, description="blocks the indexer may be behind the chain's head before /health says 503"
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="proxies (comma-separated IPs, or *) whose X-Forwarded-For `orrange serve` trusts"
    )
    rate_limits: bool = Field(True, description="refuse requests beyond the rates below with a 429")
    login_rate_per_ip: RateSetting = Field(Rate(30, 60), description="login nonces and logins from one client IP")
    login_rate_per_address: RateSetting = Field(Rate(10, 60), description="logins of one address")
    order_rate_per_ip: RateSetting = Field(Rate(1200, 60), description="orders placed or taken from one client IP")
    order_rate_per_address: RateSetting = Field(Rate(600, 60), description="orders placed or taken by one address")
