"""Deploy the Orrange escrow and record it in deployments/<chain_id>.json.

    ape run deploy --network ethereum:local:foundry --account TEST::0
    ape run deploy --network ethereum:local:foundry --account TEST::0 --contract solidity
    ape run deploy --network ethereum:sepolia:node --account deployer \\
        --fee-bps 50 --treasury 0x... --arbiter 0x... --token-cap 0xToken:1000000000000

`--contract` picks the implementation: the Vyper escrow (the default) or its Solidity twin
(OrrangeEscrow); both have the same interface, so the record serves the indexer and the API alike.

On a local network it also deploys a test stablecoin (Test USD, 6 decimals), accepts it
and ETH, and mints some to the first test accounts, so the platform can trade at once.
"""

import click
from ape import chain, project
from ape.cli import ConnectedProviderCommand, account_option

from indexer.deployment import DEFAULT_DIRECTORY, DeployedContract, DeployedToken, Deployment
from indexer.escrow import ESCROW_CONTRACTS, ETH

LOCAL_CHAIN_IDS = {1337, 31337}
LOCAL_ETH_CAP = 100 * 10**18
LOCAL_STABLECOIN_CAP = 1_000_000 * 10**6
LOCAL_STABLECOIN_GRANT = 100_000 * 10**6
LOCAL_FUNDED_ACCOUNTS = 5
ERC20_METADATA_ABI = [
    {"type": "function", "name": name, "stateMutability": "view", "inputs": [], "outputs": [{"name": "", "type": kind}]}
    for name, kind in (("symbol", "string"), ("decimals", "uint8"))
]


def parse_token_cap(ctx, param, values):
    caps = []
    for value in values:
        token, sep, cap = value.partition(":")
        if not sep or not cap.isdigit():
            raise click.BadParameter(f"{value!r} is not TOKEN:CAP (an address, a colon, base units)")
        caps.append((token, int(cap)))
    return caps


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option("--contract", "language", type=click.Choice(list(ESCROW_CONTRACTS)), default="vyper", show_default=True, help="The escrow's implementation: Escrow.vy or its Solidity twin OrrangeEscrow.sol.")
@click.option("--fee-bps", type=click.IntRange(0, 100), default=50, show_default=True, help="Platform fee (max 100 = 1%).")
@click.option("--treasury", help="Account that withdraws the fees [default: the deployer].")
@click.option("--arbiter", help="Arbiter of disputes [default: the deployer].")
@click.option("--token-cap", "token_caps", multiple=True, callback=parse_token_cap, help="TOKEN:CAP to accept; repeatable. ETH is 0x0000000000000000000000000000000000000000.")
@click.option("--out", "directory", type=click.Path(file_okay=False), default=str(DEFAULT_DIRECTORY), show_default=True, help="Where to write <chain_id>.json.")
def cli(provider, account, language, fee_bps, treasury, arbiter, token_caps, directory):
    """Deploy the escrow (and a test stablecoin on a local chain) and record the deployment."""
    treasury = treasury or account.address
    arbiter = arbiter or account.address
    name = ESCROW_CONTRACTS[language]
    escrow = account.deploy(getattr(project, name), fee_bps, treasury, arbiter)
    receipt = escrow.creation_metadata.receipt
    click.echo(f"{name} ({language}) deployed at {escrow.address} (block {receipt.block_number}, tx {receipt.txn_hash})")

    tokens = []
    if chain.chain_id in LOCAL_CHAIN_IDS:
        tokens.append(deploy_local_stablecoin(account, escrow))
        token_caps = [(ETH, LOCAL_ETH_CAP), *token_caps]
    for token, cap in token_caps:
        escrow.set_token_cap(token, cap, sender=account)
        symbol, decimals = describe_token(token)
        tokens.append(DeployedToken(symbol=symbol, address=token, decimals=decimals, cap=cap))
        click.echo(f"Accepting {symbol} ({token}) up to {cap} base units per escrow")

    deployment = Deployment(
        chain_id=chain.chain_id,
        network=provider.network_choice,
        deployer=account.address,
        escrow=DeployedContract(
            name=name,
            address=escrow.address,
            block=receipt.block_number,
            tx_hash=receipt.txn_hash,
            abi=[item.model_dump(mode="json", by_alias=True) for item in escrow.contract_type.abi],
        ),
        fee_bps=fee_bps,
        treasury=treasury,
        arbiter=arbiter,
        tokens=tokens,
    )
    click.echo(f"Recorded in {deployment.save(directory)}")


def describe_token(address: str) -> tuple[str, int]:
    """The symbol and decimals of an accepted token, which the API needs to price it."""
    if int(address, 16) == 0:
        return "ETH", 18
    from ape import Contract

    token = Contract(address, abi=ERC20_METADATA_ABI)
    return token.symbol(), token.decimals()


def deploy_local_stablecoin(account, escrow) -> DeployedToken:
    from ape import accounts

    token = account.deploy(project.TestToken, "Test USD", "tUSD", 6)
    escrow.set_token_cap(token, LOCAL_STABLECOIN_CAP, sender=account)
    for trader in accounts.test_accounts[:LOCAL_FUNDED_ACCOUNTS]:
        token.mint(trader, LOCAL_STABLECOIN_GRANT, sender=account)
    click.echo(f"Test stablecoin tUSD at {token.address}, {LOCAL_STABLECOIN_GRANT // 10**6} tUSD to {LOCAL_FUNDED_ACCOUNTS} test accounts")
    return DeployedToken(symbol="tUSD", address=token.address, decimals=6, cap=LOCAL_STABLECOIN_CAP)
