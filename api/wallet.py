"""A trader's wallet: an Ape account (`ape accounts`), so keyfile accounts, hardware wallets
(through their Ape plugins) and the local test accounts `TEST::0` to `TEST::9` all sign the
same way. It signs logins (EIP-4361) and EIP-712 messages, and sends the transactions the API
prepares from the trader's own account, through the chain's JSON-RPC.

A keyfile account asks for its passphrase and for each signature on the terminal; with Ape's
`APE_ACCOUNTS_<alias>_PASSPHRASE` set, it is unlocked from it and signs without asking (scripts)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from functools import cached_property

from indexer.errors import OrrangeError


class WalletError(OrrangeError):
    """The account is unknown, did not sign, or its transaction was refused."""


class Wallet:
    def __init__(self, alias: str, rpc_url: str):
        self.alias, self.rpc_url = alias, rpc_url
        self._connection = ExitStack()
        self._chain_id: int | None = None

    def __enter__(self) -> Wallet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @cached_property
    def account(self):
        import click
        from ape.cli.choices import AccountAliasPromptChoice
        from ape.logging import logger

        logger.set_level("ERROR")  # the commands say what happens; Ape's INFO lines would say it twice
        try:
            account = AccountAliasPromptChoice().convert(self.alias, None, None)
        except click.BadParameter as error:
            raise WalletError(f"{error.message} See `ape accounts list`; TEST::0 to TEST::9 are the test accounts") from None
        if os.environ.get(f"APE_ACCOUNTS_{account.alias}_PASSPHRASE") and hasattr(account, "set_autosign"):
            account.set_autosign(True)  # a passphrase in the environment means a script: no questions
        return account

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign_text(self, text: str) -> str:
        """A personal_sign signature (EIP-191) of `text`, such as a login message; 0x-hex."""
        return self._sign(text)  # Ape shows a keyfile account's owner the text itself

    def sign_typed_data(self, typed_data: dict) -> str:
        """An eth_signTypedData_v4 signature (EIP-712) of `typed_data`; 0x-hex."""
        from eth_account.messages import encode_typed_data

        return self._sign(encode_typed_data(full_message=typed_data))

    def send(self, tx: dict, chain_id: int) -> str:
        """Sends an unsigned transaction as the API gives it ({from, to, data, value}) from this
        account on chain `chain_id`; waits until it is mined; returns its hash. A transaction the
        chain would revert is refused before it is sent, with the contract's reason."""
        from ape import networks
        from ape.exceptions import ApeException, ContractLogicError

        self._connect(chain_id)
        try:
            txn = networks.ecosystem.create_transaction(
                sender=self.address, receiver=tx["to"], data=tx["data"], value=int(tx["value"]), chain_id=chain_id,
            )
            receipt = self.account.call(txn)
        except ContractLogicError as error:
            raise WalletError(f"the chain refuses this transaction: {error.message}") from None
        except ApeException as error:
            raise WalletError(f"{self.alias} could not send the transaction: {error}") from None
        return str(receipt.txn_hash)

    def close(self) -> None:
        self._connection.close()
        self._chain_id = None

    def _sign(self, message) -> str:
        from ape.exceptions import ApeException

        try:
            signature = self.account.sign_message(message)
        except ApeException as error:
            raise WalletError(f"{self.alias} could not sign: {error}") from None
        if signature is None:
            raise WalletError(f"{self.alias} did not sign (declined)")
        return "0x" + signature.encode_rsv().hex()

    def _connect(self, chain_id: int) -> None:
        if self._chain_id is not None:
            return
        from ape import networks
        from ape.exceptions import ApeException

        try:
            provider = self._connection.enter_context(networks.parse_network_choice(self.rpc_url))
            connected_to = provider.chain_id
        except (ApeException, OSError) as error:
            self._connection.close()
            raise WalletError(f"cannot reach the chain at {self.rpc_url} ({error}); set --rpc or ORRANGE_RPC_URL") from None
        if connected_to != chain_id:
            self._connection.close()
            raise WalletError(f"{self.rpc_url} is chain {connected_to}, but the platform trades on chain {chain_id}; "
                              "set --rpc or ORRANGE_RPC_URL to its RPC")
        self._chain_id = chain_id
