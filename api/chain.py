"""What the API asks of the chain: ERC-1271 signature checks, unsigned transactions for a
trader's wallet, and the relayer that submits signed actions (`*_by_sig`) and pays their gas.

The chain's state of an escrow is never read here: that is the indexer's mirror."""

from __future__ import annotations

import logging
import threading

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector

from api.errors import BadRequest, Unavailable
from indexer.errors import RpcError
from indexer.escrow import DEAL_ABI_TYPE, Action, Deal, to_checksum_address
from indexer.rpc import RpcClient

log = logging.getLogger(__name__)

_ERC1271_MAGIC = bytes.fromhex("1626ba7e")
_RELAYS = {Action.MARK_PAID: "mark_paid_by_sig", Action.RELEASE: "release_by_sig", Action.CANCEL: "cancel_by_sig"}


def encode_call(signature: str, types: list[str], args: list) -> str:
    return "0x" + (function_signature_to_4byte_selector(signature) + abi_encode(types, args)).hex()


def lock_call(trade_id: bytes, buyer: str, token: str, amount: int, payment_window: int) -> str:
    return encode_call(
        "lock(bytes32,address,address,uint256,uint256)",
        ["bytes32", "address", "address", "uint256", "uint256"],
        [trade_id, buyer, token, amount, payment_window],
    )


def approve_call(spender: str, amount: int) -> str:
    return encode_call("approve(address,uint256)", ["address", "uint256"], [spender, amount])


def deal_call(function: str, trade_id: bytes, deal: Deal, *extra: tuple[str, object]) -> str:
    """Calldata of an escrow function that takes `(trade_id, deal, ...)`."""
    types = ["bytes32", DEAL_ABI_TYPE, *(kind for kind, _ in extra)]
    return encode_call(f"{function}({','.join(types)})", types, [trade_id, tuple(deal), *(v for _, v in extra)])


def send_transaction(rpc: RpcClient, account, call: dict, gas: int) -> str:
    """Signs `call` ({from, to, data, value}) with `account` at the node's gas price and next
    nonce, with a quarter more gas than `gas` (an estimate), sends it; returns its hash."""
    signed = account.sign_transaction({
        "to": call["to"], "data": call["data"], "value": int(call.get("value", "0x0"), 16), "gas": gas * 5 // 4,
        "gasPrice": int(rpc.request("eth_gasPrice"), 16),
        "nonce": int(rpc.request("eth_getTransactionCount", [account.address, "pending"]), 16),
        "chainId": int(rpc.request("eth_chainId"), 16),
    })
    return rpc.request("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])


class ChainGateway:
    def __init__(self, rpc_url: str, escrow: str, relayer_key: str | None = None, timeout: float = 10.0):
        self.rpc = RpcClient(rpc_url, timeout=timeout, max_attempts=3)
        self.escrow = to_checksum_address(escrow)
        self.relayer = Account.from_key(relayer_key) if relayer_key else None
        self._relay_lock = threading.Lock()  # one relayed transaction at a time: nonces in order

    def is_valid_signature(self, account: str, digest: bytes, signature: bytes) -> bool:
        """ERC-1271: whether the contract at `account` accepts `signature` for `digest`."""
        data = encode_call("isValidSignature(bytes32,bytes)", ["bytes32", "bytes"], [digest, signature])
        try:
            result = self.rpc.request("eth_call", [{"to": account, "data": data}, "latest"])
        except RpcError:
            return False  # no such function, or it reverted: not a signature it accepts
        return bytes.fromhex(result[2:])[:4] == _ERC1271_MAGIC

    def block_timestamp(self, number: int) -> int:
        block = self.rpc.request("eth_getBlockByNumber", [hex(number), False])
        return int(block["timestamp"], 16)

    def relay(self, action: Action, trade_id: bytes, deal: Deal, expiry: int, signature: bytes) -> str:
        """Submits a signed action from the relayer's account; returns the transaction hash.
        It is first run with `eth_call`: a relay that would revert is refused before any gas is spent."""
        if self.relayer is None:
            raise Unavailable("this server relays no transactions (ORRANGE_RELAYER_KEY is not set)")
        data = deal_call(_RELAYS[action], trade_id, deal, ("uint256", expiry), ("bytes", signature))
        call = {"from": self.relayer.address, "to": self.escrow, "data": data}
        try:
            gas = int(self.rpc.request("eth_estimateGas", [call]), 16)
        except RpcError as error:
            raise BadRequest(f"the escrow would refuse this relay: {_revert_reason(error)}") from None
        with self._relay_lock:
            try:
                tx_hash = send_transaction(self.rpc, self.relayer, call, gas)
            except RpcError as error:
                log.warning("relay of %s for %s failed: %s", action, trade_id.hex(), error)
                raise Unavailable(f"the relayer could not submit the transaction: {error}") from None
        log.info("relayed %s for 0x%s in %s", action, trade_id.hex(), tx_hash)
        return tx_hash


def _revert_reason(error: RpcError) -> str:
    text = str(error)
    marker = "execution reverted"
    if marker in text:
        reason = text[text.index(marker) + len(marker):].lstrip(": ")
        return reason.split(" (code")[0] or "reverted without a reason"
    return text

