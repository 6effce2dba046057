# pragma version ~=0.4.3
"""
@title Blacklisting token
@custom:contract-name BlacklistToken
@license MIT
@notice Like USDC and USDT: the owner can blacklist an account, and every
        transfer to or from it reverts, or, once the owner sets `quiet`,
        returns false instead (as older tokens such as ZRX do).
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


# @dev account => true when it may neither send nor receive.
blacklisted: public(HashMap[address, bool])
# @dev When true, a refused transfer returns false instead of reverting.
quiet: public(bool)


@deploy
def __init__():
    ownable.__init__()
    erc20.__init__("Blacklist USD", "BUSD", 6, "Blacklist USD", "1")


@external
def set_blacklisted(account: address, status: bool):
    ownable._check_owner()
    self.blacklisted[account] = status


@external
def set_quiet(quiet: bool):
    ownable._check_owner()
    self.quiet = quiet


@external
def transfer(to: address, amount: uint256) -> bool:
    if not self._allowed(msg.sender, to):
        return False
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    if not self._allowed(owner, to):
        return False
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    return True


@internal
@view
def _allowed(owner: address, to: address) -> bool:
    """
    @dev False (when quiet) or a revert when either side is blacklisted.
    """
    allowed: bool = not self.blacklisted[owner] and not self.blacklisted[to]
    assert allowed or self.quiet, "blacklisted"
    return allowed
