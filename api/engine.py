"""The matching engine (DESIGN §5): one `Book` per (token, fiat), plain Python, no I/O.

The caller keeps a dict of books, builds a `BookOrder` from each signed order and writes what
the engine decides (fills, what rests, what left the book) to the database. Amounts are token
base units and prices fiat per whole token x 10^8, always ints.

The rules:
- Taking `x` from an order is valid iff `0 < x <= remaining` and (`x >= min_fill` or
  `x == remaining`): once less than the minimum is left, only all of it can be taken.
  `can_take` is that rule; every fill and every take goes through it.
- An incoming order meets the resting orders of the other side whose price crosses its limit
  (a BUY at P meets SELLs at <= P, lowest first; a SELL at P meets BUYs at >= P, highest
  first), oldest (lowest sequence) first at one price, and trades at the resting order's price.
  Each fill is min(incoming remaining, resting remaining) and must be valid for both orders.
  A resting order is passed over, keeping its place, when it shares no payment method with the
  incoming order, has the same maker (no self-trade), or the fill would be invalid for either
  side; the walk goes on to the next order.
- Resting orders whose expiry is at or before `now` are never matched; the book drops them
  when a walk meets them (`MatchResult.expired`; not when a FOK is undone) or on
  `expire(now)`. Until then `get`, `len` and reads without `now` still see them.
- Time in force: GTC and GTD rest what is left (GTD demands an expiry; any order's expiry is
  honoured, as a signed order is void after it), IOC drops what is left, FOK is the same walk
  committed only if it fills the whole remaining amount, and otherwise changes nothing.
- The book may stand crossed: orders that cannot trade with each other (no shared payment
  method, same maker, minimum fills) rest side by side. `add` rests an order without matching.

Inside, each side keeps its price levels best first in a sorted list of keys (the price for
SELLs, minus the price for BUYs, so both sides walk from index 0) and a dict key -> level; a
level holds its orders in sequence order. Payment methods are interned per book into int bit
masks, so sharing one is `a & b`. Orders leave a level lazily: a filled or cancelled order is
marked dead and unlinked when it reaches the level's head, or when the dead outnumber the live.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import NamedTuple

BUY = 0
"""The maker buys crypto (pays fiat)."""
SELL = 1
"""The maker sells crypto (receives fiat)."""

_NEVER = 1 << 256  # the deadline of an order without expiry: later than any uint256 time


class TimeInForce(StrEnum):
    GTC = "GTC"  # good till cancelled: what is left rests
    GTD = "GTD"  # good till date: what is left rests until the order's expiry
    IOC = "IOC"  # immediate or cancel: fill what can be filled now, drop the rest
    FOK = "FOK"  # fill or kill: fill everything now, or change nothing


_RESTS = {TimeInForce.GTC: True, TimeInForce.GTD: True, TimeInForce.IOC: False, TimeInForce.FOK: False}
_GTD = TimeInForce.GTD  # module names: looking a member up on the enum class costs more per order
_FOK = TimeInForce.FOK


class EngineError(ValueError):
    """Input the book refuses; the message says what was wrong, and the book is unchanged."""


def can_take(remaining: int, min_fill: int, amount: int) -> bool:
    """Whether `amount` may be taken from an order with `remaining` left and minimum fill
    `min_fill`: within what is left, and at least the minimum unless it is all that is left."""
    return 0 < amount <= remaining and (amount >= min_fill or amount == remaining)


def takeable(remaining: int, min_fill: int) -> str:
    """What `can_take` allows, in words: "from 10 to the remaining 90" or "exactly the remaining 5"."""
    if remaining < min_fill:
        return f"exactly the remaining {remaining}"
    return f"from {max(min_fill, 1)} to the remaining {remaining}"


class Fill(NamedTuple):
    """One trade against a resting (maker) order, at that order's price."""

    order_id: str
    maker: str
    amount: int
    price: int


class MatchResult(NamedTuple):
    """What placing an order did: its fills in the order they were made, what is left of the
    incoming order, whether that rest is now in the book, and the expired orders the walk
    met and dropped from the book."""

    fills: list[Fill]
    remaining: int
    rested: bool
    expired: list[BookOrder]


# Builds a NamedTuple from a tuple of its fields without the Python-level __new__: a third of
# the cost, which counts on the hot path.
_record = tuple.__new__


class DepthLevel(NamedTuple):
    """One price of one side of the book."""

    price: int
    amount: int  # the total remaining of the level's orders
    orders: int


class BookOrder:
    """An order as the book sees it. Once placed or added, the book owns it and updates
    `remaining`; read it, never change it.

    `sequence` gives time priority (lower is older); without one the book numbers orders as
    they arrive, after any sequence it has seen. `remaining` defaults to `amount` (give it to
    restore a partly filled order). `expiry` is unix seconds, or None for never.
    """

    __slots__ = ("id", "maker", "side", "amount", "min_fill", "remaining", "price", "payment_methods", "expiry",
                 "sequence", "_deadline", "_key", "_methods", "_level", "_live")

    def __init__(
        self,
        id: str,
        maker: str,
        side: int,
        amount: int,
        price: int,
        payment_methods: Iterable[str],
        *,
        min_fill: int = 0,
        expiry: int | None = None,
        sequence: int | None = None,
        remaining: int | None = None,
    ) -> None:
        # Exact types, so bools and floats are refused; the checks run for every order placed.
        if type(id) is not str or not id:
            raise EngineError(f"An order id must be a non-empty string, got {id!r}.")
        if type(maker) is not str or not maker:
            raise EngineError(f"Order {id}: the maker must be a non-empty address string, got {maker!r}.")
        if side != BUY and side != SELL:
            raise EngineError(f"Order {id}: side must be 0 (buy) or 1 (sell), got {side!r}.")
        if type(amount) is not int or amount <= 0:
            raise EngineError(f"Order {id}: the amount must be a positive integer of base units, got {amount!r}.")
        if type(min_fill) is not int or min_fill < 0 or min_fill > amount:
            raise EngineError(f"Order {id}: min_fill must be an integer from 0 to the amount {amount}, "
                              f"got {min_fill!r}.")
        if remaining is None:
            remaining = amount
        elif type(remaining) is not int or remaining <= 0 or remaining > amount:
            raise EngineError(f"Order {id}: remaining must be an integer from 1 to the amount {amount}, "
                              f"got {remaining!r}.")
        if type(price) is not int or price <= 0:
            raise EngineError(f"Order {id}: the price must be a positive integer (fiat x 10^8), got {price!r}.")
        if type(payment_methods) is str:
            raise EngineError(f"Order {id}: payment methods must be a collection of names, not the string "
                              f"{payment_methods!r}.")
        methods = frozenset(payment_methods)
        for method in methods:
            if type(method) is not str or not method:
                raise EngineError(f"Order {id}: a payment method must be a non-empty name, got {method!r}.")
        if not methods:
            raise EngineError(f"Order {id}: it needs at least one payment method.")
        if expiry is not None and type(expiry) is not int:
            raise EngineError(f"Order {id}: expiry must be unix seconds as an integer, got {expiry!r}.")
        if sequence is not None and type(sequence) is not int:
            raise EngineError(f"Order {id}: sequence must be an integer, got {sequence!r}.")
        self.id = id
        self.maker = maker
        self.side = SELL if side == SELL else BUY  # a plain int, also from an IntEnum
        self.amount = amount
        self.min_fill = min_fill
        self.remaining = remaining
        self.price = price
        self.payment_methods = methods
        self.expiry = expiry
        self.sequence = sequence
        self._deadline = _NEVER if expiry is None else expiry
        self._key = price if side == SELL else -price
        self._methods = 0  # set by the book that admits it
        self._level: _Level | None = None  # where it rests or rested: an order enters a book once
        self._live = False  # resting; once False, it may linger dead in its level for a while

    def __repr__(self) -> str:
        side = "BUY" if self.side == BUY else "SELL"
        return (f"BookOrder({self.id!r}, {side}, {self.remaining}/{self.amount} at {self.price}, "
                f"maker={self.maker!r}, seq={self.sequence})")


class _Level:
    """The orders at one price of one side, oldest first; dead ones linger until compacted."""

    __slots__ = ("orders", "amount", "count")

    def __init__(self) -> None:
        self.orders: deque[BookOrder] = deque()
        self.amount = 0  # total remaining of the live orders
        self.count = 0  # live orders


class Book:
    """The order book of one (token, fiat) pair."""

    def __init__(self) -> None:
        self._orders: dict[str, BookOrder] = {}
        # per side (index BUY / SELL): level keys best first, and key -> level
        self._keys: tuple[list[int], list[int]] = ([], [])
        self._levels: tuple[dict[int, _Level], dict[int, _Level]] = ({}, {})
        self._method_bits: dict[str, int] = {}
        self._next_sequence = 0

    # --- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __iter__(self) -> Iterator[BookOrder]:
        """The resting orders, in the order they entered the book."""
        return iter(list(self._orders.values()))

    def get(self, order_id: str) -> BookOrder | None:
        return self._orders.get(order_id)

    def best_price(self, side: int, *, now: int | None = None) -> int | None:
        """The best price resting on `side` (the highest BUY, the lowest SELL), or None. With
        `now`, orders expired by then do not count."""
        for level in self._walk_levels(side, now):
            return level.price
        return None

    def depth(self, side: int, *, now: int | None = None, levels: int | None = None) -> list[DepthLevel]:
        """The price levels of `side`, best first, each with its total remaining and number of
        orders; at most `levels` of them. With `now`, orders expired by then do not count."""
        result = []
        for level in self._walk_levels(side, now):
            if levels is not None and len(result) >= levels:
                break
            result.append(level)
        return result

    def _walk_levels(self, side: int, now: int | None) -> Iterator[DepthLevel]:
        if side != BUY and side != SELL:
            raise EngineError(f"A side is 0 (buy) or 1 (sell), got {side!r}.")
        sign = 1 if side == SELL else -1
        levels = self._levels[side]
        for key in self._keys[side]:
            level = levels[key]
            if now is None:
                yield DepthLevel(sign * key, level.amount, level.count)
                continue
            amount = count = 0
            for order in level.orders:
                if order._live and order._deadline > now:
                    amount += order.remaining
                    count += 1
            if count:
                yield DepthLevel(sign * key, amount, count)

    # --- changing --------------------------------------------------------------------------

    def place(self, order: BookOrder, tif: TimeInForce | str = TimeInForce.GTC, *, now: int) -> MatchResult:
        """Match `order` against the other side by price-time priority, then rest, drop or
        (FOK that cannot fill entirely) undo according to `tif`."""
        rests = _RESTS.get(tif)
        if rests is None:
            raise EngineError(f"Order {order.id}: time in force must be one of GTC, GTD, IOC, FOK, got {tif!r}.")
        if tif == _GTD and order.expiry is None:
            raise EngineError(f"Order {order.id}: a GTD order needs an expiry.")
        self._admit(order, now)

        remaining = order.remaining
        min_fill = order.min_fill
        maker = order.maker
        methods = order._methods
        limit = -order._key  # the incoming price as a key of the other side
        opposite = 1 - order.side
        levels = self._levels[opposite]
        matched: list[tuple[BookOrder, int]] = []
        expired: list[BookOrder] = []
        for key in self._keys[opposite]:
            if key > limit:
                break
            for resting in levels[key].orders:
                if not resting._live:
                    continue
                if resting._deadline <= now:
                    expired.append(resting)
                    continue
                if resting.maker == maker or not resting._methods & methods:
                    continue
                available = resting.remaining
                amount = available if available < remaining else remaining
                if can_take(available, resting.min_fill, amount) and can_take(remaining, min_fill, amount):
                    matched.append((resting, amount))
                    remaining -= amount
                    if not remaining:
                        break
            if not remaining:
                break

        if remaining and tif == _FOK:
            return _record(MatchResult, ([], order.remaining, False, []))
        for resting in expired:
            self._unlink(resting)
        fills = []
        for resting, amount in matched:
            fills.append(_record(Fill, (resting.id, resting.maker, amount, resting.price)))
            self._reduce(resting, amount)
        order.remaining = remaining
        rested = rests and remaining > 0
        if rested:
            self._link(order)
        return _record(MatchResult, (fills, remaining, rested, expired))

    def add(self, order: BookOrder, *, now: int) -> BookOrder:
        """Rest `order` without matching it (restoring a book, or an ad that must not trade
        on arrival)."""
        self._admit(order, now)
        self._link(order)
        return order

    def take(self, order_id: str, amount: int, *, now: int, taker: str | None = None) -> Fill:
        """Take `amount` of the resting order `order_id` (the P2P way: a taker names an ad),
        refused if it expired, if `taker` is its maker, or if `can_take` says no."""
        order = self._orders.get(order_id)
        if order is None:
            raise EngineError(f"There is no order {order_id} in this book.")
        if order._deadline <= now:
            raise EngineError(f"Order {order_id} expired at {order.expiry}.")
        if taker is not None and taker == order.maker:
            raise EngineError(f"Order {order_id} is the taker's own order.")
        if type(amount) is not int or not can_take(order.remaining, order.min_fill, amount):
            raise EngineError(f"Order {order_id}: the amount taken must be "
                              f"{takeable(order.remaining, order.min_fill)}, got {amount!r}.")
        self._reduce(order, amount)
        return Fill(order.id, order.maker, amount, order.price)

    def cancel(self, order_id: str) -> BookOrder:
        """Remove a resting order; it is returned with what was left of it."""
        order = self._orders.get(order_id)
        if order is None:
            raise EngineError(f"There is no order {order_id} in this book.")
        self._unlink(order)
        return order

    def cancel_maker(self, maker: str) -> list[BookOrder]:
        """Remove every resting order of `maker`, oldest first in arrival order."""
        # A scan: rare, and cheaper than a per-maker index kept up on every order.
        orders = [order for order in self._orders.values() if order.maker == maker]
        for order in orders:
            self._unlink(order)
        return orders

    def expire(self, now: int) -> list[BookOrder]:
        """Remove the orders whose expiry is at or before `now`."""
        expired = [order for order in self._orders.values() if order._deadline <= now]
        for order in expired:
            self._unlink(order)
        return expired

    # --- inside ----------------------------------------------------------------------------

    def _admit(self, order: BookOrder, now: int) -> None:
        """Check what the order alone cannot: that it is new here, not expired and not used up;
        give it this book's payment-method mask."""
        if order.id in self._orders:
            raise EngineError(f"Order {order.id} is already in this book.")
        if order._level is not None:
            raise EngineError(f"Order {order.id} has already been in a book; place a new BookOrder.")
        if order._deadline <= now:
            raise EngineError(f"Order {order.id} expired at {order.expiry}, not after now ({now}).")
        if order.remaining <= 0:
            raise EngineError(f"Order {order.id} has nothing left to trade.")
        methods = 0
        bits = self._method_bits
        for method in order.payment_methods:
            bit = bits.get(method)
            if bit is None:
                bit = bits[method] = 1 << len(bits)
            methods |= bit
        order._methods = methods

    def _link(self, order: BookOrder) -> None:
        if order.sequence is None:
            order.sequence = self._next_sequence
            self._next_sequence += 1
        elif order.sequence >= self._next_sequence:
            self._next_sequence = order.sequence + 1
        side = order.side
        key = order._key
        levels = self._levels[side]
        level = levels.get(key)
        if level is None:
            level = levels[key] = _Level()
            insort(self._keys[side], key)
        queue = level.orders
        if queue and queue[-1].sequence > order.sequence:  # an older order restored late
            queue.insert(bisect_right(queue, order.sequence, key=_sequence), order)
        else:
            queue.append(order)
        level.amount += order.remaining
        level.count += 1
        order._level = level
        order._live = True
        self._orders[order.id] = order

    def _reduce(self, order: BookOrder, amount: int) -> None:
        if amount == order.remaining:
            self._unlink(order)
            order.remaining = 0
        else:
            order.remaining -= amount
            order._level.amount -= amount

    def _unlink(self, order: BookOrder) -> None:
        order._live = False
        del self._orders[order.id]
        level = order._level
        level.count -= 1
        if not level.count:
            side = order.side
            key = order._key
            del self._levels[side][key]
            keys = self._keys[side]
            del keys[bisect_left(keys, key)]
            return
        level.amount -= order.remaining
        queue = level.orders
        while not queue[0]._live:
            queue.popleft()
        if len(queue) > 2 * level.count:  # as many dead as live behind a live head: compact
            level.orders = deque(resting for resting in queue if resting._live)


def _sequence(order: BookOrder) -> int:
    return order.sequence
