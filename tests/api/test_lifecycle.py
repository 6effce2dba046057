"""The trade state machine, every state against every escrow the indexer could mirror."""

import pytest

from api.lifecycle import Mirrored, Terms, TradeStatus, TransitionError, cancel, expire, follow_escrow

SELLER, BUYER, OTHER = "0x" + "1" * 40, "0x" + "2" * 40, "0x" + "3" * 40
TOKEN = "0x" + "4" * 40
TERMS = Terms(SELLER, BUYER, TOKEN, 500)
CHAIN_STATES = ["LOCKED", "PAID", "RELEASED", "REFUNDED", "DISPUTED", "RESOLVED"]
ON_CHAIN = [TradeStatus(name) for name in CHAIN_STATES]


def escrow(status="LOCKED", **changes):
    values = dict(seller=SELLER, buyer=BUYER, token=TOKEN, amount=500)
    return Mirrored(status, **{**values, **changes})


@pytest.mark.parametrize("current", [TradeStatus.AWAITING_LOCK, *ON_CHAIN])
@pytest.mark.parametrize("chain_status", CHAIN_STATES)
def test_follow__matching_escrow__takes_its_status(current, chain_status):
    assert follow_escrow(current, TERMS, escrow(chain_status)) == (TradeStatus(chain_status), None)


@pytest.mark.parametrize("current", ON_CHAIN)
def test_follow__escrow_gone_after_reorg__awaits_lock_again(current):
    assert follow_escrow(current, TERMS, None) == (TradeStatus.AWAITING_LOCK, None)


@pytest.mark.parametrize("current", [TradeStatus.AWAITING_LOCK, TradeStatus.EXPIRED, TradeStatus.CANCELLED])
def test_follow__no_escrow__off_chain_status_stays(current):
    assert follow_escrow(current, TERMS, None) == (current, None)


@pytest.mark.parametrize(
    "wrong, says",
    [({"seller": OTHER}, "seller"), ({"buyer": OTHER}, "buyer"), ({"token": OTHER}, "token"),
     ({"amount": 499}, "499 base units"), ({"amount": 1}, "holds 1 base units")],
)
@pytest.mark.parametrize("current", [TradeStatus.AWAITING_LOCK, TradeStatus.LOCKED])
def test_follow__escrow_with_other_terms__flagged_never_accepted(current, wrong, says):
    outcome = follow_escrow(current, TERMS, escrow("LOCKED", **wrong))
    assert outcome.status == TradeStatus.AWAITING_LOCK
    assert outcome.flag.startswith("escrow not accepted") and says in outcome.flag


def test_follow__addresses_compare_without_case():
    assert follow_escrow(TradeStatus.AWAITING_LOCK, TERMS, escrow(seller=SELLER.upper().replace("0X", "0x"))).flag is None


@pytest.mark.parametrize("current", [TradeStatus.EXPIRED, TradeStatus.CANCELLED])
def test_follow__lock_after_trade_ended__stays_ended_and_flagged(current):
    outcome = follow_escrow(current, TERMS, escrow())
    assert outcome.status == current
    assert "buyer can cancel" in outcome.flag


def test_expire__only_awaiting_lock():
    assert expire(TradeStatus.AWAITING_LOCK) == TradeStatus.EXPIRED
    for status in TradeStatus:
        if status is not TradeStatus.AWAITING_LOCK:
            with pytest.raises(TransitionError):
                expire(status)


def test_cancel__only_before_lock():
    assert cancel(TradeStatus.AWAITING_LOCK) == TradeStatus.CANCELLED
    for status in TradeStatus:
        if status is not TradeStatus.AWAITING_LOCK:
            with pytest.raises(TransitionError, match="is " + status):
                cancel(status)


def test_final_states():
    assert {s for s in TradeStatus if s.is_final} == {
        TradeStatus.RELEASED, TradeStatus.REFUNDED, TradeStatus.RESOLVED, TradeStatus.EXPIRED, TradeStatus.CANCELLED}
