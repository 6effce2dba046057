"""The order's EIP-712 hash by hand equals eth-account's, and trade ids are what both parties compute."""

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from api.signing import Order, Side, recover_signer, trade_id

ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MAKER = Account.create("maker")


def order(**changes) -> Order:
    values = dict(maker=MAKER.address, side=Side.SELL, token="0x0000000000000000000000000000000000000000",
                  amount=10**18, min_fill=10**17, price=3_100 * 10**8, fiat="EUR", payment_methods=("SEPA", "Revolut"),
                  expiry=1_900_000_000, nonce=7)
    return Order(**{**values, **changes})


def test_digest__equals_eth_account_encoding():
    for item in (order(), order(payment_methods=("UPI",), side=Side.BUY, fiat="INR"), order(payment_methods=())):
        signable = encode_typed_data(full_message=item.typed_data(31337, ESCROW))
        expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
        assert item.digest(31337, ESCROW) == expected


def test_digest__changes_with_any_term_and_domain():
    base = order().digest(31337, ESCROW)
    for changed in (order(amount=10**18 + 1), order(payment_methods=("Revolut", "SEPA")), order(fiat="USD"),
                    order(nonce=8), order(side=Side.BUY)):
        assert changed.digest(31337, ESCROW) != base
    assert order().digest(1, ESCROW) != base


def test_recover_signer__wallet_signature__gives_maker():
    item = order()
    signed = Account.sign_typed_data(MAKER.key, full_message=item.typed_data(31337, ESCROW))
    assert recover_signer(item.digest(31337, ESCROW), signed.signature) == MAKER.address


def test_recover_signer__equals_eth_accounts_for_both_forms_of_v():
    for number in range(20):
        wallet = Account.create(f"signer {number}")
        digest = order(nonce=number).digest(31337, ESCROW)
        signature = Account.unsafe_sign_hash(digest, wallet.key).signature  # v is 27 or 28
        assert recover_signer(digest, signature) == Account._recover_hash(digest, signature=signature) == wallet.address
        assert recover_signer(digest, signature[:64] + bytes((signature[64] - 27,))) == wallet.address  # v 0 or 1


def test_recover_signer__malformed__gives_none():
    digest = order().digest(31337, ESCROW)
    assert recover_signer(digest, b"\x00" * 65) is None
    assert recover_signer(digest, b"\x01" * 64) is None
    assert recover_signer(digest, b"\x01" * 64 + b"\x1d") is None  # v 29
    assert recover_signer(digest, b"\xff" * 64 + b"\x1b") is None  # r and s above the curve's order


def test_trade_id__is_keccak_of_the_abi_encoding():
    from eth_abi import encode

    order_hash = order().digest(31337, ESCROW)
    for taker, index in ((MAKER.address, 0), (ESCROW, 7), (MAKER.address, 2**255)):
        expected = keccak(encode(["bytes32", "address", "uint256"], [order_hash, taker, index]))
        assert trade_id(order_hash, taker, index) == expected


def test_trade_id__differs_by_taker_and_fill_index():
    order_hash = order().digest(31337, ESCROW)
    ids = {trade_id(order_hash, taker, index) for taker in (MAKER.address, ESCROW) for index in range(3)}
    assert len(ids) == 6
