# pragma version ~=0.4.3
"""
@title Escrow load generator (test and benchmark only)
@custom:contract-name LoadGenerator
@license MIT
@notice Runs many whole ETH trades (lock, mark paid, release) in one transaction, so a
        benchmark can put hundreds of escrow events in a block. Deploy two: one sells, and
        names the other as the buyer, which marks each trade paid when asked.
"""


struct Deal:
    seller: address
    buyer: address
    token: address
    amount: uint256
    fee: uint256
    arbiter: address
    deadline: uint256


interface IEscrow:
    def lock(trade_id: bytes32, buyer: address, token: address, amount: uint256, payment_window: uint256): payable
    def mark_paid(trade_id: bytes32, deal: Deal): nonpayable
    def release(trade_id: bytes32, deal: Deal): nonpayable
    def fee_bps() -> uint256: view
    def arbiter() -> address: view


interface IBuyer:
    def mark_paid(escrow: address, trade_id: bytes32, deal: Deal): nonpayable


_WINDOW: constant(uint256) = 600


@external
@payable
def __default__():
    pass


@external
def mark_paid(escrow: address, trade_id: bytes32, deal: Deal):
    extcall IEscrow(escrow).mark_paid(trade_id, deal)


@external
def trades(escrow: address, buyer: address, first_id: uint256, count: uint256, amount: uint256):
    """
    @notice `count` whole trades with ids first_id, first_id + 1, ...: three events each.
    """
    fee: uint256 = amount * staticcall IEscrow(escrow).fee_bps() // 10_000
    arbiter: address = staticcall IEscrow(escrow).arbiter()
    for i: uint256 in range(count, bound=256):
        trade_id: bytes32 = convert(first_id + i, bytes32)
        extcall IEscrow(escrow).lock(trade_id, buyer, empty(address), amount, _WINDOW, value=amount)
        deal: Deal = Deal(
            seller=self,
            buyer=buyer,
            token=empty(address),
            amount=amount,
            fee=fee,
            arbiter=arbiter,
            deadline=block.timestamp + _WINDOW,
        )
        extcall IBuyer(buyer).mark_paid(escrow, trade_id, deal)
        extcall IEscrow(escrow).release(trade_id, deal)
