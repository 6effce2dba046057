"""The API's tables (SQLModel), beside the indexer's read model (`indexer.models`), which it
only reads. Token amounts are exact uint256 columns; prices are 10^8-scaled integers;
timestamps are unix seconds."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from indexer.models import bigint, uint256


class LoginNonce(SQLModel, table=True):
    """A Sign-In with Ethereum nonce the server handed out: usable once, until it expires."""

    __tablename__ = "login_nonces"
    nonce: str = Field(primary_key=True, max_length=64)
    expires_at: int = bigint()


class AuthSession(SQLModel, table=True):
    """One login. Access and refresh tokens name it; logging out revokes it and all its tokens."""

    __tablename__ = "auth_sessions"
    id: str = Field(primary_key=True, max_length=32)
    address: str = Field(max_length=42, index=True)
    created_at: int = bigint()
    revoked: bool = False


class RefreshToken(SQLModel, table=True):
    """A refresh token (its SHA-256: the token itself is never stored). Each is used once: refreshing
    gives a new one, and presenting a used one again revokes the whole session (it was stolen)."""

    __tablename__ = "refresh_tokens"
    token_hash: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=32, index=True)
    expires_at: int = bigint()
    used: bool = False


class MakerNonce(SQLModel, table=True):
    """A maker's nonce floor: every order of theirs with a lower nonce is cancelled (Seaport's counter)."""

    __tablename__ = "maker_nonces"
    maker: str = Field(primary_key=True, max_length=42)
    floor: int = uint256()


class OrderBase(SQLModel):
    maker: str = Field(max_length=42)
    side: int  # 0: the maker buys crypto, 1: the maker sells crypto
    token: str = Field(max_length=42)
    amount: int = uint256()
    min_fill: int = uint256()
    price: int = bigint()  # fiat per whole token x 10^8
    fiat: str = Field(max_length=3)
    payment_methods: str = Field(sa_column=Column(Text(), nullable=False))  # JSON list, as signed
    expiry: int = bigint()
    nonce: int = uint256()


class Order(OrderBase, table=True):
    """A signed ad. `seq` orders the book in time (oldest first at one price); `version` changes
    with every fill, so two takers racing for the same remainder can't both have it."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_book", "token", "fiat", "side", "status", "price", "seq"),
        Index("ix_orders_maker", "maker", "status"),
    )
    seq: int | None = Field(  # SQLite counts rows only in an INTEGER PRIMARY KEY
        default=None, sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    )
    hash: str = Field(max_length=66, unique=True)
    signature: str = Field(sa_column=Column(Text(), nullable=False))
    time_in_force: str = Field(max_length=3)
    status: str = Field(max_length=9)  # OPEN, FILLED, CANCELLED, EXPIRED
    remaining: int = uint256()
    fills: int = 0  # trades made from it so far: the next fill's index
    version: int = 0
    created_at: int = bigint()


# Bids are read best first, the highest price and then the oldest: an index in that order
# serves them by a forward scan (ix_orders_book, read backwards, gives the newest first at a
# price, and the whole crossing side would be sorted to find the best few).
Index("ix_orders_bids", Order.token, Order.fiat, Order.side, Order.status, Order.price.desc(), Order.seq)


class Trade(SQLModel, table=True):
    """One fill of an order, walking DESIGN §5's machine. Its on-chain steps are copied from
    the indexer's `escrows` row under `trade_id`."""

    __tablename__ = "trades"
    __table_args__ = (
        Index("ix_trades_seller", "seller", "created_at"),
        Index("ix_trades_buyer", "buyer", "created_at"),
        Index("ix_trades_status", "status"),
    )
    trade_id: str = Field(primary_key=True, max_length=66)  # 0x-hex, lower case: the escrow's key
    order_hash: str = Field(max_length=66, index=True)
    fill_index: int
    maker: str = Field(max_length=42)
    taker: str = Field(max_length=42)
    seller: str = Field(max_length=42)
    buyer: str = Field(max_length=42)
    token: str = Field(max_length=42)
    amount: int = uint256()
    price: int = bigint()
    fiat: str = Field(max_length=3)
    fiat_amount: str = Field(max_length=40)  # Decimal, to the currency's precision
    payment_method: str = Field(max_length=40)
    status: str = Field(max_length=13)
    flag: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    lock_deadline: int = bigint()  # the seller must lock before this
    deadline_passed: bool = False  # the escrow's payment deadline passed while LOCKED (the seller may refund)
    created_at: int = bigint()
    updated_at: int = bigint()


class Webhook(SQLModel, table=True):
    """An integrator's URL that receives the trade events of `owner`'s trades, signed with `secret`."""

    __tablename__ = "webhooks"
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=42, index=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=64)
    created_at: int = bigint()


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one event for one webhook, written in the transaction that made the change,
    sent afterwards and retried with backoff until it is taken or attempts run out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "delivered", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(index=True)
    payload: str = Field(sa_column=Column(Text(), nullable=False))  # JSON, exactly the signed body
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered: bool = False  # taken by the receiver, or given up on (see last_error)
    last_error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
