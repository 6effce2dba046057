"""The deployment record `ape run deploy` writes to `deployments/<chain_id>.json` and the
indexer and the API read: where the escrow lives, from which block, and its ABI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.errors import OrrangeError

DEFAULT_DIRECTORY = Path("deployments")


class DeploymentNotFound(OrrangeError, FileNotFoundError):
    """No deployment is recorded for the chain asked for."""


@dataclass(frozen=True)
class DeployedContract:
    name: str
    address: str
    block: int  # the block of the deploying transaction: where indexing starts
    tx_hash: str
    abi: list = field(repr=False)


@dataclass(frozen=True)
class DeployedToken:
    symbol: str
    address: str
    decimals: int
    cap: int  # the largest escrow of it the escrow accepts, in base units


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    network: str
    deployer: str
    escrow: DeployedContract
    fee_bps: int
    treasury: str
    arbiter: str
    tokens: list[DeployedToken] = field(default_factory=list)

    @staticmethod
    def path(chain_id: int, directory: Path = DEFAULT_DIRECTORY) -> Path:
        return Path(directory) / f"{chain_id}.json"

    def save(self, directory: Path = DEFAULT_DIRECTORY) -> Path:
        path = self.path(self.chain_id, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, chain_id: int, directory: Path = DEFAULT_DIRECTORY) -> Deployment:
        path = cls.path(chain_id, directory)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise DeploymentNotFound(
                f"no deployment for chain {chain_id} at {path}; run `ape run deploy` for that network first"
            ) from None
        return cls(
            **{
                **record,
                "escrow": DeployedContract(**record["escrow"]),
                "tokens": [DeployedToken(**token) for token in record.get("tokens", [])],
            }
        )
