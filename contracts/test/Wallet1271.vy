# pragma version ~=0.4.3
"""
@title ERC-1271 smart-contract wallet
@custom:contract-name Wallet1271
@license MIT
@notice A minimal smart-contract wallet: it accepts a signature when its
        owner EOA made it, in one 65-byte signature or (like a multisig that
        needs the same owner twice) two of them back to back, which exercises
        signatures longer than an EOA's.
"""


# @dev `execute` lets the owner trade through this wallet.
import forwarder
initializes: forwarder

# @dev secp256k1 recovery of the owner's signature.
from snekmate.utils import ecdsa


exports: forwarder.__interface__


_MAGIC: constant(bytes4) = 0x1626ba7e


@deploy
def __init__():
    forwarder.__init__(msg.sender)


@external
@payable
def __default__():
    pass


@external
@view
def isValidSignature(digest: bytes32, signature: Bytes[130]) -> bytes4:
    if len(signature) == 65:
        if ecdsa._recover_sig(digest, slice(signature, 0, 65)) == forwarder.owner:
            return _MAGIC
    elif len(signature) == 130:
        if ecdsa._recover_sig(digest, slice(signature, 0, 65)) == forwarder.owner and ecdsa._recover_sig(
            digest, slice(signature, 65, 65)
        ) == forwarder.owner:
            return _MAGIC
    return 0xffffffff
