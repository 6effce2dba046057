# pragma version ~=0.4.3
"""
@title USDT-style token
@custom:contract-name UsdtToken
@license MIT
@notice Like Tether's USDT on Ethereum: `transfer` and `transferFrom` return
        nothing, so a caller that expects a bool reverts on them.
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


@deploy
def __init__():
    ownable.__init__()
    erc20.__init__("Tether USD", "USDT", 6, "Tether USD", "1")


@external
def transfer(to: address, amount: uint256):
    erc20._transfer(msg.sender, to, amount)


@external
def transferFrom(owner: address, to: address, amount: uint256):
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
