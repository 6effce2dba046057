# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Orrange P2P Escrow
@custom:contract-name Escrow
@license MIT
@notice Holds a seller's tokens (ERC-20 or native ETH) for an off-chain
        crypto-for-fiat trade until the seller releases them to the buyer,
        the buyer cancels, the payment window lapses and the seller takes
        them back, or the deal's arbiter splits a dispute. Each escrow costs
        one storage slot: a commitment to the deal's terms with the status in
        its low byte; every call after `lock` passes the terms back in as a
        `Deal`, which must match the commitment.
@custom:security The owner lists tokens, sets the fee, the treasury and the
                 arbiter for future deals, and pauses new locks; no admin
                 path moves escrowed funds. A deal's arbiter, fixed at lock
                 time, can only split that deal once it is disputed. A payout
                 its recipient cannot take (a blacklisted address, a contract
                 that rejects ETH) is credited to `claimable`, so no party can
                 trap the other's funds. Relayed actions need the party's
                 EIP-712 signature (EOA or ERC-1271), bound to this contract,
                 this chain, one trade and an expiry; each works once because
                 the action it signs moves the escrow out of the state it
                 needs.
"""


# @dev ERC-20 `balanceOf` and `allowance`; transfers go through `raw_call`
# so that tokens returning no bool (USDT) work too.
from ethereum.ercs import IERC20

# @dev Two-step ownership for the admin functions.
from snekmate.auth import ownable
from snekmate.auth import ownable_2step
initializes: ownable
initializes: ownable_2step[ownable := ownable]

# @dev EIP-712 domain ("Orrange Escrow", "1") with EIP-5267 `eip712Domain`.
from snekmate.utils import eip712_domain_separator
initializes: eip712_domain_separator

# @dev secp256k1 recovery that rejects malleable (high-s) signatures.
from snekmate.utils import ecdsa


exports: (
    ownable_2step.owner,
    ownable_2step.pending_owner,
    ownable_2step.transfer_ownership,
    ownable_2step.accept_ownership,
    eip712_domain_separator.eip712Domain,
)


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

# @dev The highest platform fee the owner can set: 1%.
MAX_FEE_BPS: public(constant(uint256)) = 100
# @dev The shortest and longest payment window a seller can give a buyer.
MIN_WINDOW: public(constant(uint256)) = 600
MAX_WINDOW: public(constant(uint256)) = 604_800

_BPS: constant(uint256) = 10_000

# @dev Escrow status codes, stored in the low byte of the escrow's slot.
_NONE: constant(uint256) = 0
_LOCKED: constant(uint256) = 1
_PAID: constant(uint256) = 2
_RELEASED: constant(uint256) = 3
_REFUNDED: constant(uint256) = 4
_DISPUTED: constant(uint256) = 5
_RESOLVED: constant(uint256) = 6
_STATUS_BITS: constant(uint256) = 255

# @dev Layout of `_config`, the one slot `lock` reads.
_ARBITER_BITS: constant(uint256) = (1 << 160) - 1
_FEE_SHIFT: constant(uint256) = 160
_FEE_BITS: constant(uint256) = 65_535 << 160
_PAUSED_SHIFT: constant(uint256) = 176

# @dev Native ETH is the token `empty(address)`.
_ETH: constant(address) = empty(address)
# @dev Gas a recipient may spend taking an ETH payout, enough for smart
# wallets (a Safe takes about 7,000) and too little to grief the caller.
# A caller who starves the call cannot force the fallback to `claimable`
# either: the 1/64 left after a starved call cannot pay for the credit.
_ETH_SEND_GAS: constant(uint256) = 50_000

# @dev Longest signature accepted from an ERC-1271 wallet (multisigs and
# passkey wallets sign with more than 65 bytes).
_SIGNATURE_MAX: constant(uint256) = 1024
_ERC1271_MAGIC: constant(bytes4) = 0x1626ba7e

_MARK_PAID_TYPEHASH: constant(bytes32) = keccak256("MarkPaid(bytes32 tradeId,uint256 expiry)")
_RELEASE_TYPEHASH: constant(bytes32) = keccak256("Release(bytes32 tradeId,uint256 expiry)")
_CANCEL_TYPEHASH: constant(bytes32) = keccak256("Cancel(bytes32 tradeId,uint256 expiry)")


# ---------------------------------------------------------------------------
# Types and storage
# ---------------------------------------------------------------------------

struct Deal:
    seller: address
    buyer: address
    # empty(address) for native ETH
    token: address
    # what actually arrived (balance difference), not what was asked
    amount: uint256
    # platform fee, fixed at lock time
    fee: uint256
    # the arbiter at lock time
    arbiter: address
    # from this time on the seller may take an unpaid escrow back
    deadline: uint256


# @dev trade id => keccak256(abi_encode(deal)) with its low byte replaced by the status.
_escrows: HashMap[bytes32, uint256]
# @dev What `lock` reads, packed: arbiter (bits 0-159), fee in bps (160-175), paused (176).
_config: uint256
# @dev The account that withdraws the accrued fees.
treasury: public(address)
# @dev token => the largest amount one escrow may hold; 0 means not accepted.
token_cap: public(HashMap[address, uint256])
# @dev token => fees earned and not yet withdrawn; they belong to the treasury.
accrued_fees: public(HashMap[address, uint256])
# @dev token => account => payouts the account could not take when they were made.
_credited: HashMap[address, HashMap[address, uint256]]


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------

event Locked:
    trade_id: indexed(bytes32)
    seller: indexed(address)
    buyer: indexed(address)
    token: address
    amount: uint256
    fee: uint256
    arbiter: address
    deadline: uint256

event Paid:
    trade_id: indexed(bytes32)

event Released:
    trade_id: indexed(bytes32)
    buyer_amount: uint256
    fee: uint256

event Refunded:
    trade_id: indexed(bytes32)
    amount: uint256

event Extended:
    trade_id: indexed(bytes32)
    deadline: uint256

event Disputed:
    trade_id: indexed(bytes32)
    by: indexed(address)

event Resolved:
    trade_id: indexed(bytes32)
    buyer_amount: uint256
    seller_amount: uint256
    fee: uint256

event Credited:
    token: indexed(address)
    account: indexed(address)
    amount: uint256

event Withdrawn:
    token: indexed(address)
    account: indexed(address)
    amount: uint256

event FeeBpsSet:
    fee_bps: uint256

event TreasurySet:
    treasury: indexed(address)

event ArbiterSet:
    arbiter: indexed(address)

event TokenCapSet:
    token: indexed(address)
    cap: uint256

event Paused:
    account: indexed(address)

event Unpaused:
    account: indexed(address)


# ---------------------------------------------------------------------------
# Constructor
# ---------------------------------------------------------------------------

@deploy
def __init__(fee_bps: uint256, treasury: address, arbiter: address):
    """
    @notice The deployer becomes the owner. No token is accepted until the
            owner sets its cap with `set_token_cap`.
    @param fee_bps Platform fee in basis points, at most MAX_FEE_BPS.
    @param treasury The account that withdraws the fees.
    @param arbiter The arbiter of deals locked from now on.
    """
    ownable.__init__()
    ownable_2step.__init__()
    eip712_domain_separator.__init__("Orrange Escrow", "1")
    assert fee_bps <= MAX_FEE_BPS, "escrow: fee too high"
    assert treasury != empty(address), "escrow: zero treasury"
    assert arbiter != empty(address), "escrow: zero arbiter"
    self.treasury = treasury
    self._config = convert(arbiter, uint256) | (fee_bps << _FEE_SHIFT)
    log FeeBpsSet(fee_bps=fee_bps)
    log TreasurySet(treasury=treasury)
    log ArbiterSet(arbiter=arbiter)


# ---------------------------------------------------------------------------
# Trading
# ---------------------------------------------------------------------------

@external
@payable
@nonreentrant
def lock(trade_id: bytes32, buyer: address, token: address, amount: uint256, payment_window: uint256):
    """
    @notice Locks `amount` of `token` (empty(address) = ETH, sent as
            msg.value) from the caller, the seller, for `buyer`. The buyer
            may mark the trade paid until `payment_window` seconds from now.
    @dev For a fee-on-transfer token the deal holds what arrived.
    """
    self._lock(trade_id, buyer, token, amount, payment_window, msg.value)


@external
@nonreentrant
def lock_with_permit(
    trade_id: bytes32,
    buyer: address,
    token: address,
    amount: uint256,
    payment_window: uint256,
    permit_deadline: uint256,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @notice `lock` for an EIP-2612 token, approving the escrow with the
            seller's permit signature in the same transaction.
    @dev Anyone can submit a permit; if someone else already used this one,
         the allowance it set is enough and the lock goes on.
    """
    assert token != _ETH, "escrow: permit needs a token"
    permitted: bool = raw_call(
        token,
        abi_encode(
            msg.sender,
            self,
            amount,
            permit_deadline,
            v,
            r,
            s,
            method_id=method_id("permit(address,address,uint256,uint256,uint8,bytes32,bytes32)"),
        ),
        revert_on_failure=False,
    )
    if not permitted:
        assert staticcall IERC20(token).allowance(msg.sender, self) >= amount, "escrow: permit failed"
    self._lock(trade_id, buyer, token, amount, payment_window, 0)


@external
@nonreentrant
def mark_paid(trade_id: bytes32, deal: Deal):
    """
    @notice The buyer says the fiat is paid. Only before the deadline; from
            then on the seller can no longer take the escrow back.
    """
    self._mark_paid(trade_id, deal, msg.sender)


@external
@nonreentrant
def release(trade_id: bytes32, deal: Deal):
    """
    @notice The seller sends the escrow to the buyer, less the fee.
    """
    self._release(trade_id, deal, msg.sender)


@external
@nonreentrant
def cancel(trade_id: bytes32, deal: Deal):
    """
    @notice The buyer calls the trade off; everything goes back to the
            seller, with no fee.
    """
    self._cancel(trade_id, deal, msg.sender)


@external
@nonreentrant
def refund(trade_id: bytes32, deal: Deal):
    """
    @notice The seller takes back an escrow the buyer did not mark paid
            before the deadline.
    """
    status: uint256 = self._check_deal(trade_id, deal)
    assert msg.sender == deal.seller, "escrow: not seller"
    assert status == _LOCKED, "escrow: not locked"
    assert block.timestamp >= deal.deadline, "escrow: payment window open"
    self._set_status(trade_id, deal, _REFUNDED)
    log Refunded(trade_id=trade_id, amount=deal.amount)
    self._pay(deal.token, deal.seller, deal.amount)


@external
@nonreentrant
def extend(trade_id: bytes32, deal: Deal, new_deadline: uint256):
    """
    @notice The seller gives the buyer more time to pay. The deadline only
            moves later, and at most MAX_WINDOW from now.
    """
    status: uint256 = self._check_deal(trade_id, deal)
    assert msg.sender == deal.seller, "escrow: not seller"
    assert status == _LOCKED, "escrow: not locked"
    assert new_deadline > deal.deadline, "escrow: deadline not later"
    assert new_deadline <= block.timestamp + MAX_WINDOW, "escrow: deadline too far"
    extended: Deal = deal
    extended.deadline = new_deadline
    self._set_status(trade_id, extended, _LOCKED)
    log Extended(trade_id=trade_id, deadline=new_deadline)


@external
@nonreentrant
def dispute(trade_id: bytes32, deal: Deal):
    """
    @notice Either party asks the deal's arbiter to decide a paid trade.
    """
    status: uint256 = self._check_deal(trade_id, deal)
    assert msg.sender == deal.buyer or msg.sender == deal.seller, "escrow: not a party"
    assert status == _PAID, "escrow: not paid"
    self._set_status(trade_id, deal, _DISPUTED)
    log Disputed(trade_id=trade_id, by=msg.sender)


@external
@nonreentrant
def resolve(trade_id: bytes32, deal: Deal, buyer_bps: uint256):
    """
    @notice The deal's arbiter splits a disputed escrow: the buyer gets
            `buyer_bps` of it less the same share of the fee, the seller
            the rest. Nothing is left behind.
    """
    status: uint256 = self._check_deal(trade_id, deal)
    assert msg.sender == deal.arbiter, "escrow: not arbiter"
    assert status == _DISPUTED, "escrow: not disputed"
    assert buyer_bps <= _BPS, "escrow: bps over 10000"
    buyer_gross: uint256 = deal.amount * buyer_bps // _BPS
    fee: uint256 = deal.fee * buyer_bps // _BPS
    seller_amount: uint256 = deal.amount - buyer_gross
    self._set_status(trade_id, deal, _RESOLVED)
    self._accrue_fee(deal.token, fee)
    log Resolved(trade_id=trade_id, buyer_amount=buyer_gross - fee, seller_amount=seller_amount, fee=fee)
    self._pay(deal.token, deal.buyer, buyer_gross - fee)
    self._pay(deal.token, deal.seller, seller_amount)


# ---------------------------------------------------------------------------
# Gasless relays
# ---------------------------------------------------------------------------

@external
@nonreentrant
def mark_paid_by_sig(trade_id: bytes32, deal: Deal, expiry: uint256, signature: Bytes[_SIGNATURE_MAX]):
    """
    @notice `mark_paid` for anyone holding the buyer's signed
            MarkPaid(tradeId, expiry).
    """
    self._check_signature(deal.buyer, _MARK_PAID_TYPEHASH, trade_id, expiry, signature)
    self._mark_paid(trade_id, deal, deal.buyer)


@external
@nonreentrant
def release_by_sig(trade_id: bytes32, deal: Deal, expiry: uint256, signature: Bytes[_SIGNATURE_MAX]):
    """
    @notice `release` for anyone holding the seller's signed
            Release(tradeId, expiry).
    """
    self._check_signature(deal.seller, _RELEASE_TYPEHASH, trade_id, expiry, signature)
    self._release(trade_id, deal, deal.seller)


@external
@nonreentrant
def cancel_by_sig(trade_id: bytes32, deal: Deal, expiry: uint256, signature: Bytes[_SIGNATURE_MAX]):
    """
    @notice `cancel` for anyone holding the buyer's signed
            Cancel(tradeId, expiry).
    """
    self._check_signature(deal.buyer, _CANCEL_TYPEHASH, trade_id, expiry, signature)
    self._cancel(trade_id, deal, deal.buyer)


# ---------------------------------------------------------------------------
# Claimable payouts
# ---------------------------------------------------------------------------

@external
@nonreentrant
def withdraw(token: address, to: address = msg.sender):
    """
    @notice Takes everything credited to the caller in `token` (for the
            treasury, the accrued fees too), paid to `to`; an account that
            cannot receive the token itself names another.
    """
    assert to != empty(address), "escrow: zero recipient"
    amount: uint256 = self._credited[token][msg.sender]
    self._credited[token][msg.sender] = 0
    if msg.sender == self.treasury:
        amount += self.accrued_fees[token]
        self.accrued_fees[token] = 0
    assert amount != 0, "escrow: nothing to withdraw"
    log Withdrawn(token=token, account=msg.sender, amount=amount)
    sent: bool = False
    if token == _ETH:
        sent = raw_call(to, b"", value=amount, revert_on_failure=False)
    else:
        sent = self._try_transfer(token, to, amount)
    assert sent, "escrow: transfer failed"


# ---------------------------------------------------------------------------
# Admin (owner)
# ---------------------------------------------------------------------------

@external
def set_fee_bps(fee_bps: uint256):
    """
    @notice Sets the fee of deals locked from now on; open deals keep theirs.
    """
    ownable._check_owner()
    assert fee_bps <= MAX_FEE_BPS, "escrow: fee too high"
    self._config = (self._config & ~_FEE_BITS) | (fee_bps << _FEE_SHIFT)
    log FeeBpsSet(fee_bps=fee_bps)


@external
def set_treasury(treasury: address):
    """
    @notice Names the account that withdraws fees, those already accrued
            included.
    """
    ownable._check_owner()
    assert treasury != empty(address), "escrow: zero treasury"
    self.treasury = treasury
    log TreasurySet(treasury=treasury)


@external
def set_arbiter(arbiter: address):
    """
    @notice Names the arbiter of deals locked from now on; open deals keep
            theirs.
    """
    ownable._check_owner()
    assert arbiter != empty(address), "escrow: zero arbiter"
    self._config = (self._config & ~_ARBITER_BITS) | convert(arbiter, uint256)
    log ArbiterSet(arbiter=arbiter)


@external
def set_token_cap(token: address, cap: uint256):
    """
    @notice Accepts `token` (empty(address) = ETH) in escrows of at most
            `cap` base units; 0 stops new locks of it. Open deals are not
            touched.
    """
    ownable._check_owner()
    self.token_cap[token] = cap
    log TokenCapSet(token=token, cap=cap)


@external
def pause():
    """
    @notice Stops new locks. Everything else, payouts included, goes on.
    """
    ownable._check_owner()
    config: uint256 = self._config
    assert config >> _PAUSED_SHIFT == 0, "escrow: paused"
    self._config = config | (1 << _PAUSED_SHIFT)
    log Paused(account=msg.sender)


@external
def unpause():
    """
    @notice Accepts new locks again.
    """
    ownable._check_owner()
    config: uint256 = self._config
    assert config >> _PAUSED_SHIFT != 0, "escrow: not paused"
    self._config = config & ~(1 << _PAUSED_SHIFT)
    log Unpaused(account=msg.sender)


# ---------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------

@external
@view
def status(trade_id: bytes32) -> uint8:
    """
    @notice 0 NONE, 1 LOCKED, 2 PAID, 3 RELEASED, 4 REFUNDED, 5 DISPUTED,
            6 RESOLVED.
    """
    return convert(self._escrows[trade_id] & _STATUS_BITS, uint8)


@external
@view
def commitment(trade_id: bytes32) -> bytes32:
    """
    @notice The escrow's slot: keccak256(abi_encode(deal)) with its low
            byte replaced by the status; zero for an unused trade id.
    """
    return convert(self._escrows[trade_id], bytes32)


@external
@view
def fee_bps() -> uint256:
    return (self._config & _FEE_BITS) >> _FEE_SHIFT


@external
@view
def arbiter() -> address:
    return convert(self._config & _ARBITER_BITS, address)


@external
@view
def paused() -> bool:
    return self._config >> _PAUSED_SHIFT != 0


@external
@view
def claimable(token: address, account: address) -> uint256:
    """
    @notice What `account` can withdraw in `token`: payouts it could not
            take, and for the treasury the accrued fees.
    """
    amount: uint256 = self._credited[token][account]
    if account == self.treasury:
        amount += self.accrued_fees[token]
    return amount


# ---------------------------------------------------------------------------
# Internal
# ---------------------------------------------------------------------------

@internal
def _lock(
    trade_id: bytes32, buyer: address, token: address, amount: uint256, payment_window: uint256, eth_sent: uint256
):
    config: uint256 = self._config
    assert config >> _PAUSED_SHIFT == 0, "escrow: paused"
    assert trade_id != empty(bytes32), "escrow: zero trade id"
    assert self._escrows[trade_id] == 0, "escrow: trade id used"
    assert buyer != empty(address), "escrow: zero buyer"
    assert buyer != msg.sender, "escrow: buyer is seller"
    assert amount != 0, "escrow: zero amount"
    cap: uint256 = self.token_cap[token]
    assert cap != 0, "escrow: token not accepted"
    assert amount <= cap, "escrow: amount over cap"
    assert payment_window >= MIN_WINDOW, "escrow: window too short"
    assert payment_window <= MAX_WINDOW, "escrow: window too long"

    received: uint256 = self._pull(token, amount, eth_sent)
    deal: Deal = Deal(
        seller=msg.sender,
        buyer=buyer,
        token=token,
        amount=received,
        fee=received * ((config & _FEE_BITS) >> _FEE_SHIFT) // _BPS,
        arbiter=convert(config & _ARBITER_BITS, address),
        deadline=block.timestamp + payment_window,
    )
    self._set_status(trade_id, deal, _LOCKED)
    log Locked(
        trade_id=trade_id,
        seller=deal.seller,
        buyer=deal.buyer,
        token=deal.token,
        amount=deal.amount,
        fee=deal.fee,
        arbiter=deal.arbiter,
        deadline=deal.deadline,
    )


@internal
def _pull(token: address, amount: uint256, eth_sent: uint256) -> uint256:
    """
    @dev Takes `amount` from the seller (`eth_sent` is the ETH sent along) and
         returns what arrived.
    """
    if token == _ETH:
        assert eth_sent == amount, "escrow: wrong value"
        return amount
    assert eth_sent == 0, "escrow: value with token"
    before: uint256 = staticcall IERC20(token).balanceOf(self)
    response: Bytes[32] = raw_call(
        token,
        abi_encode(msg.sender, self, amount, method_id=method_id("transferFrom(address,address,uint256)")),
        max_outsize=32,
    )
    assert len(response) == 0 or convert(response, bool), "escrow: transfer failed"
    received: uint256 = staticcall IERC20(token).balanceOf(self) - before
    assert received != 0, "escrow: nothing received"
    return received


@internal
def _mark_paid(trade_id: bytes32, deal: Deal, caller: address):
    status: uint256 = self._check_deal(trade_id, deal)
    assert caller == deal.buyer, "escrow: not buyer"
    assert status == _LOCKED, "escrow: not locked"
    assert block.timestamp < deal.deadline, "escrow: payment window over"
    self._set_status(trade_id, deal, _PAID)
    log Paid(trade_id=trade_id)


@internal
def _release(trade_id: bytes32, deal: Deal, caller: address):
    status: uint256 = self._check_deal(trade_id, deal)
    assert caller == deal.seller, "escrow: not seller"
    assert status == _LOCKED or status == _PAID, "escrow: not open"
    self._set_status(trade_id, deal, _RELEASED)
    self._accrue_fee(deal.token, deal.fee)
    log Released(trade_id=trade_id, buyer_amount=deal.amount - deal.fee, fee=deal.fee)
    self._pay(deal.token, deal.buyer, deal.amount - deal.fee)


@internal
def _cancel(trade_id: bytes32, deal: Deal, caller: address):
    status: uint256 = self._check_deal(trade_id, deal)
    assert caller == deal.buyer, "escrow: not buyer"
    assert status == _LOCKED or status == _PAID, "escrow: not open"
    self._set_status(trade_id, deal, _REFUNDED)
    log Refunded(trade_id=trade_id, amount=deal.amount)
    self._pay(deal.token, deal.seller, deal.amount)


@internal
@view
def _check_deal(trade_id: bytes32, deal: Deal) -> uint256:
    """
    @dev Returns the escrow's status once `deal` matches its commitment.
    """
    slot: uint256 = self._escrows[trade_id]
    assert slot != 0, "escrow: unknown trade"
    assert slot & ~_STATUS_BITS == self._hash_deal(deal), "escrow: wrong deal"
    return slot & _STATUS_BITS


@internal
def _set_status(trade_id: bytes32, deal: Deal, status: uint256):
    self._escrows[trade_id] = self._hash_deal(deal) | status


@internal
@pure
def _hash_deal(deal: Deal) -> uint256:
    return convert(keccak256(abi_encode(deal)), uint256) & ~_STATUS_BITS


@internal
def _accrue_fee(token: address, fee: uint256):
    if fee != 0:
        self.accrued_fees[token] += fee


@internal
def _pay(token: address, to: address, amount: uint256):
    """
    @dev Pays `amount` to `to`, or credits it to `to`'s claimable balance
         when `to` cannot take it, so that the other party is never blocked.
    """
    if amount == 0:
        return
    sent: bool = False
    if token == _ETH:
        sent = raw_call(to, b"", value=amount, gas=_ETH_SEND_GAS, revert_on_failure=False)
    else:
        sent = self._try_transfer(token, to, amount)
    if not sent:
        self._credited[token][to] += amount
        log Credited(token=token, account=to, amount=amount)


@internal
def _try_transfer(token: address, to: address, amount: uint256) -> bool:
    success: bool = False
    response: Bytes[32] = b""
    success, response = raw_call(
        token,
        abi_encode(to, amount, method_id=method_id("transfer(address,uint256)")),
        max_outsize=32,
        revert_on_failure=False,
    )
    return success and (len(response) == 0 or convert(response, bool))


@internal
@view
def _check_signature(
    signer: address, typehash: bytes32, trade_id: bytes32, expiry: uint256, signature: Bytes[_SIGNATURE_MAX]
):
    assert block.timestamp < expiry, "escrow: signature expired"
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(keccak256(abi_encode(typehash, trade_id, expiry)))
    if signer.is_contract:
        success: bool = False
        response: Bytes[32] = b""
        success, response = raw_call(
            signer,
            abi_encode(digest, signature, method_id=method_id("isValidSignature(bytes32,bytes)")),
            max_outsize=32,
            is_static_call=True,
            revert_on_failure=False,
        )
        assert (
            success and len(response) == 32 and convert(response, bytes32) == convert(_ERC1271_MAGIC, bytes32)
        ), "escrow: invalid signature"
    else:
        assert len(signature) == 65, "escrow: invalid signature"
        assert ecdsa._recover_sig(digest, slice(signature, 0, 65)) == signer, "escrow: invalid signature"
