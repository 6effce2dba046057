# pragma version ~=0.4.3
"""
@title Hostile token that re-enters its caller
@custom:contract-name ReentrantToken
@license MIT
@notice On every transfer, once armed, it calls `target` with `payload` (say,
        `release` of the escrow that is paying it out) and records whether
        that call went through. The transfer itself succeeds either way, so a
        test sees the reentry attempt's own result.
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


# @dev The contract to re-enter and the call to make.
target: public(address)
payload: public(Bytes[1024])
# @dev How many reentries were tried, and how many went through.
attempts: public(uint256)
successes: public(uint256)


@deploy
def __init__():
    ownable.__init__()
    erc20.__init__("Reentrant Token", "RENT", 18, "Reentrant Token", "1")


@external
def arm(target: address, payload: Bytes[1024]):
    self.target = target
    self.payload = payload


@external
def transfer(to: address, amount: uint256) -> bool:
    self._reenter()
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    self._reenter()
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    return True


@internal
def _reenter():
    if self.target == empty(address):
        return
    self.attempts += 1
    if raw_call(self.target, self.payload, revert_on_failure=False):
        self.successes += 1
