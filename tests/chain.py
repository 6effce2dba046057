"""Talking to anvil from tests without web3.py's formatters (they would dominate run times):
ABI-encoded calls by signature, transactions from anvil's unlocked accounts, time control."""

from __future__ import annotations

import time

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.grammar import parse as parse_abi_type
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

DEAL = "(address,address,address,uint256,uint256,address,uint256)"
SIGNATURES = {
    "lock": "lock(bytes32,address,address,uint256,uint256)",
    "lock_with_permit": "lock_with_permit(bytes32,address,address,uint256,uint256,uint256,uint8,bytes32,bytes32)",
    "mark_paid": f"mark_paid(bytes32,{DEAL})",
    "release": f"release(bytes32,{DEAL})",
    "cancel": f"cancel(bytes32,{DEAL})",
    "refund": f"refund(bytes32,{DEAL})",
    "extend": f"extend(bytes32,{DEAL},uint256)",
    "dispute": f"dispute(bytes32,{DEAL})",
    "resolve": f"resolve(bytes32,{DEAL},uint256)",
    "mark_paid_by_sig": f"mark_paid_by_sig(bytes32,{DEAL},uint256,bytes)",
    "release_by_sig": f"release_by_sig(bytes32,{DEAL},uint256,bytes)",
    "cancel_by_sig": f"cancel_by_sig(bytes32,{DEAL},uint256,bytes)",
    "withdraw": "withdraw(address,address)",
    "withdraw_to_caller": "withdraw(address)",
    "set_fee_bps": "set_fee_bps(uint256)",
    "set_arbiter": "set_arbiter(address)",
    "set_treasury": "set_treasury(address)",
    "set_token_cap": "set_token_cap(address,uint256)",
    "pause": "pause()",
    "unpause": "unpause()",
    "transfer_ownership": "transfer_ownership(address)",
    "accept_ownership": "accept_ownership()",
    "owner": "owner()",
    "set_blacklisted": "set_blacklisted(address,bool)",
    "set_quiet": "set_quiet(bool)",
    "execute": "execute(address,bytes,uint256)",
    "mint": "mint(address,uint256)",
    "approve": "approve(address,uint256)",
    "snapshot": "snapshot(address,address[],address[],bytes32[])",
    "status": "status(bytes32)",
    "commitment": "commitment(bytes32)",
    "claimable": "claimable(address,address)",
    "balanceOf": "balanceOf(address)",
    "name": "name()",
    "nonces": "nonces(address)",
}


def _types(signature: str) -> list[str]:
    components = parse_abi_type(signature[signature.index("(") :]) if not signature.endswith("()") else None
    return [t.to_type_str() for t in components.components] if components else []


def calldata(function: str, *args) -> str:
    """0x-hex calldata for `function` (a key of SIGNATURES) with `args`."""
    signature = SIGNATURES[function]
    return "0x" + (function_signature_to_4byte_selector(signature) + abi_encode(_types(signature), args)).hex()


class Chain:
    """An anvil node at `url`."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False

    def rpc(self, method: str, params: list | None = None):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        reply = self.session.post(self.url, json=body, timeout=60).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    @property
    def accounts(self) -> list[str]:
        return [to_checksum_address(a) for a in self.rpc("eth_accounts")]

    def send(self, sender: str, to: str | None, data: str, value: int = 0, wait: bool = True) -> dict | str:
        """Sends a transaction from an unlocked account (gas price 0); returns its receipt,
        or its hash when `wait` is false (automine off)."""
        tx = {"from": sender, "data": data, "value": hex(value), "gas": hex(5_000_000), "gasPrice": "0x0"}
        if to:
            tx["to"] = to
        tx_hash = self.rpc("eth_sendTransaction", [tx])
        return self.receipt(tx_hash) if wait else tx_hash

    def receipt(self, tx_hash: str) -> dict:
        """The receipt of a transaction sent (by anyone), once it is mined."""
        while (receipt := self.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
            time.sleep(0.001)  # anvil may answer before its automine has finished the block
        return receipt

    def transact(self, sender: str, to: str, function: str, *args, value: int = 0) -> dict:
        receipt = self.send(sender, to, calldata(function, *args), value)
        if receipt["status"] != "0x1":
            raise AssertionError(f"{function}{args} from {sender} reverted")
        return receipt

    def call(self, to: str, function: str, *args, returns: str):
        result = self.rpc("eth_call", [{"to": to, "data": calldata(function, *args)}, "latest"])
        return abi_decode([returns], bytes.fromhex(result[2:]))[0]

    def deploy(self, sender: str, contract_type, *args) -> tuple[str, dict]:
        """Deploys an Ape contract type; returns its address and the receipt."""
        constructor = next((item for item in contract_type.abi if item.type == "constructor"), None)
        types = [i.canonical_type for i in constructor.inputs] if constructor else []
        code = contract_type.deployment_bytecode.bytecode + abi_encode(types, args).hex()
        receipt = self.send(sender, None, code)
        assert receipt["status"] == "0x1", f"deploying {contract_type.name} failed"
        return to_checksum_address(receipt["contractAddress"]), receipt

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def timestamp(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", [on])

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def sleep(self, seconds: int) -> None:
        """Moves the chain's clock on by `seconds` and mines a block at the new time."""
        self.rpc("evm_increaseTime", [seconds])
        self.mine()
