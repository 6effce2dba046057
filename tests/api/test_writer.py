"""The grouped writer on real SQLite and PostgreSQL: pieces of work that queued up together
commit in one transaction; a refusal changes nothing, a lost race runs the group again, and a
piece that fails otherwise fails alone."""

import asyncio
import contextlib
import random
import threading
from contextlib import contextmanager

import pytest
from sqlmodel import Session, select

from api import trading
from api.app import build_platform
from api.db import make_engine
from api.deps import _BUSY
from api.engine import TimeInForce
from api.errors import ApiError, Conflict
from api.models import MakerNonce, Order, Trade
from api.signing import Side
from api.trading import LostRace, Placement
from api.writer import GroupedWriter
from tests.api.conftest import make_order
from tests.conftest import postgres_database


def note(number: int, calls: list):
    """Work that writes one row of its own (a maker's nonce floor) and says it ran."""

    def work(db, _changes):
        calls.append(number)
        db.driver.execute(
            f"INSERT INTO maker_nonces (maker, floor) VALUES ({db.sql.mark}, {db.sql.mark})",
            (f"0x{number:040x}", db.sql.uint(number)),
        )
        return number

    return work


def grouped(platform, *works, writer=None):
    """Runs `works` as one group: the writer (a new one, or `writer`, left open) is held by a
    first piece until all are queued."""
    given, writer = writer, writer or GroupedWriter(platform, _BUSY)
    gate = threading.Event()

    async def main():
        held = asyncio.ensure_future(writer.write(lambda db, changes: gate.wait(10)))
        await asyncio.sleep(0.1)  # the writer took the holding piece alone
        pending = [asyncio.ensure_future(writer.write(work)) for work in works]
        await asyncio.sleep(0.05)
        gate.set()
        await held
        return await asyncio.gather(*pending, return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        if given is None:
            writer.close()


def stored(platform) -> list[int]:
    with Session(platform.engine) as session:
        return sorted(int(row.floor) for row in session.exec(select(MakerNonce)))


def test_group__a_refusal_changes_nothing_the_rest_commit(platform):
    calls = []

    def refuse(db, _changes):
        raise Conflict("no, this one")

    results = grouped(platform, note(1, calls), refuse, note(2, calls))
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], Conflict) and results[1].message == "no, this one"
    assert stored(platform) == [1, 2]
    assert calls == [1, 2]  # one transaction for the group


def test_group__a_lost_race__the_whole_group_again_each_piece_once_in_the_end(platform):
    calls, raced = [], []

    def race_once(db, changes):
        if not raced:
            raced.append(True)
            raise LostRace("a resting order changed")
        return note(3, calls)(db, changes)

    results = grouped(platform, note(1, calls), race_once, note(2, calls))
    assert results == [1, 3, 2]
    assert stored(platform) == [1, 2, 3]  # the first attempt's row 1 was rolled back, not doubled
    assert calls == [1, 1, 3, 2]


def test_group__an_unexpected_failure_fails_alone(platform):
    calls = []

    def broken(db, _changes):
        raise RuntimeError("a bug")

    results = grouped(platform, note(1, calls), broken, note(2, calls))
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], RuntimeError)
    assert stored(platform) == [1, 2]


@pytest.mark.parametrize("count", [1, 200])
def test_writes__many_at_once__each_answered(platform, count):
    calls = []

    writer = GroupedWriter(platform, _BUSY)

    async def main():
        return await asyncio.gather(*(writer.write(note(number, calls)) for number in range(count)))

    assert asyncio.run(main()) == list(range(count))
    writer.close()
    assert stored(platform) == list(range(count))


@pytest.mark.parametrize("depth", [3, trading.VIEW_DEPTH])
def test_group__placements_read_once_for_the_group__end_as_placed_one_by_one(
    platform, settings, traders, world, tmp_path, monkeypatch, depth
):
    """Random orders (both sides, a few price levels, min fills, three payment methods, GTC, IOC
    and FOK, some copies, makers over their open-order limit) placed in groups of 40 end with
    the same orders and trades, and the same refusals, as placed one at a time. On PostgreSQL a
    group reads what its placements need at once (`GroupView`); a view only 3 orders deep makes
    many of them read further in the database."""
    monkeypatch.setattr(trading, "VIEW_DEPTH", depth)
    rng = random.Random(depth)
    market, token = platform.market, world.tokens[1]
    works = []
    for index in range(160):
        wallet = rng.choice(traders)
        amount = rng.randint(1, 12) * 10**6
        order = make_order(
            wallet, token, side=rng.choice(list(Side)), amount=amount, min_fill=rng.randint(1, amount // 10**6) * 10**6,
            price=rng.randint(90, 94) * 10**8, methods=rng.sample(["SEPA", "WISE", "REVOLUT"], rng.randint(1, 2)),
            nonce=index,
        )  # fmt: skip
        digest = "0x" + order.digest(market.chain_id, market.escrow).hex()
        tif = rng.choice([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK])
        works.append(Placement(market, order, digest, "0x" + "11" * 65, tif, lock_window=600, max_open_orders=12))
        if rng.random() < 0.05:
            works.append(works[-1])  # the same order again: refused

    with other_platform(settings, tmp_path) as alone:
        one_by_one = []
        for work in works:
            try:
                one_by_one.append(_outcome(alone.write_rows(work)))
            except ApiError as refusal:
                one_by_one.append(str(refusal))
        expected = _stored(alone)
    in_groups = [
        str(outcome) if isinstance(outcome, ApiError) else _outcome(outcome)
        for start in range(0, len(works), 40)
        for outcome in grouped(platform, *works[start : start + 40])
    ]
    assert in_groups == one_by_one
    assert _stored(platform) == expected
    orders, trades = expected
    assert len(trades) > 40 and {status for *_, status, _r, _f, _v in orders} == {"OPEN", "FILLED", "CANCELLED"}


def test_group__open_orders_remembered_between_groups__a_count_that_would_refuse_is_read_again(
    platform, traders, world
):
    """A group remembers the open orders it counted for the next groups (`OpenOrders`), and a
    remembered count misses what other requests changed meanwhile: here two cancels. Before
    it refuses an order, the count is read again: the limit holds exactly, nobody is refused
    below it."""
    market, maker, limit = platform.market, traders[0], 20  # remembered while under 20 - 16

    def placement(nonce: int) -> Placement:
        order = make_order(maker, world.tokens[1], side=Side.SELL, amount=10**6, min_fill=10**6,
                           price=(100 + nonce) * 10**8, nonce=nonce)  # fmt: skip
        digest = "0x" + order.digest(market.chain_id, market.escrow).hex()
        return Placement(market, order, digest, "0x" + "11" * 65, TimeInForce.GTC, lock_window=600,
                         max_open_orders=limit)  # fmt: skip

    writer = GroupedWriter(platform, _BUSY)
    try:
        first = [placement(nonce) for nonce in range(3)]
        assert all(placed.order.status == "OPEN" for placed in grouped(platform, *first, writer=writer))
        for work in first[:2]:  # not through the writer: its remembered count stays at 3
            platform.write(lambda session, changes, work=work: trading.cancel(session, maker.address, work.order_hash,
                                                                              changes))  # fmt: skip
        second = grouped(platform, *(placement(nonce) for nonce in range(3, 23)), writer=writer)
    finally:
        writer.close()
    assert [str(outcome) if isinstance(outcome, ApiError) else "placed" for outcome in second] == ["placed"] * 19 + [
        f"a maker may have at most {limit} open orders; cancel some first"
    ]
    with Session(platform.engine) as session:
        assert len(session.exec(select(Order).where(Order.maker == maker.address, Order.status == "OPEN")).all()) == 20


@contextmanager
def other_platform(settings, tmp_path):
    """A platform like `settings`' on a database of its own (of the same kind)."""
    with contextlib.ExitStack() as stack:
        if settings.database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / 'alone.db'}"
        else:
            url = stack.enter_context(postgres_database())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        yield build_platform(settings.model_copy(update={"database_url": url}), engine)


def _outcome(placed) -> tuple:
    return placed.order.status, placed.order.remaining, [(t.order_hash, t.amount, t.payment_method) for t in placed.trades]


def _stored(platform) -> tuple[list, list]:
    with Session(platform.engine) as session:
        orders = sorted((o.hash, o.status, o.remaining, o.fills, o.version) for o in session.exec(select(Order)))
        trades = sorted(
            (t.trade_id, t.order_hash, t.fill_index, t.taker, t.amount, t.price, t.payment_method, t.fiat_amount)
            for t in session.exec(select(Trade))
        )
    return orders, trades
