"""A `Deal` with any single field changed is rejected by every function that takes one."""

import ape
import pytest

from indexer.escrow import Status

CHANGES = {
    "seller": lambda deal, w: deal._replace(seller=w["stranger"].address),
    "buyer": lambda deal, w: deal._replace(buyer=w["stranger"].address),
    "token": lambda deal, w: deal._replace(token=w["token"].address),
    "amount": lambda deal, w: deal._replace(amount=deal.amount + 1),
    "fee": lambda deal, w: deal._replace(fee=0),
    "arbiter": lambda deal, w: deal._replace(arbiter=w["stranger"].address),
    "deadline": lambda deal, w: deal._replace(deadline=deal.deadline + 1),
}


@pytest.mark.parametrize("field", list(CHANGES))
@pytest.mark.parametrize(
    "action, args, actor",
    [
        ("mark_paid", (), "buyer"),
        ("release", (), "seller"),
        ("cancel", (), "buyer"),
        ("refund", (), "seller"),
        ("extend", ("deadline+",), "seller"),
        ("dispute", (), "buyer"),
        ("resolve", (10_000,), "arbiter"),
    ],
)
def test_changed_deal__any_field__reverts(escrow, chain, token, stranger, seller, buyer, arbiter, lock_deal, field, action, args, actor):
    trade_id, deal, _ = lock_deal()
    if action in ("dispute", "resolve"):
        escrow.mark_paid(trade_id, deal, sender=buyer)
    if action == "resolve":
        escrow.dispute(trade_id, deal, sender=buyer)
    if action == "refund":
        chain.pending_timestamp = deal.deadline + 1
    status = escrow.status(trade_id)
    forged = CHANGES[field](deal, {"stranger": stranger, "token": token})
    # The forged deal names its own parties: act as the party the forgery claims.
    role = {"buyer": forged.buyer, "seller": forged.seller, "arbiter": forged.arbiter}[actor]
    sender = {a.address: a for a in (stranger, seller, buyer, arbiter)}[role]
    call_args = [deal.deadline + 60 if a == "deadline+" else a for a in args]
    with ape.reverts("escrow: wrong deal"):
        getattr(escrow, action)(trade_id, forged, *call_args, sender=sender)
    assert escrow.status(trade_id) == status
    assert bytes(escrow.commitment(trade_id)) == deal.commitment(Status(status))
