"""Orrange's configuration, read from `ORRANGE_*` environment variables and `.env`: this class
holds what every process needs (database, chain, logs, the indexer); `api.settings.ApiSettings`
adds the API's. Nothing else in Orrange reads an `ORRANGE_*` variable; README's settings table
lists every field of both."""

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexer.errors import SettingsError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORRANGE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///orrange.db", description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://..."
    )
    rpc_url: str = Field("http://127.0.0.1:8545", description="JSON-RPC endpoint of the chain")
    ws_url: str | None = Field(
        None, description='WebSocket for new heads; unset: the RPC URL as ws:// if it answers; "off": poll'
    )
    deployments_dir: Path = Field(Path("deployments"), description="where `ape run deploy` wrote <chain_id>.json")
    confirmations: int = Field(12, ge=0, description="blocks after which indexed data is final")
    reorg_depth: int = Field(128, ge=1, description="recent blocks whose hashes are kept to detect reorgs")
    poll_interval: float = Field(0.5, gt=0, description="seconds between head polls without WebSocket")
    initial_range: int = Field(10, ge=1, description="blocks per eth_getLogs at the start of a backfill")
    max_range: int = Field(100_000, ge=1, description="largest eth_getLogs range the indexer grows to")
    rpc_timeout: float = Field(30.0, gt=0, description="seconds before an RPC request counts as timed out")
    rpc_max_attempts: int = Field(12, ge=1, description="tries of one RPC request before giving up")
    standby_interval: float = Field(
        1.0, gt=0, description="seconds between a standby indexer's tries to become the chain's active one"
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="port where `orrange index` serves Prometheus /metrics; unset: none"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text for people; json: one object per line on stdout, for log collectors"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        None, description="the lowest level logged; unset: INFO (orrange up: WARNING)"
    )

    @classmethod
    def load(cls, **overrides) -> Self:
        """The settings from the environment and `.env`, with `overrides` (command-line options)
        on top; a value they refuse raises SettingsError, one line naming the variable."""
        try:
            return cls(**overrides)
        except ValidationError as error:
            problems = []
            for problem in error.errors():
                variable = "ORRANGE_" + "_".join(map(str, problem["loc"])).upper()
                reason = problem["msg"].removeprefix("Value error, ")
                problems.append(f"{variable}: {reason} (got {problem['input']!r})")
            raise SettingsError("bad setting: " + "; ".join(problems)) from None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, level):
        return level.upper() if isinstance(level, str) else level
