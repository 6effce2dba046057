"""Gasless relays: `*_by_sig` with EIP-712 signatures from EOAs and ERC-1271 wallets."""

import ape
import pytest
from ape.exceptions import ContractLogicError
from indexer.escrow import ETH, Action, Deal, Status

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

RELAYS = [
    (Action.MARK_PAID, "mark_paid_by_sig", "buyer", Status.PAID),
    (Action.RELEASE, "release_by_sig", "seller", Status.RELEASED),
    (Action.CANCEL, "cancel_by_sig", "buyer", Status.REFUNDED),
]


@pytest.fixture
def expiry(chain):
    return chain.pending_timestamp + 600


@pytest.mark.parametrize("action, method, signer, after", RELAYS)
def test_relay__eoa_signature__acts_for_the_party(
    request, escrow, stranger, lock_deal, sign_action, expiry, action, method, signer, after
):
    trade_id, deal, _ = lock_deal()
    signature = sign_action(request.getfixturevalue(signer), action, trade_id, expiry)
    getattr(escrow, method)(trade_id, deal, expiry, signature, sender=stranger)
    assert escrow.status(trade_id) == after


@pytest.mark.parametrize("action, method, signer, after", RELAYS)
def test_relay__used_twice__reverts(request, escrow, stranger, lock_deal, sign_action, expiry, action, method, signer, after):
    trade_id, deal, _ = lock_deal()
    signature = sign_action(request.getfixturevalue(signer), action, trade_id, expiry)
    relay = getattr(escrow, method)
    relay(trade_id, deal, expiry, signature, sender=stranger)
    with ape.reverts():
        relay(trade_id, deal, expiry, signature, sender=stranger)
    assert escrow.status(trade_id) == after


@pytest.mark.parametrize("action, method, signer, after", RELAYS)
def test_relay__signed_by_the_other_party__reverts(
    request, escrow, stranger, lock_deal, sign_action, expiry, action, method, signer, after
):
    trade_id, deal, _ = lock_deal()
    other = "seller" if signer == "buyer" else "buyer"
    signature = sign_action(request.getfixturevalue(other), action, trade_id, expiry)
    with ape.reverts("escrow: invalid signature"):
        getattr(escrow, method)(trade_id, deal, expiry, signature, sender=stranger)


@pytest.mark.parametrize(
    "forgery",
    [
        {"chain_id": 1},
        {"contract": "0x000000000000000000000000000000000000dEaD"},
        {"trade_id": b"\x42" * 32},
        {"expiry_signed": +1},
        {"action": Action.CANCEL},
    ],
    ids=["other-chain", "other-contract", "other-trade", "other-expiry", "other-action"],
)
def test_mark_paid_by_sig__signature_for_something_else__reverts(
    escrow, buyer, stranger, lock_deal, sign_action, expiry, forgery
):
    trade_id, deal, _ = lock_deal()
    signature = sign_action(
        buyer,
        forgery.get("action", Action.MARK_PAID),
        forgery.get("trade_id", trade_id),
        expiry + forgery.get("expiry_signed", 0),
        chain_id=forgery.get("chain_id"),
        contract=forgery.get("contract"),
    )
    with ape.reverts("escrow: invalid signature"):
        escrow.mark_paid_by_sig(trade_id, deal, expiry, signature, sender=stranger)
    assert escrow.status(trade_id) == Status.LOCKED


def test_relay__signature_for_another_deployment__reverts(
    escrow_type, escrow, owner, seller, buyer, treasury, arbiter, stranger, lock_deal, sign_action, expiry
):
    twin = owner.deploy(escrow_type, 50, treasury, arbiter)
    twin.set_token_cap(ETH, 10**30, sender=owner)
    trade_id, deal, _ = lock_deal()
    twin.lock(trade_id, buyer, ETH, 10**18, 3600, sender=seller, value=10**18)  # same trade id there
    signed_for_twin = sign_action(buyer, Action.MARK_PAID, trade_id, expiry, contract=twin.address)
    with ape.reverts("escrow: invalid signature"):
        escrow.mark_paid_by_sig(trade_id, deal, expiry, signed_for_twin, sender=stranger)


def test_relay__at_expiry__reverts(escrow, chain, buyer, stranger, lock_deal, sign_action, expiry):
    trade_id, deal, _ = lock_deal()
    signature = sign_action(buyer, Action.MARK_PAID, trade_id, expiry)
    chain.pending_timestamp = expiry
    with ape.reverts("escrow: signature expired"):
        escrow.mark_paid_by_sig(trade_id, deal, expiry, signature, sender=stranger)


def test_relay__high_s_signature__reverts(escrow, buyer, stranger, lock_deal, sign_action, expiry):
    trade_id, deal, _ = lock_deal()
    signature = sign_action(buyer, Action.MARK_PAID, trade_id, expiry)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    malleable = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # same signer, other form
    with ape.reverts("ecdsa: invalid signature `s` value"):
        escrow.mark_paid_by_sig(trade_id, deal, expiry, malleable, sender=stranger)
    escrow.mark_paid_by_sig(trade_id, deal, expiry, signature, sender=stranger)


def test_relay__garbage_signature__reverts(escrow, stranger, lock_deal, expiry):
    trade_id, deal, _ = lock_deal()
    with ape.reverts("escrow: invalid signature"):
        escrow.mark_paid_by_sig(trade_id, deal, expiry, b"\x01" * 64, sender=stranger)


def test_relay__wrong_deal__reverts(escrow, buyer, stranger, lock_deal, sign_action, expiry):
    trade_id, deal, _ = lock_deal()
    signature = sign_action(buyer, Action.MARK_PAID, trade_id, expiry)
    with ape.reverts("escrow: wrong deal"):
        escrow.mark_paid_by_sig(trade_id, deal._replace(amount=deal.amount + 1), expiry, signature, sender=stranger)


# --- ERC-1271 wallets -----------------------------------------------------------


@pytest.fixture
def wallet(project, accounts, owner):
    """An ERC-1271 wallet and the fresh key that controls it."""
    controller = accounts.generate_test_account()
    owner.transfer(controller, 10**20)
    contract = controller.deploy(project.Wallet1271)
    return contract, controller


def test_mark_paid_by_sig__erc1271_wallet_buyer__marks_paid(escrow, seller, stranger, wallet, lock_deal, sign_action, expiry):
    contract, controller = wallet
    trade_id, deal, _ = lock_deal(to=contract)
    signature = sign_action(controller, Action.MARK_PAID, trade_id, expiry)
    escrow.mark_paid_by_sig(trade_id, deal, expiry, signature, sender=stranger)
    assert escrow.status(trade_id) == Status.PAID


def test_cancel_by_sig__erc1271_signature_longer_than_65_bytes__cancels(
    escrow, stranger, wallet, lock_deal, sign_action, expiry
):
    contract, controller = wallet
    trade_id, deal, _ = lock_deal(to=contract)
    signature = sign_action(controller, Action.CANCEL, trade_id, expiry)
    escrow.cancel_by_sig(trade_id, deal, expiry, signature + signature, sender=stranger)
    assert escrow.status(trade_id) == Status.REFUNDED


def test_release_by_sig__erc1271_wallet_seller__releases(escrow, buyer, stranger, wallet, sign_action, expiry):
    contract, controller = wallet
    trade_id = b"\x12" * 32
    data = escrow.lock.encode_input(trade_id, buyer, ETH, 10**18, 3600)
    receipt = contract.execute(escrow, data, 10**18, sender=controller, value=10**18)
    [event] = receipt.events.filter(escrow.Locked)
    deal = Deal.from_event(event.event_arguments)
    assert deal.seller == contract.address
    buyer_before = buyer.balance
    signature = sign_action(controller, Action.RELEASE, trade_id, expiry)
    escrow.release_by_sig(trade_id, deal, expiry, signature, sender=stranger)
    assert buyer.balance == buyer_before + deal.amount - deal.fee


def test_relay__erc1271_wallet_rejects__reverts(escrow, stranger, wallet, lock_deal, sign_action, expiry):
    contract, _ = wallet
    trade_id, deal, _ = lock_deal(to=contract)
    signature = sign_action(stranger, Action.MARK_PAID, trade_id, expiry)  # not the wallet's owner
    with ape.reverts("escrow: invalid signature"):
        escrow.mark_paid_by_sig(trade_id, deal, expiry, signature, sender=stranger)


@pytest.mark.parametrize("length, reason", [(1024, "escrow: invalid signature"), (1025, None)], ids=["1024", "1025"])
def test_relay__erc1271_signature_length__up_to_1024_bytes(escrow, stranger, wallet, lock_deal, sign_action, expiry, length, reason):
    """A signature of 1,024 bytes reaches the wallet (which refuses that shape); a longer one is
    refused before anything else, without a reason, as Vyper's ABI decoder does."""
    contract, controller = wallet
    trade_id, deal, _ = lock_deal(to=contract)
    signature = sign_action(controller, Action.MARK_PAID, trade_id, expiry)
    with pytest.raises(ContractLogicError) as refused:
        escrow.mark_paid_by_sig(trade_id, deal, expiry, (signature * 16)[:length], sender=stranger)
    assert refused.value.revert_message == (reason or "Transaction failed.")
