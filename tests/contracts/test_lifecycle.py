"""Every escrow step after `lock`: its success path and each way it is refused."""

import ape
import pytest

from indexer.escrow import ETH, Status

from .conftest import FEE_BPS, WINDOW


@pytest.fixture(params=["eth", "token", "usdt"])
def asset(request):
    """The escrowed asset: native ETH, a standard ERC-20, or a USDT-style token."""
    return ETH if request.param == "eth" else request.getfixturevalue(request.param)


def amount_of(asset):
    return 10**18 if asset == ETH else 7_000_000


# --- mark_paid ---------------------------------------------------------------


def test_mark_paid__by_buyer__marks_paid(escrow, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    receipt = escrow.mark_paid(trade_id, deal, sender=buyer)
    assert escrow.status(trade_id) == Status.PAID
    assert [bytes(e.trade_id) for e in receipt.events.filter(escrow.Paid)] == [trade_id]


def test_mark_paid__by_seller__reverts(escrow, seller, lock_deal):
    trade_id, deal, _ = lock_deal()
    with ape.reverts("escrow: not buyer"):
        escrow.mark_paid(trade_id, deal, sender=seller)


def test_mark_paid__at_deadline__reverts(escrow, chain, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    chain.pending_timestamp = deal.deadline
    with ape.reverts("escrow: payment window over"):
        escrow.mark_paid(trade_id, deal, sender=buyer)


def test_mark_paid__twice__reverts(escrow, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    with ape.reverts("escrow: not locked"):
        escrow.mark_paid(trade_id, deal, sender=buyer)


def test_mark_paid__unknown_trade__reverts(escrow, buyer, lock_deal):
    _, deal, _ = lock_deal()
    with ape.reverts("escrow: unknown trade"):
        escrow.mark_paid(b"\x77" * 32, deal, sender=buyer)


# --- release -----------------------------------------------------------------


@pytest.mark.parametrize("paid_first", [False, True])
def test_release__pays_buyer_less_fee(escrow, asset, seller, buyer, treasury, lock_deal, balance_of, paid_first):
    trade_id, deal, _ = lock_deal(asset, amount_of(asset))
    if paid_first:
        escrow.mark_paid(trade_id, deal, sender=buyer)
    buyer_before = balance_of(asset, buyer)
    receipt = escrow.release(trade_id, deal, sender=seller)
    assert balance_of(asset, buyer) == buyer_before + deal.amount - deal.fee
    assert escrow.claimable(asset, treasury) == deal.fee == deal.amount * FEE_BPS // 10_000
    assert escrow.status(trade_id) == Status.RELEASED
    [event] = receipt.events.filter(escrow.Released)
    assert (event.buyer_amount, event.fee) == (deal.amount - deal.fee, deal.fee)


def test_release__by_buyer__reverts(escrow, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    with ape.reverts("escrow: not seller"):
        escrow.release(trade_id, deal, sender=buyer)


def test_release__after_deadline__still_releases(escrow, chain, seller, lock_deal):
    trade_id, deal, _ = lock_deal()
    chain.pending_timestamp = deal.deadline + 10 * WINDOW
    escrow.release(trade_id, deal, sender=seller)
    assert escrow.status(trade_id) == Status.RELEASED


def test_release__twice__reverts(escrow, seller, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.release(trade_id, deal, sender=seller)
    with ape.reverts("escrow: not open"):
        escrow.release(trade_id, deal, sender=seller)


# --- cancel ------------------------------------------------------------------


@pytest.mark.parametrize("paid_first", [False, True])
def test_cancel__returns_everything_to_seller(escrow, asset, seller, buyer, treasury, lock_deal, balance_of, paid_first):
    trade_id, deal, _ = lock_deal(asset, amount_of(asset))
    if paid_first:
        escrow.mark_paid(trade_id, deal, sender=buyer)
    seller_before = balance_of(asset, seller)
    receipt = escrow.cancel(trade_id, deal, sender=buyer)
    assert balance_of(asset, seller) == seller_before + deal.amount
    assert escrow.claimable(asset, treasury) == 0
    assert escrow.status(trade_id) == Status.REFUNDED
    [event] = receipt.events.filter(escrow.Refunded)
    assert event.amount == deal.amount


def test_cancel__by_seller__reverts(escrow, seller, lock_deal):
    trade_id, deal, _ = lock_deal()
    with ape.reverts("escrow: not buyer"):
        escrow.cancel(trade_id, deal, sender=seller)


def test_cancel__after_release__reverts(escrow, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.release(trade_id, deal, sender=seller)
    with ape.reverts("escrow: not open"):
        escrow.cancel(trade_id, deal, sender=buyer)


# --- refund ------------------------------------------------------------------


def test_refund__at_deadline__returns_to_seller(escrow, asset, chain, seller, lock_deal, balance_of):
    trade_id, deal, _ = lock_deal(asset, amount_of(asset))
    seller_before = balance_of(asset, seller)
    chain.pending_timestamp = deal.deadline
    receipt = escrow.refund(trade_id, deal, sender=seller)
    gas_cost = receipt.total_fees_paid if asset == ETH else 0
    assert balance_of(asset, seller) == seller_before + deal.amount - gas_cost
    assert escrow.status(trade_id) == Status.REFUNDED
    assert [e.amount for e in receipt.events.filter(escrow.Refunded)] == [deal.amount]


def test_refund__before_deadline__reverts(escrow, chain, seller, lock_deal):
    trade_id, deal, _ = lock_deal()
    chain.pending_timestamp = deal.deadline - 1
    with ape.reverts("escrow: payment window open"):
        escrow.refund(trade_id, deal, sender=seller)


def test_refund__after_paid__reverts(escrow, chain, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    chain.pending_timestamp = deal.deadline + 1
    with ape.reverts("escrow: not locked"):
        escrow.refund(trade_id, deal, sender=seller)


def test_refund__by_buyer__reverts(escrow, chain, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    chain.pending_timestamp = deal.deadline
    with ape.reverts("escrow: not seller"):
        escrow.refund(trade_id, deal, sender=buyer)


# --- extend ------------------------------------------------------------------


def test_extend__moves_deadline_and_the_deal(escrow, chain, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    new_deadline = deal.deadline + 3600
    receipt = escrow.extend(trade_id, deal, new_deadline, sender=seller)
    assert [e.deadline for e in receipt.events.filter(escrow.Extended)] == [new_deadline]
    extended = deal._replace(deadline=new_deadline)
    assert bytes(escrow.commitment(trade_id)) == extended.commitment(Status.LOCKED)
    with ape.reverts("escrow: wrong deal"):
        escrow.mark_paid(trade_id, deal, sender=buyer)
    chain.pending_timestamp = deal.deadline + 1  # past the old deadline, before the new
    escrow.mark_paid(trade_id, extended, sender=buyer)
    assert escrow.status(trade_id) == Status.PAID


def test_extend__after_deadline__revives_an_unpaid_escrow(escrow, chain, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    chain.pending_timestamp = deal.deadline + 100
    escrow.extend(trade_id, deal, deal.deadline + 1000, sender=seller)
    escrow.mark_paid(trade_id, deal._replace(deadline=deal.deadline + 1000), sender=buyer)


@pytest.mark.parametrize(
    "delta, reason", [(0, "escrow: deadline not later"), (-1, "escrow: deadline not later"), (604_801, "escrow: deadline too far")]
)
def test_extend__bad_deadline__reverts(escrow, chain, seller, lock_deal, delta, reason):
    trade_id, deal, _ = lock_deal()
    now = chain.pending_timestamp
    chain.pending_timestamp = now  # the block's time, even if the wall clock ticks before it is mined
    new_deadline = deal.deadline + delta if delta <= 0 else now + delta
    with ape.reverts(reason):
        escrow.extend(trade_id, deal, new_deadline, sender=seller)


def test_extend__by_buyer__reverts(escrow, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    with ape.reverts("escrow: not seller"):
        escrow.extend(trade_id, deal, deal.deadline + 1, sender=buyer)


def test_extend__after_paid__reverts(escrow, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    with ape.reverts("escrow: not locked"):
        escrow.extend(trade_id, deal, deal.deadline + 1, sender=seller)


# --- dispute -----------------------------------------------------------------


@pytest.mark.parametrize("party", ["seller", "buyer"])
def test_dispute__by_either_party__disputes(request, escrow, buyer, lock_deal, party):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    by = request.getfixturevalue(party)
    receipt = escrow.dispute(trade_id, deal, sender=by)
    assert escrow.status(trade_id) == Status.DISPUTED
    [event] = receipt.events.filter(escrow.Disputed)
    assert event.by == by.address


def test_dispute__before_paid__reverts(escrow, seller, lock_deal):
    trade_id, deal, _ = lock_deal()
    with ape.reverts("escrow: not paid"):
        escrow.dispute(trade_id, deal, sender=seller)


def test_dispute__by_stranger__reverts(escrow, buyer, stranger, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    with ape.reverts("escrow: not a party"):
        escrow.dispute(trade_id, deal, sender=stranger)


@pytest.mark.parametrize("action, by", [("release", "seller"), ("cancel", "buyer")])
def test_disputed__release_or_cancel__reverts(request, escrow, buyer, lock_deal, action, by):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    escrow.dispute(trade_id, deal, sender=buyer)
    with ape.reverts("escrow: not open"):
        getattr(escrow, action)(trade_id, deal, sender=request.getfixturevalue(by))


# --- resolve -----------------------------------------------------------------


@pytest.fixture
def disputed(escrow, buyer, lock_deal):
    def make(asset=ETH, amount=10**18):
        trade_id, deal, _ = lock_deal(asset, amount)
        escrow.mark_paid(trade_id, deal, sender=buyer)
        escrow.dispute(trade_id, deal, sender=buyer)
        return trade_id, deal

    return make


@pytest.mark.parametrize("buyer_bps", [0, 1, 3_333, 5_000, 9_999, 10_000])
def test_resolve__splits_without_dust(escrow, asset, arbiter, seller, buyer, treasury, disputed, balance_of, buyer_bps):
    trade_id, deal = disputed(asset, amount_of(asset) + 7)  # an amount that does not divide evenly
    seller_before, buyer_before = balance_of(asset, seller), balance_of(asset, buyer)
    escrow_before = balance_of(asset, escrow)
    receipt = escrow.resolve(trade_id, deal, buyer_bps, sender=arbiter)
    buyer_gross = deal.amount * buyer_bps // 10_000
    fee = deal.fee * buyer_bps // 10_000
    assert balance_of(asset, buyer) == buyer_before + buyer_gross - fee
    assert balance_of(asset, seller) == seller_before + deal.amount - buyer_gross
    assert escrow.claimable(asset, treasury) == fee
    assert balance_of(asset, escrow) == escrow_before - deal.amount + fee  # nothing left but the fee
    assert escrow.status(trade_id) == Status.RESOLVED
    [event] = receipt.events.filter(escrow.Resolved)
    assert (event.buyer_amount, event.seller_amount, event.fee) == (buyer_gross - fee, deal.amount - buyer_gross, fee)


def test_resolve__by_stranger__reverts(escrow, stranger, disputed):
    trade_id, deal = disputed()
    with ape.reverts("escrow: not arbiter"):
        escrow.resolve(trade_id, deal, 5_000, sender=stranger)


def test_resolve__by_new_arbiter__reverts(escrow, owner, stranger, arbiter, disputed):
    trade_id, deal = disputed()
    escrow.set_arbiter(stranger, sender=owner)
    with ape.reverts("escrow: not arbiter"):
        escrow.resolve(trade_id, deal, 5_000, sender=stranger)
    escrow.resolve(trade_id, deal, 5_000, sender=arbiter)  # the deal's own arbiter still can


def test_resolve__bps_over_10000__reverts(escrow, arbiter, disputed):
    trade_id, deal = disputed()
    with ape.reverts("escrow: bps over 10000"):
        escrow.resolve(trade_id, deal, 10_001, sender=arbiter)


def test_resolve__not_disputed__reverts(escrow, arbiter, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.mark_paid(trade_id, deal, sender=buyer)
    with ape.reverts("escrow: not disputed"):
        escrow.resolve(trade_id, deal, 5_000, sender=arbiter)


def test_resolve__twice__reverts(escrow, arbiter, disputed):
    trade_id, deal = disputed()
    escrow.resolve(trade_id, deal, 5_000, sender=arbiter)
    with ape.reverts("escrow: not disputed"):
        escrow.resolve(trade_id, deal, 5_000, sender=arbiter)


# --- terminal states are final -------------------------------------------------


@pytest.mark.parametrize("ending", ["release", "cancel", "refund", "resolve"])
def test_terminal_state__every_action__reverts(escrow, chain, seller, buyer, arbiter, lock_deal, ending):
    trade_id, deal, _ = lock_deal()
    if ending == "release":
        escrow.release(trade_id, deal, sender=seller)
    elif ending == "cancel":
        escrow.cancel(trade_id, deal, sender=buyer)
    elif ending == "refund":
        chain.pending_timestamp = deal.deadline
        escrow.refund(trade_id, deal, sender=seller)
    else:
        escrow.mark_paid(trade_id, deal, sender=buyer)
        escrow.dispute(trade_id, deal, sender=buyer)
        escrow.resolve(trade_id, deal, 5_000, sender=arbiter)
    final = escrow.status(trade_id)
    attempts = [
        (escrow.mark_paid, (trade_id, deal), buyer),
        (escrow.release, (trade_id, deal), seller),
        (escrow.cancel, (trade_id, deal), buyer),
        (escrow.refund, (trade_id, deal), seller),
        (escrow.extend, (trade_id, deal, deal.deadline + 1), seller),
        (escrow.dispute, (trade_id, deal), buyer),
        (escrow.resolve, (trade_id, deal, 5_000), arbiter),
    ]
    for method, args, sender in attempts:
        with ape.reverts():
            method(*args, sender=sender)
    assert escrow.status(trade_id) == final
