# pragma version ~=0.4.3
"""
@title Test-only view of many balances at once
@custom:contract-name Inspector
@license MIT
@notice Reads every balance, claimable amount and escrow status the property
        tests compare against their model, in one `eth_call`.
"""


interface IERC20Balance:
    def balanceOf(account: address) -> uint256: view


interface IEscrowViews:
    def claimable(token: address, account: address) -> uint256: view
    def status(trade_id: bytes32) -> uint8: view


_MAX_TOKENS: constant(uint256) = 8
_MAX_ACCOUNTS: constant(uint256) = 16
_MAX_CELLS: constant(uint256) = 128
_MAX_TRADES: constant(uint256) = 256


@external
@view
def snapshot(
    escrow: address,
    tokens: DynArray[address, _MAX_TOKENS],
    accounts: DynArray[address, _MAX_ACCOUNTS],
    trade_ids: DynArray[bytes32, _MAX_TRADES],
) -> (DynArray[uint256, _MAX_CELLS], DynArray[uint256, _MAX_CELLS], DynArray[uint8, _MAX_TRADES]):
    """
    @notice Balances and claimables token by token, account by account
            (empty(address) = ETH), then the status of each trade.
    """
    balances: DynArray[uint256, _MAX_CELLS] = []
    claimables: DynArray[uint256, _MAX_CELLS] = []
    for token: address in tokens:
        for account: address in accounts:
            if token == empty(address):
                balances.append(account.balance)
            else:
                balances.append(staticcall IERC20Balance(token).balanceOf(account))
            claimables.append(staticcall IEscrowViews(escrow).claimable(token, account))
    statuses: DynArray[uint8, _MAX_TRADES] = []
    for trade_id: bytes32 in trade_ids:
        statuses.append(staticcall IEscrowViews(escrow).status(trade_id))
    return balances, claimables, statuses
