import ape
import pytest

from eth_account import Account

from indexer.escrow import ETH, Deal, Status, permit_typed_data

from .conftest import CAP, FEE_BPS, WINDOW, new_trade_id


def test_lock__eth__holds_the_deal(escrow, chain, seller, buyer, arbiter, lock_deal):
    before = escrow.balance
    trade_id, deal, receipt = lock_deal(ETH, 10**18)
    assert deal == Deal(
        seller=seller.address,
        buyer=buyer.address,
        token=ETH,
        amount=10**18,
        fee=10**18 * FEE_BPS // 10_000,
        arbiter=arbiter.address,
        deadline=receipt.timestamp + WINDOW,
    )
    assert escrow.balance == before + 10**18
    assert escrow.status(trade_id) == Status.LOCKED
    assert bytes(escrow.commitment(trade_id)) == deal.commitment(Status.LOCKED)


@pytest.mark.parametrize("kind", ["token", "usdt"])
def test_lock__erc20__pulls_the_amount(request, escrow, seller, lock_deal, balance_of, kind):
    token = request.getfixturevalue(kind)
    seller_before = balance_of(token, seller)
    trade_id, deal, _ = lock_deal(token, 5_000_000)
    assert deal.amount == 5_000_000 and deal.token == token.address
    assert balance_of(token, seller) == seller_before - 5_000_000
    assert balance_of(token, escrow) == 5_000_000
    assert escrow.status(trade_id) == Status.LOCKED


def test_lock__fee_on_transfer_token__holds_what_arrived(escrow, fee_token, lock_deal):
    _, deal, _ = lock_deal(fee_token, 10**18)
    assert deal.amount == 10**18 * 99 // 100
    assert deal.fee == deal.amount * FEE_BPS // 10_000
    assert fee_token.balanceOf(escrow) == deal.amount


def test_lock__emits_every_deal_field(escrow, lock_deal):
    trade_id, deal, receipt = lock_deal()
    [event] = receipt.events.filter(escrow.Locked)
    assert bytes(event.trade_id) == trade_id
    assert Deal.from_event(event.event_arguments) == deal


def test_lock__fee_arbiter_and_window_are_snapshotted(escrow, owner, stranger, lock_deal, chain):
    escrow.set_fee_bps(100, sender=owner)
    escrow.set_arbiter(stranger, sender=owner)
    _, deal, receipt = lock_deal(ETH, 10**18, window=600)
    assert deal.fee == 10**18 // 100
    assert deal.arbiter == stranger.address
    assert deal.deadline == receipt.timestamp + 600


def test_lock_with_permit__locks_without_approval(escrow, project, owner, seller, buyer, chain):
    token = owner.deploy(project.TestToken, "Permit USD", "pUSD", 6)
    token.mint(seller, 10**9, sender=owner)
    escrow.set_token_cap(token, CAP, sender=owner)
    v, r, s, deadline = _permit(token, seller, escrow, 10**9, chain)
    trade_id = new_trade_id()
    escrow.lock_with_permit(trade_id, buyer, token, 10**9, WINDOW, deadline, v, r, s, sender=seller)
    assert token.balanceOf(escrow) == 10**9
    assert escrow.status(trade_id) == Status.LOCKED


def test_lock_with_permit__permit_already_used__still_locks(escrow, project, owner, seller, buyer, stranger, chain):
    token = owner.deploy(project.TestToken, "Permit USD", "pUSD", 6)
    token.mint(seller, 10**9, sender=owner)
    escrow.set_token_cap(token, CAP, sender=owner)
    v, r, s, deadline = _permit(token, seller, escrow, 10**9, chain)
    token.permit(seller, escrow, 10**9, deadline, v, r, s, sender=stranger)  # front-run
    trade_id = new_trade_id()
    escrow.lock_with_permit(trade_id, buyer, token, 10**9, WINDOW, deadline, v, r, s, sender=seller)
    assert escrow.status(trade_id) == Status.LOCKED


def test_lock_with_permit__bad_permit__reverts(escrow, project, owner, seller, buyer, stranger, chain):
    token = owner.deploy(project.TestToken, "Permit USD", "pUSD", 6)
    token.mint(seller, 10**9, sender=owner)
    escrow.set_token_cap(token, CAP, sender=owner)
    v, r, s, deadline = _permit(token, stranger, escrow, 10**9, chain)  # signed by the wrong owner
    with ape.reverts("escrow: permit failed"):
        escrow.lock_with_permit(new_trade_id(), buyer, token, 10**9, WINDOW, deadline, v, r, s, sender=seller)


def test_lock_with_permit__eth__reverts(escrow, seller, buyer):
    with ape.reverts("escrow: permit needs a token"):
        escrow.lock_with_permit(new_trade_id(), buyer, ETH, 1, WINDOW, 0, 27, b"\0" * 32, b"\0" * 32, sender=seller)


def _permit(token, holder, spender, amount, chain):
    deadline = chain.pending_timestamp + 3600
    payload = permit_typed_data(
        token.name(), chain.chain_id, token.address, holder.address, spender.address, amount, token.nonces(holder), deadline
    )
    signed = Account.sign_typed_data(holder.private_key, full_message=payload)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"), deadline


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"trade_id": b"\0" * 32}, "escrow: zero trade id"),
        ({"buyer": ETH}, "escrow: zero buyer"),
        ({"buyer": "seller"}, "escrow: buyer is seller"),
        ({"amount": 0, "value": 0}, "escrow: zero amount"),
        ({"amount": CAP + 1, "value": CAP + 1}, "escrow: amount over cap"),
        ({"window": 599}, "escrow: window too short"),
        ({"window": 604_801}, "escrow: window too long"),
        ({"value": 10**18 - 1}, "escrow: wrong value"),
    ],
)
def test_lock__bad_input__reverts(escrow, seller, buyer, change, reason):
    args = {"trade_id": new_trade_id(), "buyer": buyer, "amount": 10**18, "window": WINDOW, "value": 10**18}
    args.update(change)
    if args["buyer"] == "seller":
        args["buyer"] = seller
    if args["amount"] > CAP:
        seller.balance += args["value"]
    with ape.reverts(reason):
        escrow.lock(args["trade_id"], args["buyer"], ETH, args["amount"], args["window"], sender=seller, value=args["value"])


def test_lock__used_trade_id__reverts(escrow, seller, buyer, lock_deal):
    trade_id, _, _ = lock_deal()
    with ape.reverts("escrow: trade id used"):
        escrow.lock(trade_id, buyer, ETH, 10**18, WINDOW, sender=seller, value=10**18)


def test_lock__trade_id_of_a_finished_trade__reverts(escrow, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.release(trade_id, deal, sender=seller)
    with ape.reverts("escrow: trade id used"):
        escrow.lock(trade_id, buyer, ETH, 10**18, WINDOW, sender=seller, value=10**18)


def test_lock__token_not_accepted__reverts(escrow, project, owner, seller, buyer):
    unlisted = owner.deploy(project.TestToken, "Unlisted", "UNL", 18)
    with ape.reverts("escrow: token not accepted"):
        escrow.lock(new_trade_id(), buyer, unlisted, 1, WINDOW, sender=seller)


def test_lock__token_with_value__reverts(escrow, token, seller, buyer):
    with ape.reverts("escrow: value with token"):
        escrow.lock(new_trade_id(), buyer, token, 1, WINDOW, sender=seller, value=1)


def test_lock__without_allowance__reverts_and_changes_nothing(escrow, token, stranger, buyer):
    trade_id = new_trade_id()
    with ape.reverts():
        escrow.lock(trade_id, buyer, token, 1, WINDOW, sender=stranger)
    assert escrow.status(trade_id) == Status.NONE


def test_lock__token_that_moves_nothing__reverts(escrow, fee_token, owner, seller, buyer):
    fee_token.set_transfer_fee_bps(10_000, sender=owner)  # burns all of it
    with ape.reverts("escrow: nothing received"):
        escrow.lock(new_trade_id(), buyer, fee_token, 10**18, WINDOW, sender=seller)


def test_lock__token_returns_false__reverts(escrow, blacklist_token, owner, seller, buyer):
    blacklist_token.set_quiet(True, sender=owner)
    blacklist_token.set_blacklisted(seller, True, sender=owner)
    trade_id = new_trade_id()
    with ape.reverts("escrow: transfer failed"):
        escrow.lock(trade_id, buyer, blacklist_token, 10**6, WINDOW, sender=seller)
    assert escrow.status(trade_id) == Status.NONE


def test_lock__paused__reverts(escrow, owner, seller, buyer):
    escrow.pause(sender=owner)
    with ape.reverts("escrow: paused"):
        escrow.lock(new_trade_id(), buyer, ETH, 10**18, WINDOW, sender=seller, value=10**18)
