"""Property test: random sequences of every escrow action, across several traders and
tokens, run on anvil and compared with a model after every step.

After each step, on chain: for every token the escrow holds exactly its open deals plus
what is claimable; every balance and claimable amount is what the model says (so nobody's
balance moved without their own action, the counterparty's or the arbiter's); terminal
statuses never change; a refused action changed nothing.

It runs against each implementation, the Vyper escrow and its Solidity twin.
`ORRANGE_STATEFUL_EXAMPLES` sets the number of sequences for each (100 by default, so 200 in
all; 10000 for a long run) and `ORRANGE_STATEFUL_STEPS` their length.
"""

import os
from dataclasses import dataclass, field

from eth_abi import decode as abi_decode
from eth_account import Account
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from indexer.escrow import ETH, Action, Deal, Status, action_message
from tests.chain import Chain, calldata

from .conftest import state_machine_settings

EXAMPLES = int(os.environ.get("ORRANGE_STATEFUL_EXAMPLES", "100"))
STEPS = int(os.environ.get("ORRANGE_STATEFUL_STEPS", "40"))

MIN_WINDOW, MAX_WINDOW = 600, 604_800
FEE_TOKEN_BPS = 100  # FeeToken burns 1% of every transfer
FUNDING = 10**15
ACTIONS = ["mark_paid", "release", "cancel", "refund", "extend", "dispute", "resolve"]
RELAYED = {"mark_paid": Action.MARK_PAID, "release": Action.RELEASE, "cancel": Action.CANCEL}
OPEN = (Status.LOCKED, Status.PAID, Status.DISPUTED)

@dataclass
class World:
    """Addresses and keys of everything the machine drives (built once per test)."""

    chain: Chain
    chain_id: int
    escrow: str
    inspector: str
    owner: str
    traders: list  # EOAs, then the ETH-rejecting contract
    rejecter: str
    controller: str  # the EOA that drives the rejecter
    arbiters: list
    treasuries: list
    relayer: str  # also the sink for withdrawals an account can't take itself
    tokens: list  # ETH, standard, USDT-style, fee-on-transfer, blacklisting
    fee_token: str
    blacklist_token: str
    keys: dict  # address -> private key, for EOAs that sign relays
    checked: list = field(default_factory=list)  # every address whose balances are compared

    def rpc(self, method, params):
        return self.chain.rpc(method, params)


@dataclass
class Escrow:
    trade_id: bytes
    deal: Deal
    status: Status


class Model:
    """What the chain must look like: balances, claimables, fees and escrows."""

    def __init__(self, world: World, now: int):
        self.world = world
        self.now = now
        self.fee_bps, self.arbiter, self.treasury, self.paused = 50, world.arbiters[0], world.treasuries[0], False
        self.blacklisted: set[str] = set()
        self.escrows: list[Escrow] = []
        self.credited: dict[tuple[str, str], int] = {}
        self.fees: dict[str, int] = {}
        self.balances: dict[tuple[str, str], int] = {}

    # --- token behaviour -------------------------------------------------------

    def can_receive(self, token: str, account: str) -> bool:
        if token == ETH:
            return account != self.world.rejecter
        if token == self.world.blacklist_token:
            return account not in self.blacklisted
        return True

    def arriving(self, token: str, amount: int) -> int:
        return amount - amount * FEE_TOKEN_BPS // 10_000 if token == self.world.fee_token else amount

    def move(self, token: str, source: str, to: str, amount: int):
        self.balances[token, source] -= amount
        self.balances[token, to] += self.arriving(token, amount)

    def pay(self, token: str, to: str, amount: int):
        """The escrow's `_pay`: send it, or credit it when `to` can't take it."""
        if amount == 0:
            return
        if self.can_receive(token, to):
            self.move(token, self.world.escrow, to, amount)
        else:
            self.credited[token, to] = self.credited.get((token, to), 0) + amount

    def claimable(self, token: str, account: str) -> int:
        fees = self.fees.get(token, 0) if account == self.treasury else 0
        return self.credited.get((token, account), 0) + fees

    # --- escrow rules -----------------------------------------------------------

    def lock_refusal(self, seller, buyer, token, amount, window) -> str | None:
        """Why the contract must refuse this lock, or None if it must take it."""
        payer = self.world.controller if (seller == self.world.rejecter and token == ETH) else seller
        reasons = {
            "paused": self.paused,
            "buyer is seller": seller == buyer,
            "zero amount": amount == 0,
            "window": not MIN_WINDOW <= window <= MAX_WINDOW,
            "balance": self.balances[token, payer] < amount,
            "blacklisted": token == self.world.blacklist_token and seller in self.blacklisted,
        }
        return next((reason for reason, refused in reasons.items() if refused), None)

    def allowed(self, action: str, escrow: Escrow, actor: str, param: int) -> bool:
        deal, status = escrow.deal, escrow.status
        return {
            "mark_paid": actor == deal.buyer and status == Status.LOCKED and self.now < deal.deadline,
            "release": actor == deal.seller and status in (Status.LOCKED, Status.PAID),
            "cancel": actor == deal.buyer and status in (Status.LOCKED, Status.PAID),
            "refund": actor == deal.seller and status == Status.LOCKED and self.now >= deal.deadline,
            "extend": actor == deal.seller
            and status == Status.LOCKED
            and deal.deadline < param <= self.now + MAX_WINDOW,
            "dispute": actor in (deal.buyer, deal.seller) and status == Status.PAID,
            "resolve": actor == deal.arbiter and status == Status.DISPUTED and param <= 10_000,
        }[action]

    def apply(self, action: str, escrow: Escrow, param: int):
        deal = escrow.deal
        if action == "mark_paid":
            escrow.status = Status.PAID
        elif action == "release":
            escrow.status = Status.RELEASED
            self.fees[deal.token] = self.fees.get(deal.token, 0) + deal.fee
            self.pay(deal.token, deal.buyer, deal.amount - deal.fee)
        elif action in ("cancel", "refund"):
            escrow.status = Status.REFUNDED
            self.pay(deal.token, deal.seller, deal.amount)
        elif action == "extend":
            escrow.deal = deal._replace(deadline=param)
        elif action == "dispute":
            escrow.status = Status.DISPUTED
        elif action == "resolve":
            escrow.status = Status.RESOLVED
            buyer_gross, fee = deal.amount * param // 10_000, deal.fee * param // 10_000
            self.fees[deal.token] = self.fees.get(deal.token, 0) + fee
            self.pay(deal.token, deal.buyer, buyer_gross - fee)
            self.pay(deal.token, deal.seller, deal.amount - buyer_gross)


def build_world(escrow_type, project, accounts, chain) -> World:
    owner, t1, t2, arbiter1, treasury1, arbiter2, t3, controller, relayer, treasury2 = accounts[:10]
    escrow = owner.deploy(escrow_type, 50, treasury1, arbiter1)
    inspector = owner.deploy(project.Inspector)
    rejecter = controller.deploy(project.EthRejecter)
    erc20s = [
        owner.deploy(project.TestToken, "Test USD", "tUSD", 6),
        owner.deploy(project.UsdtToken),
        owner.deploy(project.FeeToken),
        owner.deploy(project.BlacklistToken),
    ]
    escrow.set_token_cap(ETH, 2**255, sender=owner)
    for token in erc20s:
        escrow.set_token_cap(token, 2**255, sender=owner)
        for trader in (t1, t2, t3, rejecter):
            token.mint(trader, FUNDING, sender=owner)
        for trader in (t1, t2, t3):
            token.approve(escrow, 2**256 - 1, sender=trader)
        approve = token.approve.encode_input(escrow, 2**256 - 1)
        rejecter.execute(token, approve, 0, sender=controller)

    eoas = [t1, t2, t3, arbiter1, arbiter2, treasury1, treasury2, relayer, owner, controller]
    world = World(
        chain=Chain(chain.provider.web3.provider.endpoint_uri),
        chain_id=chain.chain_id,
        escrow=escrow.address,
        inspector=inspector.address,
        owner=owner.address,
        traders=[t1.address, t2.address, t3.address, rejecter.address],
        rejecter=rejecter.address,
        controller=controller.address,
        arbiters=[arbiter1.address, arbiter2.address],
        treasuries=[treasury1.address, treasury2.address],
        relayer=relayer.address,
        tokens=[ETH] + [t.address for t in erc20s],
        fee_token=erc20s[2].address,
        blacklist_token=erc20s[3].address,
        keys={a.address: a.private_key for a in eoas},
    )
    world.checked = [a.address for a in eoas] + [rejecter.address, escrow.address]
    return world


class EscrowMachine(RuleBasedStateMachine):
    world: World  # set by the test before the machine runs

    def __init__(self):
        super().__init__()
        world = self.world
        self.snapshot_id = world.rpc("evm_snapshot", [])
        self.model = Model(world, world.chain.timestamp() + 1)
        balances, _, _ = self.read_chain([])
        for (token, account), amount in balances.items():
            self.model.balances[token, account] = amount
        self.next_trade = 0

    def teardown(self):
        self.world.rpc("evm_revert", [self.snapshot_id])

    # --- talking to the chain ---------------------------------------------------

    def send(self, sender: str, to: str, data: str, value: int = 0) -> bool:
        world = self.world
        if sender == world.rejecter:  # the contract trader acts through its controller
            data = calldata("execute", to, bytes.fromhex(data[2:]), value)
            sender, to = world.controller, world.rejecter
        world.rpc("evm_setNextBlockTimestamp", [self.model.now])
        receipt = world.chain.send(sender, to, data, value)
        self.model.now += 1
        return receipt["status"] == "0x1"

    def read_chain(self, trade_ids: list[bytes]):
        world = self.world
        call = {"to": world.inspector, "data": calldata("snapshot", world.escrow, world.tokens, world.checked, trade_ids)}
        result = bytes.fromhex(world.rpc("eth_call", [call, "latest"])[2:])
        balances, claimables, statuses = abi_decode(["uint256[]", "uint256[]", "uint8[]"], result)
        cells = [(token, account) for token in world.tokens for account in world.checked]
        return dict(zip(cells, balances)), dict(zip(cells, claimables)), statuses

    # --- rules --------------------------------------------------------------------

    @rule(
        seller=st.integers(0, 3),
        buyer_offset=st.integers(1, 3),
        token=st.integers(0, 4),
        amount=st.integers(1, 10**9),
        window=st.one_of(st.integers(MIN_WINDOW, 2 * 3600), st.integers(MIN_WINDOW, MAX_WINDOW)),
        edge=st.integers(0, 4),
        edge_buyer=st.integers(0, 3),
        edge_amount=st.sampled_from([0, 1, FUNDING + 1]),
        edge_window=st.sampled_from([0, MIN_WINDOW - 1, MIN_WINDOW, MAX_WINDOW, MAX_WINDOW + 1]),
    )
    def lock(self, seller, buyer_offset, token, amount, window, edge, edge_buyer, edge_amount, edge_window):
        """A seller locks for a buyer; one time in five with edge values (self-trade, zero,
        more than the seller has, windows at and beyond their bounds)."""
        if edge:
            self.try_lock(seller, (seller + buyer_offset) % 4, token, amount, window)
        else:
            self.try_lock(seller, edge_buyer, token, edge_amount, edge_window)

    def try_lock(self, seller, buyer, token, amount, window):
        world, model = self.world, self.model
        seller, buyer, token = world.traders[seller], world.traders[buyer], world.tokens[token]
        self.next_trade += 1
        trade_id = self.next_trade.to_bytes(32, "big")
        refusal = model.lock_refusal(seller, buyer, token, amount, window)
        value = amount if token == ETH else 0
        data = calldata("lock", trade_id, buyer, token, amount, window)
        assert self.send(seller, world.escrow, data, value) == (refusal is None)
        event(f"lock: {'refused, ' + refusal if refusal else 'done'}")
        if refusal:
            return
        arrives = model.arriving(token, amount)
        payer = world.controller if (seller == world.rejecter and token == ETH) else seller
        model.balances[token, payer] -= amount
        model.balances[token, world.escrow] += arrives
        deal = Deal(seller, buyer, token, arrives, arrives * model.fee_bps // 10_000, model.arbiter, model.now - 1 + window)
        model.escrows.append(Escrow(trade_id, deal, Status.LOCKED))

    @precondition(lambda self: self.open_escrows(Status.LOCKED))
    @rule(pick=st.integers(0, 2**32), choice=st.integers(0, 2**32), relay=st.booleans(), param=st.integers(0, 2**32))
    def party_acts_on_locked(self, pick, choice, relay, param):
        """Buyer marks paid or cancels, seller releases, refunds or extends: done unless a
        deadline says otherwise."""
        escrow = self.pick(Status.LOCKED, pick)
        action = ["mark_paid", "mark_paid", "release", "cancel", "refund", "extend"][choice % 6]
        actor = escrow.deal.buyer if action in ("mark_paid", "cancel") else escrow.deal.seller
        if action == "extend":  # a later deadline within reach, mostly
            param = escrow.deal.deadline + 1 + param % 7200
        self.act(escrow, action, actor, relay, param)

    @precondition(lambda self: self.open_escrows(Status.PAID))
    @rule(pick=st.integers(0, 2**32), choice=st.integers(0, 2**32), relay=st.booleans())
    def party_acts_on_paid(self, pick, choice, relay):
        """Seller releases, buyer cancels, either disputes; and what a paid escrow refuses:
        a refund (even after the deadline), another mark-paid, an extension."""
        escrow = self.pick(Status.PAID, pick)
        deal = escrow.deal
        action, actor = [
            ("release", deal.seller),
            ("cancel", deal.buyer),
            ("dispute", deal.buyer),
            ("dispute", deal.seller),
            ("refund", deal.seller),
            ("mark_paid", deal.buyer),
            ("extend", deal.seller),
        ][choice % 7]
        self.act(escrow, action, actor, relay, deal.deadline + 60)

    @precondition(lambda self: self.open_escrows(Status.DISPUTED))
    @rule(pick=st.integers(0, 2**32), buyer_bps=st.one_of(st.integers(0, 10_000), st.sampled_from([0, 10_000, 10_001])))
    def arbiter_resolves(self, pick, buyer_bps):
        escrow = self.pick(Status.DISPUTED, pick)
        self.act(escrow, "resolve", escrow.deal.arbiter, False, buyer_bps)

    def open_escrows(self, status: Status) -> list[Escrow]:
        return [e for e in self.model.escrows if e.status == status]

    def pick(self, status: Status, index: int) -> Escrow:
        candidates = self.open_escrows(status)
        return candidates[index % len(candidates)]

    @precondition(lambda self: self.model.escrows)
    @rule(
        pick=st.integers(0, 2**32),
        action=st.sampled_from(ACTIONS),
        actor=st.integers(0, 8),
        relay=st.booleans(),
        param=st.integers(0, 2**32),
    )
    def act_as_anyone(self, pick, action, actor, relay, param):
        """Any action by anyone: whatever the model refuses, the contract must refuse too."""
        world = self.world
        everyone = world.traders + world.arbiters + world.treasuries + [world.relayer]
        escrow = self.model.escrows[pick % len(self.model.escrows)]
        if action == "extend":  # any deadline, earlier ones and ones too far out included
            param = escrow.deal.deadline + param % (2 * MAX_WINDOW) - MAX_WINDOW // 4
        elif action == "resolve":
            param %= 10_002
        self.act(escrow, action, everyone[actor], relay, param)

    def act(self, escrow: Escrow, action: str, actor: str, relay: bool, param: int):
        world, model = self.world, self.model
        deal = escrow.deal
        allowed = model.allowed(action, escrow, actor, param)
        args = [escrow.trade_id, tuple(deal)] + ([param] if action in ("extend", "resolve") else [])
        relayed = relay and action in RELAYED and actor in world.keys
        if relayed:
            expiry = model.now + 300
            message = action_message(RELAYED[action], escrow.trade_id, expiry, world.chain_id, world.escrow)
            signed = Account.sign_message(message, world.keys[actor])
            data = calldata(f"{action}_by_sig", *args, expiry, bytes(signed.signature))
            sender = world.relayer
        else:
            data = calldata(action, *args)
            sender = actor
        assert self.send(sender, world.escrow, data) == allowed, (action, escrow, actor, param)
        event(f"{action}{' by sig' if relayed else ''}: {'done' if allowed else 'refused'}")
        if allowed:
            model.apply(action, escrow, param)

    @rule(account=st.integers(0, 9), token=st.integers(0, 4))
    def withdraw(self, account, token):
        world, model = self.world, self.model
        account = (world.traders + world.arbiters + world.treasuries + [world.relayer, world.controller])[account]
        token = world.tokens[token]
        amount = model.claimable(token, account)
        to = account if model.can_receive(token, account) else world.relayer
        assert self.send(account, world.escrow, calldata("withdraw", token, to)) == (amount > 0)
        if amount:
            model.credited[token, account] = 0
            if account == model.treasury:
                model.fees[token] = 0
            model.move(token, world.escrow, to, amount)

    @rule(seconds=st.one_of(st.integers(1, 2 * 3600), st.integers(1, MAX_WINDOW)))
    def time_passes(self, seconds):
        self.model.now += seconds

    @rule(kind=st.sampled_from(["fee", "arbiter", "treasury", "pause", "blacklist"]), value=st.integers(0, 101))
    def admin(self, kind, value):
        """Owner changes: they apply to new deals only; a pause refuses locks until lifted.
        The blacklisting token's owner (un)blacklists a trader."""
        world, model = self.world, self.model
        escrow = world.escrow
        if kind == "fee":
            ok = self.send(world.owner, escrow, calldata("set_fee_bps", value))
            assert ok == (value <= 100)
            model.fee_bps = value if ok else model.fee_bps
        elif kind == "arbiter":
            model.arbiter = world.arbiters[value % 2]
            assert self.send(world.owner, escrow, calldata("set_arbiter", model.arbiter))
        elif kind == "treasury":
            model.treasury = world.treasuries[value % 2]
            assert self.send(world.owner, escrow, calldata("set_treasury", model.treasury))
        elif kind == "blacklist":
            account, flag = world.traders[value % 4], value % 3 != 0
            assert self.send(world.owner, world.blacklist_token, calldata("set_blacklisted", account, flag))
            (model.blacklisted.add if flag else model.blacklisted.discard)(account)
        else:
            assert self.send(world.owner, escrow, calldata("pause"))
            model.paused = True
            self.try_lock(0, 1, value % len(world.tokens), 1_000, MIN_WINDOW)
            assert self.send(world.owner, escrow, calldata("unpause"))
            model.paused = False

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def chain_matches_model(self):
        world, model = self.world, self.model
        balances, claimables, statuses = self.read_chain([e.trade_id for e in model.escrows])
        for token in world.tokens:
            open_deals = sum(e.deal.amount for e in model.escrows if e.deal.token == token and e.status in OPEN)
            claimable = sum(claimables[token, account] for account in world.checked)
            assert balances[token, world.escrow] == open_deals + claimable, token
        expected_balances = {cell: model.balances[cell] for cell in balances}
        assert balances == expected_balances
        assert claimables == {(t, a): model.claimable(t, a) for (t, a) in claimables}
        assert [Status(s) for s in statuses] == [e.status for e in model.escrows]


def test_escrow__random_sequences__keep_every_invariant(escrow_type, project, accounts, chain):
    EscrowMachine.world = build_world(escrow_type, project, accounts, chain)
    run_state_machine_as_test(EscrowMachine, settings=state_machine_settings(EXAMPLES, STEPS))
