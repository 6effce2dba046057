# pragma version ~=0.4.3
"""
@title Call forwarding for test wallets
@custom:contract-name forwarder
@license MIT
@notice Lets a test wallet contract act as a trader: its owner makes it call
        any contract, with ETH.
"""


# @dev The EOA that controls the wallet.
owner: public(address)


@deploy
def __init__(owner: address):
    self.owner = owner


@external
@payable
def execute(target: address, data: Bytes[4096], amount: uint256) -> Bytes[1024]:
    """
    @notice Calls `target` with `data` and `amount` wei; reverts as it does.
    """
    assert msg.sender == self.owner, "forwarder: not owner"
    return raw_call(target, data, value=amount, max_outsize=1024)
