# pragma version ~=0.4.3
"""
@title Test stablecoin with EIP-2612 permit
@custom:contract-name TestToken
@license MIT
@notice snekmate's ERC-20 as it is: a well-behaved token with `permit`, used as
        the local network's test stablecoin and in the tests. The deployer can
        mint (and name other minters).
"""


# @dev The token is snekmate's ERC-20; its owner is the deployer.
from snekmate.auth import ownable
from snekmate.tokens import erc20
initializes: ownable
initializes: erc20[ownable := ownable]


exports: erc20.__interface__


@deploy
def __init__(name_: String[25], symbol_: String[5], decimals_: uint8):
    ownable.__init__()
    erc20.__init__(name_, symbol_, decimals_, name_, "1")
