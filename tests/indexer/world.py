"""An escrow deployment on a private anvil, random escrow activity on it, and the check that
a database mirrors it: what the indexer tests share."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from indexer.deployment import DeployedContract, DeployedToken, Deployment
from indexer.escrow import ETH, Deal, Status
from indexer.models import Claimable, Escrow, EventRecord
from tests.chain import Chain

MAX_UINT = 2**256 - 1


@dataclass
class World:
    chain: Chain
    escrow: str
    tokens: list[str]  # ETH, a standard token, a blacklisting token
    owner: str
    traders: list[str]
    arbiters: list[str]
    treasuries: list[str]
    deployment: Deployment
    deployment_dir: Path
    trade_ids: list[str] = field(default_factory=list)  # every trade id ever locked

    @property
    def blacklist_token(self) -> str:
        return self.tokens[2]


def deploy_world(chain: Chain, project, directory: Path, contract: str = "Escrow") -> World:
    """Deploys the escrow (`contract` names its implementation) and two tokens, funds five
    traders, records the deployment in `directory`."""
    accounts = chain.accounts
    owner, traders, arbiters, treasuries = accounts[0], accounts[1:6], accounts[6:8], accounts[8:10]
    contract_type = getattr(project, contract).contract_type
    escrow, receipt = chain.deploy(owner, contract_type, 50, treasuries[0], arbiters[0])
    token, _ = chain.deploy(owner, project.TestToken.contract_type, "Test USD", "tUSD", 6)
    blacklist, _ = chain.deploy(owner, project.BlacklistToken.contract_type)
    for address in (ETH, token, blacklist):
        chain.transact(owner, escrow, "set_token_cap", address, 10**30)
    for address in (token, blacklist):
        for trader in traders:
            chain.transact(owner, address, "mint", trader, 10**24)
            chain.transact(trader, address, "approve", escrow, MAX_UINT)
    abi = [item.model_dump(mode="json", by_alias=True) for item in contract_type.abi]
    deployment = Deployment(
        chain_id=int(chain.rpc("eth_chainId"), 16),
        network="ethereum:local:foundry",
        deployer=owner,
        escrow=DeployedContract(contract, escrow, int(receipt["blockNumber"], 16), receipt["transactionHash"], abi),
        fee_bps=50,
        treasury=treasuries[0],
        arbiter=arbiters[0],
        tokens=[DeployedToken("tUSD", token, 6, 10**30)],
    )
    deployment.save(directory)
    return World(chain, escrow, [ETH, token, blacklist], owner, traders, arbiters, treasuries, deployment, directory)


class Activity:
    """Random escrow lifecycles that, between them, emit every event the escrow has."""

    def __init__(self, world: World, seed: int = 0):
        self.world = world
        self.chain = world.chain
        self.rng = random.Random(seed)
        self.treasury = world.treasuries[0]
        self.open: list[tuple[str, Deal, Status]] = []

    def lock(self, wait: bool = True) -> tuple[str, Deal] | str:
        world, rng = self.world, self.rng
        trade_id = "0x" + rng.randbytes(28).hex() + len(world.trade_ids).to_bytes(4, "big").hex()
        seller, buyer = rng.sample(world.traders, 2)
        token = rng.choice(world.tokens)
        amount = rng.randint(1, 10**9) * (10**9 if token == ETH else 1)
        data = _lock_data(trade_id, buyer, token, amount, rng.choice([600, 3600, 86_400]))
        world.trade_ids.append(trade_id)
        result = self.chain.send(seller, world.escrow, data, amount if token == ETH else 0, wait=wait)
        if not wait:
            return result
        assert result["status"] == "0x1", "lock reverted"
        return trade_id, _deal_from_receipt(result)

    def lifecycle(self) -> None:
        """One trade from lock to an ending picked at random (or left open)."""
        chain, world, rng = self.chain, self.world, self.rng
        trade_id, deal = self.lock()
        tid = bytes.fromhex(trade_id[2:])
        ending = rng.choice(["release", "paid-release", "cancel", "refund", "extend", "dispute", "open", "blacklisted"])
        if ending == "release":
            chain.transact(deal.seller, world.escrow, "release", tid, tuple(deal))
        elif ending == "paid-release":
            chain.transact(deal.buyer, world.escrow, "mark_paid", tid, tuple(deal))
            chain.transact(deal.seller, world.escrow, "release", tid, tuple(deal))
        elif ending == "cancel":
            chain.transact(deal.buyer, world.escrow, "cancel", tid, tuple(deal))
        elif ending == "refund":
            chain.rpc("evm_setNextBlockTimestamp", [deal.deadline + 1])
            chain.transact(deal.seller, world.escrow, "refund", tid, tuple(deal))
        elif ending == "extend":
            chain.transact(deal.seller, world.escrow, "extend", tid, tuple(deal), deal.deadline + 60)
            deal = deal._replace(deadline=deal.deadline + 60)
            chain.transact(deal.buyer, world.escrow, "mark_paid", tid, tuple(deal))
        elif ending == "dispute":
            chain.transact(deal.buyer, world.escrow, "mark_paid", tid, tuple(deal))
            chain.transact(rng.choice([deal.buyer, deal.seller]), world.escrow, "dispute", tid, tuple(deal))
            if rng.random() < 0.8:
                chain.transact(deal.arbiter, world.escrow, "resolve", tid, tuple(deal), rng.randint(0, 10_000))
        elif ending == "blacklisted" and deal.token == world.blacklist_token:
            chain.transact(world.owner, deal.token, "set_blacklisted", deal.buyer, True)
            chain.transact(deal.seller, world.escrow, "release", tid, tuple(deal))  # credited to the buyer
            chain.transact(world.owner, deal.token, "set_blacklisted", deal.buyer, False)
            if rng.random() < 0.7:
                chain.transact(deal.buyer, world.escrow, "withdraw", deal.token, deal.buyer)

    def admin(self) -> None:
        """An owner change or a treasury withdrawal."""
        chain, world, rng = self.chain, self.world, self.rng
        kind = rng.choice(["fee", "arbiter", "treasury", "pause", "withdraw-fees"])
        if kind == "fee":
            chain.transact(world.owner, world.escrow, "set_fee_bps", rng.randint(0, 100))
        elif kind == "arbiter":
            chain.transact(world.owner, world.escrow, "set_arbiter", rng.choice(world.arbiters))
        elif kind == "treasury":
            self.treasury = rng.choice(world.treasuries)
            chain.transact(world.owner, world.escrow, "set_treasury", self.treasury)
        elif kind == "pause":
            chain.transact(world.owner, world.escrow, "pause")
            chain.transact(world.owner, world.escrow, "unpause")
        else:
            token = rng.choice(world.tokens)
            if chain.call(world.escrow, "claimable", token, self.treasury, returns="uint256"):
                chain.transact(self.treasury, world.escrow, "withdraw", token, self.treasury)

    def run(self, lifecycles: int) -> None:
        for _ in range(lifecycles):
            self.lifecycle()
            if self.rng.random() < 0.15:
                self.admin()


def _lock_data(trade_id: str, buyer: str, token: str, amount: int, window: int) -> str:
    from tests.chain import calldata

    return calldata("lock", bytes.fromhex(trade_id[2:]), buyer, token, amount, window)


def _deal_from_receipt(receipt: dict) -> Deal:
    from eth_abi import decode

    from indexer.decode import to_checksum_address

    [locked] = [entry for entry in receipt["logs"] if len(entry["topics"]) == 4]
    token, amount, fee, arbiter, deadline = decode(
        ["address", "uint256", "uint256", "address", "uint256"], bytes.fromhex(locked["data"][2:])
    )
    seller, buyer = (to_checksum_address("0x" + topic[-40:]) for topic in locked["topics"][2:4])
    return Deal(seller, buyer, to_checksum_address(token), amount, fee, to_checksum_address(arbiter), deadline)


def assert_mirrors_chain(engine: Engine, world: World) -> None:
    """The database says what the contract's views say: escrow by escrow (status and every
    `Deal` field, through the commitment), and every claimable balance; and it holds every
    log of the escrow exactly once."""
    chain, chain_id = world.chain, world.deployment.chain_id
    logs = chain.rpc("eth_getLogs", [{"address": world.escrow, "fromBlock": "0x0", "toBlock": "latest"}])
    with engine.connect() as conn:
        stored = conn.execute(
            select(EventRecord.block_number, EventRecord.log_index, EventRecord.block_hash).where(
                EventRecord.chain_id == chain_id
            )
        ).all()
    assert sorted(stored) == sorted(
        (int(item["blockNumber"], 16), int(item["logIndex"], 16), item["blockHash"]) for item in logs
    ), "the events table is not the chain's logs, each once"
    with engine.connect() as conn:
        rows = {row.trade_id: row for row in conn.execute(select(Escrow.__table__).where(Escrow.chain_id == chain_id))}
        claimables = {
            (row.token, row.account): row.amount
            for row in conn.execute(select(Claimable.__table__).where(Claimable.chain_id == chain_id))
        }
    on_chain = {}
    for trade_id in world.trade_ids:
        tid = bytes.fromhex(trade_id[2:])
        status = Status(chain.call(world.escrow, "status", tid, returns="uint8"))
        if status is not Status.NONE:
            on_chain[trade_id] = (status, chain.call(world.escrow, "commitment", tid, returns="bytes32"))
    assert set(rows) == set(on_chain), "the database and the chain know different escrows"
    for trade_id, (status, commitment) in on_chain.items():
        row = rows[trade_id]
        deal = Deal(row.seller, row.buyer, row.token, row.amount, row.fee, row.arbiter, row.deadline)
        assert (row.status, deal.commitment(status)) == (status.name, commitment), trade_id
    accounts = world.traders + world.treasuries + world.arbiters + [world.owner]
    for token in world.tokens:
        for account in accounts:
            expected = chain.call(world.escrow, "claimable", token, account, returns="uint256")
            assert claimables.get((token, account), 0) == expected, (token, account)
