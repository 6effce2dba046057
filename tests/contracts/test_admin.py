"""Owner functions, two-step ownership, pause, and the views."""

import ape
import pytest

from indexer.escrow import ETH, Status

from .conftest import CAP, FEE_BPS, new_trade_id

NOT_OWNER = "ownable: caller is not the owner"


def test_views__report_the_configuration(escrow, chain, owner, treasury, arbiter):
    assert escrow.owner() == owner.address
    assert escrow.fee_bps() == FEE_BPS
    assert escrow.treasury() == treasury.address
    assert escrow.arbiter() == arbiter.address
    assert escrow.paused() is False
    assert escrow.token_cap(ETH) == CAP
    assert (escrow.MAX_FEE_BPS(), escrow.MIN_WINDOW(), escrow.MAX_WINDOW()) == (100, 600, 604_800)
    fields, name, version, chain_id, contract, salt, extensions = escrow.eip712Domain()
    assert (fields, name, version, chain_id, contract) == (b"\x0f", "Orrange Escrow", "1", chain.chain_id, escrow.address)


@pytest.mark.parametrize(
    "args, reason",
    [
        ((101, "treasury", "arbiter"), "escrow: fee too high"),
        ((50, ETH, "arbiter"), "escrow: zero treasury"),
        ((50, "treasury", ETH), "escrow: zero arbiter"),
    ],
)
def test_deploy__bad_configuration__reverts(escrow_type, owner, treasury, arbiter, args, reason):
    resolved = [{"treasury": treasury, "arbiter": arbiter}.get(a, a) if isinstance(a, str) else a for a in args]
    with ape.reverts(reason):
        owner.deploy(escrow_type, *resolved)


def test_set_fee_bps__applies_to_new_deals_only(escrow, owner, seller, lock_deal):
    trade_id, old_deal, _ = lock_deal()
    receipt = escrow.set_fee_bps(100, sender=owner)
    assert escrow.fee_bps() == 100
    assert [e.fee_bps for e in receipt.events.filter(escrow.FeeBpsSet)] == [100]
    escrow.release(trade_id, old_deal, sender=seller)  # the old deal's fee still holds
    assert old_deal.fee == old_deal.amount * FEE_BPS // 10_000


def test_set_fee_bps__over_max__reverts(escrow, owner):
    with ape.reverts("escrow: fee too high"):
        escrow.set_fee_bps(101, sender=owner)


def test_set_arbiter__keeps_other_config(escrow, owner, stranger):
    escrow.pause(sender=owner)
    escrow.set_arbiter(stranger, sender=owner)
    assert (escrow.arbiter(), escrow.fee_bps(), escrow.paused()) == (stranger.address, FEE_BPS, True)
    escrow.set_fee_bps(7, sender=owner)
    assert (escrow.arbiter(), escrow.fee_bps(), escrow.paused()) == (stranger.address, 7, True)


@pytest.mark.parametrize("method", ["set_treasury", "set_arbiter"])
def test_set_address__zero__reverts(escrow, owner, method):
    with ape.reverts(f"escrow: zero {method.removeprefix('set_')}"):
        getattr(escrow, method)(ETH, sender=owner)


@pytest.mark.parametrize(
    "method, args",
    [
        ("set_fee_bps", (10,)),
        ("set_treasury", ("0x000000000000000000000000000000000000dEaD",)),
        ("set_arbiter", ("0x000000000000000000000000000000000000dEaD",)),
        ("set_token_cap", (ETH, 1)),
        ("pause", ()),
        ("unpause", ()),
        ("transfer_ownership", ("0x000000000000000000000000000000000000dEaD",)),
    ],
)
def test_admin__by_stranger__reverts(escrow, stranger, method, args):
    with ape.reverts(NOT_OWNER):
        getattr(escrow, method)(*args, sender=stranger)


def test_set_token_cap__zero__stops_new_locks_not_open_deals(escrow, owner, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.set_token_cap(ETH, 0, sender=owner)
    with ape.reverts("escrow: token not accepted"):
        escrow.lock(new_trade_id(), buyer, ETH, 1, 3600, sender=seller, value=1)
    escrow.release(trade_id, deal, sender=seller)
    assert escrow.status(trade_id) == Status.RELEASED


def test_pause__stops_locks_only(escrow, chain, owner, seller, buyer, arbiter, token, lock_deal):
    open_trades = [lock_deal() for _ in range(4)]
    receipt = escrow.pause(sender=owner)
    assert escrow.paused() is True
    assert [e.account for e in receipt.events.filter(escrow.Paused)] == [owner.address]
    with ape.reverts("escrow: paused"):
        escrow.lock(new_trade_id(), buyer, ETH, 1, 3600, sender=seller, value=1)
    with ape.reverts("escrow: paused"):
        escrow.lock(new_trade_id(), buyer, token, 1, 3600, sender=seller)
    (t1, d1, _), (t2, d2, _), (t3, d3, _), (t4, d4, _) = open_trades
    escrow.release(t1, d1, sender=seller)
    escrow.cancel(t2, d2, sender=buyer)
    escrow.mark_paid(t3, d3, sender=buyer)
    escrow.dispute(t3, d3, sender=buyer)
    escrow.resolve(t3, d3, 5_000, sender=arbiter)
    escrow.extend(t4, d4, d4.deadline + 60, sender=seller)
    chain.pending_timestamp = d4.deadline + 60
    escrow.refund(t4, d4._replace(deadline=d4.deadline + 60), sender=seller)
    escrow.unpause(sender=owner)
    lock_deal()


def test_pause__twice__reverts(escrow, owner):
    escrow.pause(sender=owner)
    with ape.reverts("escrow: paused"):
        escrow.pause(sender=owner)


def test_unpause__not_paused__reverts(escrow, owner):
    with ape.reverts("escrow: not paused"):
        escrow.unpause(sender=owner)


def test_ownership__two_steps(escrow, owner, stranger, treasury):
    escrow.transfer_ownership(stranger, sender=owner)
    assert escrow.owner() == owner.address and escrow.pending_owner() == stranger.address
    with ape.reverts("ownable_2step: caller is not the new owner"):
        escrow.accept_ownership(sender=treasury)
    escrow.accept_ownership(sender=stranger)
    assert escrow.owner() == stranger.address
    with ape.reverts(NOT_OWNER):
        escrow.pause(sender=owner)
    escrow.pause(sender=stranger)


def test_admin__cannot_move_escrowed_funds(escrow, owner, stranger, seller, token, lock_deal):
    lock_deal()
    lock_deal(token, 10**6)
    eth_before, token_before = escrow.balance, token.balanceOf(escrow)
    escrow.set_treasury(owner, sender=owner)
    escrow.set_arbiter(owner, sender=owner)
    escrow.set_token_cap(token, 0, sender=owner)
    escrow.pause(sender=owner)
    for asset in (ETH, token):
        with ape.reverts("escrow: nothing to withdraw"):
            escrow.withdraw(asset, sender=owner)
    assert (escrow.balance, token.balanceOf(escrow)) == (eth_before, token_before)
