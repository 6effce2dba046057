"""Differential test: the Vyper escrow and its Solidity twin must be the same contract.

The interface is compared as a whole (the ABIs). Then each implementation gets an anvil of its
own on which the same world is built the same way (so every address matches), and hypothesis
drives both with the same random sequences: locks (with permits too), every action by the right
party or anyone, relays with good, forged, malleable, expired or oversized signatures, wrong
deals, withdrawals, admin changes, ownership moves, blacklisting and time. After each step both
chains must agree exactly: the transaction succeeded on both or failed on both with the same
revert data; the same logs (address, topics, data); then the same commitment of the trade it
touched, and the same balance and claimable amount of every account in every token and the same
status of every trade.

`ORRANGE_DIFFERENTIAL_EXAMPLES` sets the number of sequences (100 by default) and
`ORRANGE_DIFFERENTIAL_STEPS` their length.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from indexer.escrow import ESCROW_CONTRACTS, ETH, Action, Deal, Status, action_message, permit_typed_data
from tests.anvil import anvil
from tests.chain import Chain, calldata

from .conftest import state_machine_settings

EXAMPLES = int(os.environ.get("ORRANGE_DIFFERENTIAL_EXAMPLES", "100"))
STEPS = int(os.environ.get("ORRANGE_DIFFERENTIAL_STEPS", "40"))

MNEMONIC = "test test test test test test test test test test test junk"  # anvil's accounts
MIN_WINDOW, MAX_WINDOW = 600, 604_800
FUNDING = 10**15
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
LOCKED_TOPIC = "0x" + keccak(text="Locked(bytes32,address,address,address,uint256,uint256,address,uint256)").hex()
EXTENDED_TOPIC = "0x" + keccak(text="Extended(bytes32,uint256)").hex()
CHAIN_ID = 31337
ACTIONS = ["mark_paid", "release", "cancel", "refund", "extend", "dispute", "resolve"]
RELAYABLE = {"mark_paid": Action.MARK_PAID, "release": Action.RELEASE, "cancel": Action.CANCEL}
# What an open trade's party can try, by its status (refund and extend are timing questions).
FITTING = {
    Status.LOCKED: ["mark_paid", "mark_paid", "release", "cancel", "refund", "extend"],
    Status.PAID: ["release", "cancel", "dispute", "dispute"],
    Status.DISPUTED: ["resolve"],
}
LOCK_EDGES = ["self trade", "zero amount", "too much", "short window", "long window", "max window", "wrong value",
              "used id", "zero id"]  # fmt: skip
BAD_SIGNATURES = ["good", "other signer", "other action", "high s", "bad v", "expired", "64 bytes", "twice",
                  "1025 bytes"]  # fmt: skip

Account.enable_unaudited_hdwallet_features()
KEYS = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key for i in range(12)]


def test_interfaces__are_the_same(project):
    """Every function, event and argument, with its type, name and mutability."""

    def interface(contract_type) -> list:
        abi = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in contract_type.abi]
        for item in abi:
            for argument in item.get("inputs", []) + item.get("outputs", []):
                argument.pop("internalType", None)
                for component in argument.get("components", []):
                    component.pop("internalType", None)
                # Vyper names a public mapping's key `arg0`, Solidity leaves it unnamed.
                if argument["name"] == "arg0":
                    argument["name"] = ""
        return sorted(abi, key=repr)

    vyper, solidity = (interface(getattr(project, name).contract_type) for name in ESCROW_CONTRACTS.values())
    assert solidity == vyper


@dataclass
class World:
    """The same addresses on both chains."""

    escrow: str
    inspector: str
    owner: str
    traders: list  # three EOAs, a contract that rejects ETH, an ERC-1271 wallet
    controller: str  # the EOA behind both contract traders, and the wallet's signer
    arbiters: list
    treasuries: list
    relayer: str
    permit_seller: str  # holds TestToken but approved nothing: it locks with permits
    tokens: list  # ETH, standard (with permit), USDT-style, fee-on-transfer, blacklisting
    keys: dict  # address -> private key of every EOA
    checked: list  # every address whose balances are compared

    @property
    def contract_traders(self) -> set:
        return set(self.traders[3:])

    @property
    def everyone(self) -> list:
        return self.traders + self.arbiters + self.treasuries + [self.relayer, self.owner, self.permit_seller]


def build_world(chain: Chain, project, escrow_name: str) -> World:
    accounts = chain.accounts
    owner, t1, t2, arbiter1, treasury1, arbiter2, t3, controller, relayer, treasury2, permit_seller = accounts[:11]
    escrow, _ = chain.deploy(owner, getattr(project, escrow_name).contract_type, 50, treasury1, arbiter1)
    inspector, _ = chain.deploy(owner, project.Inspector.contract_type)
    rejecter, _ = chain.deploy(controller, project.EthRejecter.contract_type)
    wallet, _ = chain.deploy(controller, project.Wallet1271.contract_type)
    erc20s = [
        chain.deploy(owner, project.TestToken.contract_type, "Test USD", "tUSD", 6)[0],
        chain.deploy(owner, project.UsdtToken.contract_type)[0],
        chain.deploy(owner, project.FeeToken.contract_type)[0],
        chain.deploy(owner, project.BlacklistToken.contract_type)[0],
    ]
    chain.transact(owner, escrow, "set_token_cap", ETH, 2**255)
    for token in erc20s:
        chain.transact(owner, escrow, "set_token_cap", token, 2**255)
        for trader in (t1, t2, t3, rejecter, wallet):
            chain.transact(owner, token, "mint", trader, FUNDING)
        for trader in (t1, t2, t3):
            chain.transact(trader, token, "approve", escrow, 2**256 - 1)
        for contract in (rejecter, wallet):
            approve = bytes.fromhex(calldata("approve", escrow, 2**256 - 1)[2:])
            chain.transact(controller, contract, "execute", token, approve, 0)
    chain.transact(owner, erc20s[0], "mint", permit_seller, FUNDING)
    eoas = [owner, t1, t2, arbiter1, treasury1, arbiter2, t3, controller, relayer, treasury2, permit_seller]
    return World(
        escrow=escrow,
        inspector=inspector,
        owner=owner,
        traders=[t1, t2, t3, rejecter, wallet],
        controller=controller,
        arbiters=[arbiter1, arbiter2],
        treasuries=[treasury1, treasury2],
        relayer=relayer,
        permit_seller=permit_seller,
        tokens=[ETH, *erc20s],
        keys={address: KEYS[accounts.index(address)] for address in eoas},
        checked=eoas + [rejecter, wallet, escrow],
    )


@pytest.fixture(scope="module")
def twins(project):
    """A chain per implementation, each with the same world on it."""
    with anvil("--accounts", "12") as vyper_url, anvil("--accounts", "12") as solidity_url:
        chains = [Chain(vyper_url), Chain(solidity_url)]
        worlds = [build_world(chain, project, name) for chain, name in zip(chains, ESCROW_CONTRACTS.values())]
        assert worlds[0] == worlds[1], "the worlds must have the same addresses"
        yield chains, worlds[0]


class TwinMachine(RuleBasedStateMachine):
    chains: list[Chain]  # set by the test before the machine runs
    world: World
    pool: ThreadPoolExecutor

    def __init__(self):
        super().__init__()
        self.snapshots = [chain.rpc("evm_snapshot") for chain in self.chains]
        self.now = max(chain.timestamp() for chain in self.chains) + 1
        self.trades: list[tuple[bytes, Deal]] = []  # every trade locked, with its current terms
        self.statuses: list[Status] = []  # of `trades`, as the last comparison found them
        self.claimables: dict[tuple[str, str], int] = {}  # (token, account) -> amount, likewise
        self.changed = True  # whether a transaction went through since the last comparison
        self.next_trade = 0

    def teardown(self):
        for chain, snapshot in zip(self.chains, self.snapshots):
            chain.rpc("evm_revert", [snapshot])

    # --- driving both chains -------------------------------------------------------

    def send(self, sender: str, to: str, data: str, value: int = 0, touched: bytes | None = None) -> bool:
        """Sends the same transaction at the same time on both chains and checks that they
        agree; returns whether it succeeded. `touched` is the trade whose commitment to compare."""
        world = self.world
        if sender in world.contract_traders:  # a contract trader acts through its controller
            data = calldata("execute", to, bytes.fromhex(data[2:]), value)
            sender, to = world.controller, sender
        now = self.now

        def send_at_now(chain: Chain) -> dict:
            chain.rpc("evm_setNextBlockTimestamp", [now])
            return chain.send(sender, to, data, value)

        vyper, solidity = receipts = self.on_both(send_at_now)
        self.now += 1
        assert vyper["status"] == solidity["status"], "one implementation accepted what the other refused"
        assert _logs(vyper) == _logs(solidity)
        succeeded = vyper["status"] == "0x1"
        if not succeeded:
            reasons = [self.revert_data(chain, receipt) for chain, receipt in zip(self.chains, receipts)]
            assert reasons[0] == reasons[1], "different revert data"
            event(f"reverted: {_reason(reasons[0])}")
        self.changed |= succeeded
        if succeeded and touched is not None:
            commitments = self.on_both(lambda chain: chain.call(world.escrow, "commitment", touched, returns="bytes32"))
            assert commitments[0] == commitments[1]
        self.follow_deals(vyper)
        return succeeded

    def on_both(self, work):
        """`work(chain)` on both chains at once (each anvil is a process of its own)."""
        return list(self.pool.map(work, self.chains))

    @staticmethod
    def revert_data(chain: Chain, receipt: dict) -> str:
        trace = chain.rpc("debug_traceTransaction", [receipt["transactionHash"], {"tracer": "callTracer"}])
        return trace.get("output", "0x")

    def follow_deals(self, receipt: dict):
        for log in receipt["logs"]:
            if log["address"].lower() != self.world.escrow.lower():
                continue
            trade_id = bytes.fromhex(log["topics"][1][2:]) if len(log["topics"]) > 1 else None
            if log["topics"][0] == LOCKED_TOPIC:
                seller, buyer = (abi_decode(["address"], bytes.fromhex(t[2:]))[0] for t in log["topics"][2:4])
                token, amount, fee, arbiter, deadline = abi_decode(
                    ["address", "uint256", "uint256", "address", "uint256"], bytes.fromhex(log["data"][2:])
                )
                deal = Deal.from_event(dict(seller=seller, buyer=buyer, token=token, amount=amount, fee=fee,
                                            arbiter=arbiter, deadline=deadline))  # fmt: skip
                self.trades.append((trade_id, deal))
            elif log["topics"][0] == EXTENDED_TOPIC:
                [deadline] = abi_decode(["uint256"], bytes.fromhex(log["data"][2:]))
                index = next(i for i, (known, _) in enumerate(self.trades) if known == trade_id)
                self.trades[index] = (trade_id, self.trades[index][1]._replace(deadline=deadline))

    def view(self, to: str, function: str, *args, returns: str):
        result = self.chains[0].call(to, function, *args, returns=returns)
        return to_checksum_address(result) if returns == "address" else result

    # --- rules -------------------------------------------------------------------------

    @rule(
        how=st.sampled_from(["lock"] * 4 + ["permit"]),
        seller=st.integers(0, 4),
        buyer_offset=st.integers(1, 4),
        token=st.integers(0, 4),
        amount=st.integers(1, 10**9),
        window=st.integers(MIN_WINDOW, 2 * 3600),
        edge=st.sampled_from([None] * 8 + LOCK_EDGES),
    )
    def lock(self, how, seller, buyer_offset, token, amount, window, edge):
        """A seller locks for a buyer, now and then with one edge value (`LOCK_EDGES`); or a
        seller who approved nothing locks with an EIP-2612 permit, good or not."""
        world = self.world
        buyer = world.traders[seller if edge == "self trade" else (seller + buyer_offset) % 5]
        seller, token = world.traders[seller], world.tokens[token]
        amount = {"zero amount": 0, "too much": FUNDING + 1}.get(edge, amount)
        window = {"short window": MIN_WINDOW - 1, "max window": MAX_WINDOW, "long window": MAX_WINDOW + 1}.get(edge, window)
        if edge == "used id" and self.trades:
            trade_id = self.trades[-1][0]
        elif edge == "zero id":
            trade_id = b"\0" * 32
        else:
            self.next_trade += 1
            trade_id = self.next_trade.to_bytes(32, "big")
        if how == "permit":
            seller, buyer = world.permit_seller, world.traders[1]
            permit_token = world.tokens[token if token in (0, 2) else 1]  # mostly TestToken; ETH and USDT refuse
            data = self.permit_lock(trade_id, buyer, permit_token, amount, window, edge)
            value = 0
        else:
            data = calldata("lock", trade_id, buyer, token, amount, window)
            value = (amount if token == ETH else 0) + (1 if edge == "wrong value" else 0)
        event(f"{how}: {'done' if self.send(seller, world.escrow, data, value, touched=trade_id) else 'refused'}")

    def permit_lock(self, trade_id, buyer, token, amount, window, edge) -> str:
        """`lock_with_permit` calldata; the permit is signed by someone else on the edge
        "wrong value" (only TestToken has `permit`: without it the lock needs an allowance the
        permit seller never gave)."""
        world = self.world
        signer = world.traders[0] if edge == "wrong value" else world.permit_seller
        deadline = self.now + 3600
        v, r, s = 27, b"\0" * 32, b"\0" * 32
        if token == world.tokens[1]:
            nonce = self.view(token, "nonces", signer, returns="uint256")
            payload = permit_typed_data("Test USD", CHAIN_ID, token, signer, world.escrow, amount, nonce, deadline)
            signed = Account.sign_typed_data(world.keys[signer], full_message=payload)
            v, r, s = signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
        return calldata("lock_with_permit", trade_id, buyer, token, amount, window, deadline, v, r, s)

    @precondition(lambda self: any(status in FITTING for status in self.statuses))
    @rule(pick=st.integers(0, 2**16), choice=st.integers(0, 2**16), relay=st.booleans(), param=st.integers(0, 2**32))
    def party_acts(self, pick, choice, relay, param):
        """The party an action belongs to takes one that fits an open trade's status, directly
        or relayed with a good signature; deadlines and the arbiter's share decide the rest."""
        open_trades = [(trade, status) for trade, status in zip(self.trades, self.statuses) if status in FITTING]
        (trade_id, deal), status = open_trades[pick % len(open_trades)]
        action = FITTING[status][choice % len(FITTING[status])]
        if relay and action in RELAYABLE:
            action += "_by_sig"
        param = deal.deadline + 1 + param % 7200 if action == "extend" else param % 10_001
        self.act(trade_id, deal, action, self.rightful(deal, action, choice), param, "good")

    @precondition(lambda self: self.trades)
    @rule(
        pick=st.integers(0, 2**16),
        action=st.sampled_from(ACTIONS + [f"{action}_by_sig" for action in RELAYABLE]),
        rightful=st.booleans(),
        anyone=st.integers(0, 10),
        tamper=st.sampled_from([None] * 3 + list(Deal._fields)),
        signature=st.sampled_from(BAD_SIGNATURES),
        param=st.integers(0, 2**32),
    )
    def anyone_tries(self, pick, action, rightful, anyone, tamper, signature, param):
        """Any action on any trade, by its party or anyone, with a deal changed in one field,
        a bad relay signature, a deadline anywhere, a share over 100%: whatever one contract
        refuses, the other must refuse with the same reason."""
        world = self.world
        trade_id, deal = self.trades[pick % len(self.trades)]
        actor = self.rightful(deal, action, param) if rightful else world.everyone[anyone]
        if tamper:
            deal = _tampered(deal, tamper, world)
        param = deal.deadline + param % (2 * MAX_WINDOW) - MAX_WINDOW // 4 if action == "extend" else param % 10_002
        self.act(trade_id, deal, action, actor, param, signature)

    @staticmethod
    def rightful(deal: Deal, action: str, choice: int) -> str:
        base = action.removesuffix("_by_sig")
        if base == "dispute":
            return deal.buyer if choice % 2 else deal.seller
        return {"mark_paid": deal.buyer, "cancel": deal.buyer, "resolve": deal.arbiter}.get(base, deal.seller)

    def act(self, trade_id: bytes, deal: Deal, action: str, actor: str, param: int, signature: str):
        world = self.world
        if action.endswith("_by_sig"):
            expiry, signed = self.signature(Action(RELAYABLE[action.removesuffix("_by_sig")]), signature, actor, trade_id)
            data, sender = calldata(action, trade_id, tuple(deal), expiry, signed), world.relayer
        else:
            extra = [param] if action in ("extend", "resolve") else []
            data, sender = calldata(action, trade_id, tuple(deal), *extra), actor
        event(f"{action}: {'done' if self.send(sender, world.escrow, data, touched=trade_id) else 'refused'}")

    def signature(self, action: Action, variant: str, signer: str, trade_id: bytes) -> tuple[int, bytes]:
        """(expiry, signature) of `action` by `signer` (a contract signs with its controller's
        key), made bad in the way `variant` says."""
        world = self.world
        expiry = self.now if variant == "expired" else self.now + 300
        key = world.keys[world.relayer] if variant == "other signer" else world.keys.get(signer, world.keys[world.controller])
        if variant == "other action":
            action = Action.CANCEL if action != Action.CANCEL else Action.RELEASE
        signed = bytes(Account.sign_message(action_message(action, trade_id, expiry, CHAIN_ID, world.escrow), key).signature)
        if variant == "high s":
            s = int.from_bytes(signed[32:64], "big")
            signed = signed[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signed[64]])
        elif variant == "bad v":  # ecrecover finds no signer
            signed = signed[:64] + bytes([signed[64] - 27])
        elif variant == "64 bytes":
            signed = signed[:64]
        elif variant == "twice":  # what the ERC-1271 wallet takes from a two-owner signature
            signed = signed + signed
        elif variant == "1025 bytes":
            signed = signed * 15 + signed[:50]
        return expiry, signed

    @precondition(lambda self: any(self.claimables.values()))
    @rule(pick=st.integers(0, 2**16), account=st.integers(0, 10), token=st.integers(0, 4),
          to=st.sampled_from(["self", "self", "self", "relayer", "zero", "default"]))  # fmt: skip
    def withdraw(self, pick, account, token, to):
        """Someone with something claimable takes it, to themselves or elsewhere; now and then
        someone else tries."""
        world = self.world
        if pick % 8:
            owed = [cell for cell, amount in self.claimables.items() if amount]
            token, account = owed[pick % len(owed)]
        else:
            account, token = world.everyone[account], world.tokens[token]
        if to == "default":
            data = calldata("withdraw_to_caller", token)
        else:
            data = calldata("withdraw", token, {"self": account, "relayer": world.relayer, "zero": ETH}[to])
        event(f"withdraw: {'done' if self.send(account, world.escrow, data) else 'refused'}")

    @rule(seconds=st.one_of(st.integers(1, 2 * 3600), st.integers(1, MAX_WINDOW)))
    def time_passes(self, seconds):
        self.now += seconds

    @rule(
        kind=st.sampled_from(["fee", "arbiter", "treasury", "pause", "unpause", "cap", "ownership", "blacklist", "quiet"]),
        value=st.integers(0, 101),
        by_owner=st.sampled_from([True] * 5 + [False]),
        someone=st.integers(0, 10),
    )
    def admin(self, kind, value, by_owner, someone):
        """The escrow's owner (or, refused, someone else) changes its settings or offers the
        ownership, which the one offered it (or, refused, someone else) accepts; the
        blacklisting token's owner (un)blacklists a trader or makes its transfers return false."""
        world = self.world
        owner = self.view(world.escrow, "owner", returns="address") if by_owner else world.everyone[someone]
        target, args = world.escrow, ()
        if kind == "fee":
            function, args = "set_fee_bps", (value,)
        elif kind in ("arbiter", "treasury"):
            candidates = world.arbiters if kind == "arbiter" else world.treasuries
            function, args = f"set_{kind}", (ETH if value == 0 else candidates[value % 2],)
        elif kind in ("pause", "unpause"):
            function = kind
        elif kind == "cap":
            function, args = "set_token_cap", (world.tokens[value % 5], [0, 10**6, 2**255][value % 3])
        elif kind == "ownership":
            new_owner = world.everyone[value % len(world.everyone)]
            self.send(owner, world.escrow, calldata("transfer_ownership", new_owner))
            owner, function = new_owner if by_owner else world.everyone[someone], "accept_ownership"
        elif kind == "blacklist":
            target, owner = world.tokens[4], world.owner
            function, args = "set_blacklisted", (world.traders[value % 5], value % 3 != 0)
        else:
            target, owner = world.tokens[4], world.owner
            function, args = "set_quiet", (value % 2 == 0,)
        event(f"{function}: {'done' if self.send(owner, target, calldata(function, *args)) else 'refused'}")

    # --- invariant -------------------------------------------------------------------------

    @invariant()
    def chains_agree(self):
        if not self.changed:
            return  # every transaction since the last comparison reverted on both chains
        world = self.world
        trade_ids = [trade_id for trade_id, _ in self.trades]
        call = {"to": world.inspector, "data": calldata("snapshot", world.escrow, world.tokens, world.checked, trade_ids)}
        results = self.on_both(lambda chain: bytes.fromhex(chain.rpc("eth_call", [call, "latest"])[2:]))
        snapshots = [abi_decode(["uint256[]", "uint256[]", "uint8[]"], result) for result in results]
        assert snapshots[0] == snapshots[1], "balances, claimables or statuses differ"
        balances, claimables, statuses = snapshots[0]
        cells = [(token, account) for token in world.tokens for account in world.checked]
        self.claimables = dict(zip(cells, claimables))
        self.statuses = [Status(status) for status in statuses]
        self.changed = False


def _logs(receipt: dict) -> list:
    return [(log["address"].lower(), log["topics"], log["data"]) for log in receipt["logs"]]


def _reason(revert_data: str) -> str:
    """The reason string of Error(string) revert data; the data itself otherwise."""
    if revert_data.startswith("0x08c379a0"):
        return abi_decode(["string"], bytes.fromhex(revert_data[10:]))[0]
    return revert_data[:10] if revert_data != "0x" else "no reason"


def _tampered(deal: Deal, field: str, world: World) -> Deal:
    value = getattr(deal, field)
    if isinstance(value, int):
        return deal._replace(**{field: value + 1})
    return deal._replace(**{field: world.relayer if value != world.relayer else world.owner})


def test_implementations__same_random_sequences__same_outcomes(twins):
    chains, world = twins
    with ThreadPoolExecutor(max_workers=len(chains)) as pool:
        TwinMachine.chains, TwinMachine.world, TwinMachine.pool = chains, world, pool
        run_state_machine_as_test(TwinMachine, settings=state_machine_settings(EXAMPLES, STEPS))
