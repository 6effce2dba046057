"""A token that re-enters the escrow during a transfer gets nowhere."""

import pytest

from indexer.escrow import Action, Status


@pytest.fixture
def hostile(create_token):
    return create_token("ReentrantToken")


def test_reentry__during_payout__fails(escrow, hostile, seller, stranger, lock_deal, sign_action, chain):
    victim_id, victim, _ = lock_deal(hostile, 10**18)
    other_id, other, _ = lock_deal(hostile, 10**18)
    expiry = chain.pending_timestamp + 600
    # A valid relay that would succeed on its own: released from inside the first payout.
    relay = escrow.release_by_sig.encode_input(other_id, other, expiry, sign_action(seller, Action.RELEASE, other_id, expiry))
    hostile.arm(escrow, relay, sender=stranger)

    escrow.release(victim_id, victim, sender=seller)

    assert (hostile.attempts(), hostile.successes()) == (1, 0)
    assert escrow.status(victim_id) == Status.RELEASED
    assert escrow.status(other_id) == Status.LOCKED
    assert hostile.balanceOf(escrow) == other.amount + victim.fee
    hostile.arm("0x0000000000000000000000000000000000000000", b"", sender=stranger)
    escrow.release_by_sig(other_id, other, expiry, sign_action(seller, Action.RELEASE, other_id, expiry), sender=stranger)
    assert escrow.status(other_id) == Status.RELEASED


def test_reentry__during_lock__fails(escrow, hostile, seller, buyer, stranger, lock_deal, sign_action, chain):
    other_id, other, _ = lock_deal(hostile, 10**18)
    expiry = chain.pending_timestamp + 600
    relay = escrow.release_by_sig.encode_input(other_id, other, expiry, sign_action(seller, Action.RELEASE, other_id, expiry))
    hostile.arm(escrow, relay, sender=stranger)
    trade_id, deal, _ = lock_deal(hostile, 10**18)
    assert (hostile.attempts(), hostile.successes()) == (1, 0)
    assert escrow.status(trade_id) == Status.LOCKED
    assert escrow.status(other_id) == Status.LOCKED
    assert hostile.balanceOf(escrow) == other.amount + deal.amount
