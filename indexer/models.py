"""The indexer's tables (SQLModel). `escrows`, `claimables` and `escrow_contracts` are the
read model other services query (DESIGN §4); `events`, `blocks`, `undo_log` and
`indexer_state` are the indexer's own bookkeeping.

Token amounts are uint256: NUMERIC(78, 0) on PostgreSQL, and on SQLite (whose integers
stop at 2^63 and whose NUMERIC is a float) a zero-padded 78-digit string, so that
comparisons and ORDER BY still work; both read back as Python ints.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Numeric, String, Text, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class Uint256(TypeDecorator):
    """An exact unsigned 256-bit integer column."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(78, 0))
        return dialect.type_descriptor(String(78))

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name == "postgresql":
            return value
        return sqlite_uint256(value)

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


def sqlite_uint256(value: int) -> str:
    """A uint256 as SQLite stores it (its integers stop at 2^63): 78 digits, zero-padded, so
    comparison and ORDER BY still follow the number."""
    return str(value).zfill(78)  # (a third faster than f"{value:078d}")


def uint256(nullable: bool = False):
    return Field(default=None if nullable else 0, sa_column=Column(Uint256(), nullable=nullable))


def bigint(primary_key: bool = False, nullable: bool = False, index: bool = False):
    return Field(
        default=None if nullable else 0,
        sa_column=Column(BigInteger(), primary_key=primary_key, nullable=nullable, index=index),
    )


class EscrowBase(SQLModel):
    """One escrow as the chain says it is now (DESIGN §2 `Deal` + status + where it happened)."""

    chain_id: int = Field(primary_key=True)
    contract: str = Field(primary_key=True, max_length=42)  # checksummed
    trade_id: str = Field(primary_key=True, max_length=66)  # 0x-hex, lower case
    seller: str = Field(max_length=42)
    buyer: str = Field(max_length=42)
    token: str = Field(max_length=42)  # 0x000...0 = ETH
    arbiter: str = Field(max_length=42)
    amount: int = uint256()
    fee: int = uint256()
    deadline: int = bigint()
    status: str = Field(max_length=10)  # LOCKED, PAID, RELEASED, REFUNDED, DISPUTED, RESOLVED
    locked_block: int = bigint()
    locked_tx: str = Field(max_length=66)
    locked_at: int | None = bigint(nullable=True)  # block timestamps, unix seconds
    paid_at: int | None = bigint(nullable=True)
    disputed_at: int | None = bigint(nullable=True)
    disputed_by: str | None = Field(default=None, max_length=42)
    closed_at: int | None = bigint(nullable=True)  # released, refunded or resolved
    buyer_amount: int | None = uint256(nullable=True)  # what the buyer got when it closed
    seller_amount: int | None = uint256(nullable=True)  # what went back to the seller
    fee_taken: int | None = uint256(nullable=True)
    updated_block: int = bigint()
    updated_tx: str = Field(max_length=66)
    updated_at: int | None = bigint(nullable=True)
    final: bool = Field(default=False)  # its latest change is `confirmations` blocks deep


class Escrow(EscrowBase, table=True):
    __tablename__ = "escrows"
    __table_args__ = (
        Index("ix_escrows_seller", "chain_id", "seller"),
        Index("ix_escrows_buyer", "chain_id", "buyer"),
        Index("ix_escrows_status", "chain_id", "status"),
        # Only the rows not yet final: a backfill writes settled rows, which never enter it.
        Index(
            "ix_escrows_unsettled",
            "chain_id",
            "updated_block",
            sqlite_where=text("NOT final"),
            postgresql_where=text("NOT final"),
        ),
    )


class Claimable(SQLModel, table=True):
    """What `claimable(token, account)` returns on chain: credits, and the accrued fees for the treasury."""

    __tablename__ = "claimables"
    chain_id: int = Field(primary_key=True)
    contract: str = Field(primary_key=True, max_length=42)
    token: str = Field(primary_key=True, max_length=42)
    account: str = Field(primary_key=True, max_length=42)
    amount: int = uint256()


class FeePool(SQLModel, table=True):
    """`accrued_fees(token)`: fees not yet withdrawn; they belong to whoever is treasury."""

    __tablename__ = "fee_pools"
    chain_id: int = Field(primary_key=True)
    contract: str = Field(primary_key=True, max_length=42)
    token: str = Field(primary_key=True, max_length=42)
    amount: int = uint256()


class EscrowContract(SQLModel, table=True):
    """The escrow contract's configuration, from its admin events."""

    __tablename__ = "escrow_contracts"
    chain_id: int = Field(primary_key=True)
    contract: str = Field(primary_key=True, max_length=42)
    fee_bps: int = 0
    treasury: str | None = Field(default=None, max_length=42)
    arbiter: str | None = Field(default=None, max_length=42)
    paused: bool = False


class EventRecord(SQLModel, table=True):
    """Every escrow event, raw and decoded, keyed by where it happened."""

    __tablename__ = "events"
    __table_args__ = {"sqlite_with_rowid": False}  # rows live in the primary key's b-tree: one write each
    chain_id: int = Field(primary_key=True)
    block_number: int = bigint(primary_key=True)
    log_index: int = Field(primary_key=True)
    block_hash: str = Field(max_length=66)
    tx_hash: str = Field(max_length=66)
    contract: str = Field(max_length=42)
    name: str = Field(max_length=32)
    trade_id: str | None = Field(default=None, max_length=66)  # no index: escrows is the place to look one up
    args: str = Field(sa_column=Column(Text(), nullable=False))  # JSON; ints exact


class BlockRecord(SQLModel, table=True):
    """Hashes of recent blocks, to see a reorganisation coming."""

    __tablename__ = "blocks"
    __table_args__ = {"sqlite_with_rowid": False}
    chain_id: int = Field(primary_key=True)
    number: int = bigint(primary_key=True)
    hash: str = Field(max_length=66)
    parent_hash: str = Field(max_length=66)
    timestamp: int = bigint()


class UndoRecord(SQLModel, table=True):
    """A row's image before a recent block changed it (none: the block created it);
    restoring them newest first rolls the read model back to an earlier block."""

    __tablename__ = "undo_log"
    __table_args__ = {"sqlite_with_rowid": False}
    chain_id: int = Field(primary_key=True)
    block_number: int = bigint(primary_key=True)
    seq: int = Field(primary_key=True)
    table_name: str = Field(max_length=32)
    key: str = Field(sa_column=Column(Text(), nullable=False))  # JSON
    image: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))  # JSON


class IndexerState(SQLModel, table=True):
    """The checkpoint: everything up to `indexed_block` is in the tables."""

    __tablename__ = "indexer_state"
    chain_id: int = Field(primary_key=True)
    indexed_block: int = bigint()
    indexed_hash: str | None = Field(default=None, max_length=66)
    finalized_block: int = bigint()
    head_block: int = bigint()
    updated_at: float = 0.0
