"""The grouped writer on real SQLite and PostgreSQL: pieces of work that queued up together
commit in one transaction; a refusal changes nothing, a lost race runs the group again, and a
piece that fails otherwise fails alone."""

import asyncio
import threading

import pytest
from sqlmodel import Session, select

from api.deps import _BUSY
from api.errors import Conflict
from api.models import MakerNonce
from api.trading import LostRace
from api.writer import GroupedWriter


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


def grouped(platform, *works):
    """Runs `works` as one group: the writer is held by a first piece until all are queued."""
    writer = GroupedWriter(platform, _BUSY)
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
