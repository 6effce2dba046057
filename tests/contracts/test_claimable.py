"""Payouts a recipient can't take are credited to `claimable`; the other party is still paid."""

import ape
import pytest

from indexer.escrow import ETH, Deal, Status

from .conftest import new_trade_id


def credited(receipt, escrow):
    return [(e.token, e.account, e.amount) for e in receipt.events.filter(escrow.Credited)]


def test_release__blacklisted_buyer__credits_buyer(escrow, blacklist_token, owner, seller, buyer, stranger, lock_deal):
    trade_id, deal, _ = lock_deal(blacklist_token, 10**6)
    blacklist_token.set_blacklisted(buyer, True, sender=owner)
    receipt = escrow.release(trade_id, deal, sender=seller)
    due = deal.amount - deal.fee
    assert escrow.status(trade_id) == Status.RELEASED
    assert credited(receipt, escrow) == [(blacklist_token.address, buyer.address, due)]
    assert escrow.claimable(blacklist_token, buyer) == due
    # Still blacklisted: the buyer sends it elsewhere.
    receipt = escrow.withdraw(blacklist_token, stranger, sender=buyer)
    assert blacklist_token.balanceOf(stranger) == due
    assert escrow.claimable(blacklist_token, buyer) == 0
    assert [(e.account, e.amount) for e in receipt.events.filter(escrow.Withdrawn)] == [(buyer.address, due)]


def test_release__token_returns_false__credits_buyer(escrow, blacklist_token, owner, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal(blacklist_token, 10**6)
    blacklist_token.set_quiet(True, sender=owner)
    blacklist_token.set_blacklisted(buyer, True, sender=owner)
    receipt = escrow.release(trade_id, deal, sender=seller)
    assert credited(receipt, escrow) == [(blacklist_token.address, buyer.address, deal.amount - deal.fee)]


def test_cancel__blacklisted_seller__credits_seller(escrow, blacklist_token, owner, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal(blacklist_token, 10**6)
    blacklist_token.set_blacklisted(seller, True, sender=owner)
    escrow.cancel(trade_id, deal, sender=buyer)
    assert escrow.claimable(blacklist_token, seller) == deal.amount
    blacklist_token.set_blacklisted(seller, False, sender=owner)
    before = blacklist_token.balanceOf(seller)
    escrow.withdraw(blacklist_token, sender=seller)
    assert blacklist_token.balanceOf(seller) == before + deal.amount


def test_resolve__blacklisted_buyer__seller_still_paid(escrow, blacklist_token, owner, seller, buyer, arbiter, lock_deal):
    trade_id, deal, _ = lock_deal(blacklist_token, 10**6)
    escrow.mark_paid(trade_id, deal, sender=buyer)
    escrow.dispute(trade_id, deal, sender=seller)
    blacklist_token.set_blacklisted(buyer, True, sender=owner)
    seller_before = blacklist_token.balanceOf(seller)
    escrow.resolve(trade_id, deal, 4_000, sender=arbiter)
    buyer_gross = deal.amount * 4_000 // 10_000
    assert blacklist_token.balanceOf(seller) == seller_before + deal.amount - buyer_gross
    assert escrow.claimable(blacklist_token, buyer) == buyer_gross - deal.fee * 4_000 // 10_000


@pytest.fixture
def rejecter(project, accounts, owner):
    controller = accounts.generate_test_account()
    owner.transfer(controller, 10**20)
    return controller.deploy(project.EthRejecter), controller


def test_release__eth_rejecting_buyer__credits_buyer(escrow, seller, stranger, rejecter, lock_deal):
    contract, controller = rejecter
    trade_id, deal, _ = lock_deal(to=contract)
    receipt = escrow.release(trade_id, deal, sender=seller)
    assert credited(receipt, escrow) == [(ETH, contract.address, deal.amount - deal.fee)]
    with ape.reverts("escrow: transfer failed"):
        contract.execute(escrow, escrow.withdraw.encode_input(ETH), 0, sender=controller)
    before = stranger.balance
    contract.execute(escrow, escrow.withdraw.encode_input(ETH, stranger), 0, sender=controller)
    assert stranger.balance == before + deal.amount - deal.fee


def test_cancel__eth_rejecting_seller__credits_seller(escrow, buyer, rejecter):
    contract, controller = rejecter
    trade_id = new_trade_id()
    data = escrow.lock.encode_input(trade_id, buyer, ETH, 10**18, 3600)
    receipt = contract.execute(escrow, data, 10**18, sender=controller, value=10**18)
    [event] = receipt.events.filter(escrow.Locked)
    deal = Deal.from_event(event.event_arguments)
    escrow.cancel(trade_id, deal, sender=buyer)
    assert escrow.status(trade_id) == Status.REFUNDED
    assert escrow.claimable(ETH, contract) == 10**18


def test_withdraw__nothing__reverts(escrow, stranger):
    with ape.reverts("escrow: nothing to withdraw"):
        escrow.withdraw(ETH, sender=stranger)


def test_withdraw__to_zero_address__reverts(escrow, seller, treasury, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.release(trade_id, deal, sender=seller)
    with ape.reverts("escrow: zero recipient"):
        escrow.withdraw(ETH, ETH, sender=treasury)
    assert escrow.claimable(ETH, treasury) == deal.fee


def test_withdraw__twice__pays_once(escrow, blacklist_token, owner, seller, buyer, lock_deal):
    trade_id, deal, _ = lock_deal(blacklist_token, 10**6)
    blacklist_token.set_blacklisted(buyer, True, sender=owner)
    escrow.release(trade_id, deal, sender=seller)
    blacklist_token.set_blacklisted(buyer, False, sender=owner)
    escrow.withdraw(blacklist_token, sender=buyer)
    with ape.reverts("escrow: nothing to withdraw"):
        escrow.withdraw(blacklist_token, sender=buyer)


# --- fees ----------------------------------------------------------------------


def test_fees__accrue_to_treasury_and_withdraw(escrow, token, seller, treasury, lock_deal):
    fees = 0
    for amount in (10**6, 3 * 10**6 + 1):
        trade_id, deal, _ = lock_deal(token, amount)
        escrow.release(trade_id, deal, sender=seller)
        fees += deal.fee
    assert escrow.accrued_fees(token) == fees
    assert escrow.claimable(token, treasury) == fees
    receipt = escrow.withdraw(token, sender=treasury)
    assert token.balanceOf(treasury) == fees
    assert [e.amount for e in receipt.events.filter(escrow.Withdrawn)] == [fees]
    assert escrow.claimable(token, treasury) == 0


def test_fees__new_treasury_takes_accrued_fees(escrow, owner, seller, treasury, stranger, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.release(trade_id, deal, sender=seller)
    escrow.set_treasury(stranger, sender=owner)
    assert escrow.claimable(ETH, treasury) == 0
    with ape.reverts("escrow: nothing to withdraw"):
        escrow.withdraw(ETH, sender=treasury)
    before = stranger.balance
    receipt = escrow.withdraw(ETH, sender=stranger)
    assert stranger.balance == before + deal.fee - receipt.total_fees_paid


def test_fees__cancel_and_refund_take_none(escrow, chain, seller, buyer, treasury, lock_deal):
    trade_id, deal, _ = lock_deal()
    escrow.cancel(trade_id, deal, sender=buyer)
    trade_id, deal, _ = lock_deal()
    chain.pending_timestamp = deal.deadline
    escrow.refund(trade_id, deal, sender=seller)
    assert escrow.claimable(ETH, treasury) == 0
