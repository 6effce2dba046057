"""Matching-engine throughput: orders placed and matched per second, in one process.

    python bench/engine.py            [--takers 200000] [--runs 3] [--baseline-takers 200]

A synthetic USDT/EUR book (fixed seed): 10,000 resting ads around a mid price, over up to 300
price levels per side (dense near the mid), one to three of six payment methods each, 2,000
makers, some with a minimum fill. Then a stream of takers of random side and size (one to three
ads' worth), priced 3 to 15 ticks through the best price on the other side, as IOC, FOK or GTC;
after each taker, new ads near the mid bring the book back to 10,000. Every order, taker or ad,
is built and placed through `Book.place` inside the timed loop, so "orders/s" counts both;
"takers/s" is the same time per taker.

The baseline, measured in the same run, is `ReferenceBook` below: the rules written as plainly
as possible (a list and a full sort per order), which is also the oracle of
tests/api/test_engine.py. It runs the first `--baseline-takers` takers of the same stream on
the same 10,000-order book, and the engine's fills on that prefix must equal its fills.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.engine import BUY, SELL, Book, BookOrder  # noqa: E402

DEPTH = 10_000
MID = 92_000_000  # 0.92 EUR per USDT, x 10^8
TICK = 10_000  # 0.0001 EUR
PRICE_LEVELS = 300  # per side at most
UNIT = 10**6  # USDT base units
METHODS = ("SEPA", "REVOLUT", "WISE", "PAYPAL", "SWIFT", "N26")
MAKERS = tuple(f"0x{index:040x}" for index in range(1, 2_001))
NOW = 1_750_000_000
EXPIRY = NOW + 30 * 86_400  # every signed order has one; none passes during the run

# The fields of an order, in BookOrder's positional order then min_fill and expiry.
Spec = tuple[str, str, int, int, int, tuple[str, ...], int, int | None]
# A taker's order without its price, how far past the best price of the other side it goes,
# and its time in force: takers price off the book as they find it.
Taker = tuple[Spec, int, str]


# --- the baseline and test oracle -----------------------------------------------------------

@dataclass
class ReferenceOrder:
    id: str
    maker: str
    side: int
    amount: int
    price: int
    payment_methods: frozenset[str]
    min_fill: int
    expiry: int | None
    sequence: int | None
    remaining: int


class ReferenceBook:
    """The matching rules of api/engine.py written as plainly as possible: every order in one
    list, and for each incoming order a full sort of what crosses it. Slow on purpose and
    independent of the engine: it restates the rules rather than importing them. Expired orders
    count as gone everywhere. Input is assumed valid apart from ids and amounts."""

    def __init__(self) -> None:
        self.orders: list[ReferenceOrder] = []
        self.next_sequence = 0

    @staticmethod
    def valid_take(remaining: int, min_fill: int, amount: int) -> bool:
        return 0 < amount <= remaining and (amount >= min_fill or amount == remaining)

    @staticmethod
    def is_expired(order: ReferenceOrder, now: int) -> bool:
        return order.expiry is not None and order.expiry <= now

    def live(self, now: int) -> list[ReferenceOrder]:
        return [order for order in self.orders if not self.is_expired(order, now)]

    def find(self, order_id: str, now: int) -> ReferenceOrder:
        for order in self.live(now):
            if order.id == order_id:
                return order
        raise ValueError(f"no order {order_id}")

    def place(self, spec: Spec, tif: str, now: int, sequence: int | None = None) -> tuple[list, int, bool]:
        """Returns (fills as (order id, maker, amount, price), remaining, rested)."""
        order = self._new(spec, sequence, now)
        if order.side == BUY:
            crossing = [resting for resting in self.orders if resting.side == SELL and resting.price <= order.price]
            crossing.sort(key=lambda resting: (resting.price, resting.sequence))
        else:
            crossing = [resting for resting in self.orders if resting.side == BUY and resting.price >= order.price]
            crossing.sort(key=lambda resting: (-resting.price, resting.sequence))
        remaining = order.remaining
        matched = []
        for resting in crossing:
            if remaining == 0:
                break
            if self.is_expired(resting, now) or resting.maker == order.maker:
                continue
            if not resting.payment_methods & order.payment_methods:
                continue
            amount = min(remaining, resting.remaining)
            if self.valid_take(resting.remaining, resting.min_fill, amount) and self.valid_take(
                remaining, order.min_fill, amount
            ):
                matched.append((resting, amount))
                remaining -= amount
        if tif == "FOK" and remaining > 0:
            return [], order.remaining, False
        fills = []
        for resting, amount in matched:
            fills.append((resting.id, resting.maker, amount, resting.price))
            resting.remaining -= amount
        self.orders = [resting for resting in self.orders if resting.remaining > 0]
        order.remaining = remaining
        rested = tif in ("GTC", "GTD") and remaining > 0
        if rested:
            self._rest(order)
        return fills, remaining, rested

    def add(self, spec: Spec, now: int, sequence: int | None = None) -> None:
        self._rest(self._new(spec, sequence, now))

    def take(self, order_id: str, amount: int, now: int, taker: str | None = None) -> tuple:
        order = self.find(order_id, now)
        if taker == order.maker or not self.valid_take(order.remaining, order.min_fill, amount):
            raise ValueError("invalid take")
        order.remaining -= amount
        self.orders = [resting for resting in self.orders if resting.remaining > 0]
        return order.id, order.maker, amount, order.price

    def cancel(self, order_id: str, now: int) -> None:
        order = self.find(order_id, now)
        self.orders.remove(order)

    def cancel_maker(self, maker: str) -> None:
        self.orders = [order for order in self.orders if order.maker != maker]

    def remaining_by_id(self, now: int) -> dict[str, int]:
        return {order.id: order.remaining for order in self.live(now)}

    def depth(self, side: int, now: int) -> list[tuple[int, int, int]]:
        """(price, total remaining, orders) per price, best first."""
        levels: dict[int, list[int]] = {}
        for order in self.live(now):
            if order.side == side:
                level = levels.setdefault(order.price, [0, 0])
                level[0] += order.remaining
                level[1] += 1
        return [(price, *levels[price]) for price in sorted(levels, reverse=side == BUY)]

    def _new(self, spec: Spec, sequence: int | None, now: int) -> ReferenceOrder:
        order_id, maker, side, amount, price, methods, min_fill, expiry = spec
        if any(order.id == order_id for order in self.live(now)):
            raise ValueError(f"duplicate order {order_id}")
        if expiry is not None and expiry <= now:
            raise ValueError(f"order {order_id} expired")
        return ReferenceOrder(order_id, maker, side, amount, price, frozenset(methods), min_fill, expiry, sequence,
                              amount)

    def _rest(self, order: ReferenceOrder) -> None:
        if order.sequence is None:
            order.sequence = self.next_sequence
        self.next_sequence = max(self.next_sequence, order.sequence + 1)
        self.orders.append(order)


# --- the synthetic flow ---------------------------------------------------------------------

@dataclass
class Flow:
    book: list[Spec]  # the initial 10,000 ads
    takers: list[Taker]
    refills: list[Spec]  # ads to bring the book back to depth, used in turn


def make_flow(takers: int, seed: int = 20_250_601) -> Flow:
    rng = random.Random(seed)
    serial = 0

    def spec(side: int, price: int, amount: int, min_fill: int) -> Spec:
        nonlocal serial
        serial += 1
        methods = tuple(rng.sample(METHODS, rng.randint(1, 3)))
        return (f"0x{serial:064x}", rng.choice(MAKERS), side, amount, price, methods, min_fill, EXPIRY)

    def ad_size() -> int:
        return rng.randint(100, 2_000) * UNIT

    def ad(mean_ticks: float) -> Spec:
        side = rng.randrange(2)
        ticks = 1 + min(int(rng.expovariate(1 / mean_ticks)), PRICE_LEVELS - 1)  # dense near the mid
        price = MID - ticks * TICK if side == BUY else MID + ticks * TICK
        amount = ad_size()
        min_fill = 0 if rng.random() < 0.7 else amount // 10 * rng.randint(1, 3)
        return spec(side, price, amount, min_fill)

    def taker() -> Taker:
        side = rng.randrange(2)
        amount = sum(ad_size() for _ in range(rng.randint(1, 3)))
        tif = rng.choices(("IOC", "FOK", "GTC"), weights=(6, 2, 2))[0]
        return spec(side, 0, amount, 0), rng.randint(3, 15) * TICK, tif

    book = [ad(60) for _ in range(DEPTH)]
    flow = [taker() for _ in range(takers)]
    # Makers re-quote near the mid, where the takers trade; the deep ads mostly stay.
    refills = [ad(4) for _ in range(2 * takers + DEPTH)]  # more than the takers use up (about 1.5 each)
    return Flow(book, flow, refills)


# --- running it -----------------------------------------------------------------------------

@dataclass
class Venue:
    place: Callable[[Spec, str], list]  # returns the fills
    size: Callable[[], int]
    best_price: Callable[[int], int | None]


def drive(venue: Venue, flow: Flow, takers: int, *, keep: bool = False) -> tuple[float, int, list]:
    """Run the first `takers` takers of `flow` against `venue` (its initial book placed);
    returns (seconds spent placing, placements, per taker its fills if `keep`, else their
    number). Only the placements are timed (building each order included), not the takers'
    look at the best price."""
    refills = iter(flow.refills)
    fills = []
    placements = 0
    seconds = 0.0
    gc.collect()
    clock = time.perf_counter
    for spec, reach, tif in flow.takers[:takers]:
        side = spec[2]
        best = venue.best_price(1 - side)
        if best is None:
            best = MID
        spec = (*spec[:4], best + reach if side == BUY else best - reach, *spec[5:])
        start = clock()
        taker_fills = venue.place(spec, tif)
        placements += 1
        while venue.size() < DEPTH:
            venue.place(next(refills), "GTC")
            placements += 1
        seconds += clock() - start
        fills.append(taker_fills if keep else len(taker_fills))
    return seconds, placements, fills


def engine_venue(initial: Iterable[Spec]) -> Venue:
    book = Book()

    def place(spec: Spec, tif: str) -> list:
        order_id, maker, side, amount, price, methods, min_fill, expiry = spec
        order = BookOrder(order_id, maker, side, amount, price, methods, min_fill=min_fill, expiry=expiry)
        return book.place(order, tif, now=NOW).fills

    for spec in initial:
        place(spec, "GTC")
    return Venue(place, book.__len__, book.best_price)


def reference_venue(initial: Iterable[Spec]) -> Venue:
    book = ReferenceBook()

    def place(spec: Spec, tif: str) -> list:
        return book.place(spec, tif, NOW)[0]

    def best_price(side: int) -> int | None:
        levels = book.depth(side, NOW)
        return levels[0][0] if levels else None

    for spec in initial:
        place(spec, "GTC")
    return Venue(place, lambda: len(book.orders), best_price)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-takers", type=int, default=200)
    args = parser.parse_args()

    flow = make_flow(max(args.takers, args.baseline_takers))

    baseline_seconds, baseline_orders, reference_fills = drive(
        reference_venue(flow.book), flow, args.baseline_takers, keep=True
    )
    _, _, engine_fills = drive(engine_venue(flow.book), flow, args.baseline_takers, keep=True)
    if engine_fills != reference_fills:
        sys.exit("the engine's fills differ from the baseline's on the same input")
    seconds, orders, fills = min(drive(engine_venue(flow.book), flow, args.takers) for _ in range(args.runs))

    baseline = baseline_orders / baseline_seconds
    rate = orders / seconds
    print(f"flow: {DEPTH:,} resting ads; takers (IOC 6 : FOK 2 : GTC 2), each followed by the new ads that bring "
          f"the book back to {DEPTH:,}; {sum(fills) / args.takers:.2f} fills per taker")
    print(f"baseline, ReferenceBook, the first {args.baseline_takers:,} takers ({baseline_orders:,} orders): "
          f"{baseline:,.0f} orders/s placed and matched ({args.baseline_takers / baseline_seconds:,.0f} takers/s)")
    print(f"engine, Book, {args.takers:,} takers ({orders:,} orders), best of {args.runs}: {rate:,.0f} orders/s "
          f"placed and matched ({args.takers / seconds:,.0f} takers/s)")
    print(f"engine / baseline: {rate / baseline:,.0f}x")


if __name__ == "__main__":
    main()
