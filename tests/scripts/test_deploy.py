"""`ape run deploy` against a real anvil: what it deploys, and the record it writes."""

import os
import subprocess

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from indexer.deployment import Deployment
from indexer.escrow import ESCROW_CONTRACTS, ETH
from tests.anvil import anvil, rpc

DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # TEST::0 of the test mnemonic
TREASURY = "0x000000000000000000000000000000000000bEEF"


def run_deploy(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "APE_FOUNDRY_HOST": url}
    command = ["ape", "run", "deploy", "--network", "ethereum:local:foundry", "--account", "TEST::0", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def call(url: str, to: str, signature: str, *types_and_args, returns: str):
    types, args = types_and_args[::2], types_and_args[1::2]
    data = function_signature_to_4byte_selector(signature) + encode(list(types), list(args))
    result = rpc(url, "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    return decode([returns], bytes.fromhex(result[2:]))[0]


@pytest.mark.parametrize("language", list(ESCROW_CONTRACTS))
def test_deploy__local_chain__deploys_and_records(tmp_path, project, language):
    with anvil() as url:
        chosen = ("--contract", language) if language != "vyper" else ()  # vyper is the default
        result = run_deploy(url, *chosen, "--fee-bps", "25", "--treasury", TREASURY, "--out", str(tmp_path))
        assert result.returncode == 0, result.stderr
        deployment = Deployment.load(31337, tmp_path)
        escrow = deployment.escrow.address
        assert deployment.escrow.name == ESCROW_CONTRACTS[language]
        # The code is that contract's (its start: deployment fills in immutables further on).
        runtime = getattr(project, ESCROW_CONTRACTS[language]).contract_type.runtime_bytecode.bytecode
        assert rpc(url, "eth_getCode", [escrow, "latest"]).startswith(runtime[:200])

        assert deployment.network == "ethereum:local:foundry"
        assert (deployment.deployer, deployment.treasury, deployment.arbiter) == (DEPLOYER, TREASURY, DEPLOYER)
        receipt = rpc(url, "eth_getTransactionReceipt", [deployment.escrow.tx_hash])
        assert to_checksum_address(receipt["contractAddress"]) == escrow
        assert int(receipt["blockNumber"], 16) == deployment.escrow.block
        assert {item["name"] for item in deployment.escrow.abi if item["type"] == "function"} >= {
            "lock", "lock_with_permit", "mark_paid", "release", "cancel", "refund", "extend", "dispute", "resolve",
            "mark_paid_by_sig", "release_by_sig", "cancel_by_sig", "withdraw", "claimable", "status", "commitment",
        }  # fmt: skip

        assert call(url, escrow, "fee_bps()", returns="uint256") == 25
        assert call(url, escrow, "treasury()", returns="address") == TREASURY.lower()
        assert call(url, escrow, "token_cap(address)", "address", ETH, returns="uint256") == 100 * 10**18
        stablecoin, ether = deployment.tokens
        assert (ether.symbol, ether.address, ether.decimals, ether.cap) == ("ETH", ETH, 18, 100 * 10**18)
        assert (stablecoin.symbol, stablecoin.decimals) == ("tUSD", 6)
        assert call(url, escrow, "token_cap(address)", "address", stablecoin.address, returns="uint256") == stablecoin.cap
        assert call(url, stablecoin.address, "balanceOf(address)", "address", DEPLOYER, returns="uint256") > 0
        assert "Recorded in" in result.stdout


@pytest.mark.parametrize(
    "option, error",
    [(("--token-cap", "not-a-cap"), "is not TOKEN:CAP"), (("--contract", "fe"), "'fe' is not one of 'vyper', 'solidity'")],
    ids=["token-cap", "contract"],
)
def test_deploy__bad_option__one_line_error_and_nothing_written(tmp_path, option, error):
    with anvil() as url:
        result = run_deploy(url, *option, "--out", str(tmp_path))
    assert result.returncode != 0
    assert error in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_deployment__missing__says_what_to_run(tmp_path):
    from indexer.deployment import DeploymentNotFound

    with pytest.raises(DeploymentNotFound, match="run `ape run deploy`"):
        Deployment.load(11155111, tmp_path)
