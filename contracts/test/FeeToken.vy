# pragma version ~=0.4.3
"""
@title Fee-on-transfer token
@custom:contract-name FeeToken
@license MIT
@notice Burns a share of every transfer (1% unless the owner changes it), so
        the recipient gets less than was sent (as PAXG, STA or USDT with its
        fee switched on do).
"""


# @dev Balances, allowances and minting come from snekmate's ERC-20.
from snekmate.auth import ownable
from snekmate.tokens import erc20
initializes: ownable
initializes: erc20[ownable := ownable]


exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.balanceOf,
    erc20.allowance,
    erc20.totalSupply,
    erc20.approve,
    erc20.mint,
)


# @dev The share of each transfer that is burnt, in basis points.
transfer_fee_bps: public(uint256)


@deploy
def __init__():
    ownable.__init__()
    erc20.__init__("Fee Token", "FEE", 18, "Fee Token", "1")
    self.transfer_fee_bps = 100


@external
def set_transfer_fee_bps(fee_bps: uint256):
    ownable._check_owner()
    assert fee_bps <= 10_000, "fee over 100%"
    self.transfer_fee_bps = fee_bps


@external
def transfer(to: address, amount: uint256) -> bool:
    self._transfer_less_fee(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    erc20._spend_allowance(owner, msg.sender, amount)
    self._transfer_less_fee(owner, to, amount)
    return True


@internal
def _transfer_less_fee(owner: address, to: address, amount: uint256):
    fee: uint256 = amount * self.transfer_fee_bps // 10_000
    erc20._burn(owner, fee)
    erc20._transfer(owner, to, amount - fee)
