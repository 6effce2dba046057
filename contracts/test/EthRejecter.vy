# pragma version ~=0.4.3
"""
@title Contract that rejects ETH
@custom:contract-name EthRejecter
@license MIT
@notice A trader that cannot receive ETH (no payable fallback, like many older
        contracts): any ETH sent to it reverts. It trades through `execute`.
"""


# @dev `execute` lets the owner trade through this contract.
import forwarder
initializes: forwarder


exports: forwarder.__interface__


@deploy
def __init__():
    forwarder.__init__(msg.sender)


@external
@payable
def __default__():
    raise "rejects eth"
