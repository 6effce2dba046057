"""One root for every error Orrange raises on purpose, so callers (the CLI, the API)
can tell a known failure, which has a sentence for the user, from a bug."""


class OrrangeError(Exception):
    """Root of Orrange's own errors; the message is meant for a person."""


class RpcError(OrrangeError):
    """The JSON-RPC endpoint answered with an error that retrying won't fix."""


class TransientRpcError(RpcError):
    """A fault worth retrying: timeout, 429, 5xx, dropped connection, a node behind."""


class RpcTimeout(TransientRpcError):
    """The endpoint did not answer in time."""


class RangeTooLarge(RpcError):
    """`eth_getLogs` refused the range (too many results, response too big, timed out).

    `suggested` is the (from, to) range the provider proposed in its error, if any."""

    def __init__(self, message: str, suggested: tuple[int, int] | None = None):
        super().__init__(message)
        self.suggested = suggested


class ChainMoved(TransientRpcError):
    """Blocks read together don't link up (a reorganisation while they were read): read again."""


class ReorgTooDeep(OrrangeError):
    """The chain replaced blocks older than the indexer keeps hashes for: it won't guess."""


class LeadershipLost(OrrangeError):
    """This indexer no longer holds its chain's lock: another may be indexing now."""


class SettingsError(OrrangeError):
    """An `ORRANGE_*` variable (or `.env` line, or option) has a value the settings refuse."""
