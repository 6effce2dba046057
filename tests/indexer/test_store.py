"""The store on its own, on each database: what a batch writes reads back exactly, through the
pipeline's bulk paths (PostgreSQL's binary COPY, SQLite's executemany) as through the upsert."""

from indexer.decode import Event
from indexer.models import Escrow, EventRecord
from indexer.store import Store

MAX_UINT = 2**256 - 1
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SELLER, BUYER, TOKEN, ARBITER = (f"0x{n:040x}" for n in (0xA1, 0xB2, 0xC3, 0xD4))


def _event(name: str, block: int, index: int, **args) -> Event:
    return Event(name=name, contract=CONTRACT, block_number=block, block_hash=f"0x{block:064x}", log_index=index,
                 tx_hash=f"0x{block * 100 + index:064x}", timestamp=1_700_000_000 + block, args=args)  # fmt: skip


def test_pipeline__extreme_amounts__read_back_exactly(engine):
    trade = "0x" + "ab" * 32
    locked = _event("Locked", 10, 0, trade_id=trade, seller=SELLER, buyer=BUYER, token=TOKEN, amount=MAX_UINT,
                    fee=MAX_UINT - 1, arbiter=ARBITER, deadline=2**63 - 1)  # fmt: skip
    paid = _event("Paid", 11, 0, trade_id=trade, buyer=BUYER)
    store = Store(engine, 31337)
    where = {"head": 20, "undo_from": 0, "confirmations": 0, "reorg_depth": 4}
    with store.pipeline() as writer:
        assert writer.write([locked], to_block=10, to_hash=None, **where) == 1  # a new row: COPY on PostgreSQL
        assert writer.write([paid], to_block=11, to_hash=None, **where) == 1  # then the upsert
    with engine.connect() as conn:
        row = conn.execute(Escrow.__table__.select()).one()._mapping
        stored = conn.execute(EventRecord.__table__.select().order_by(EventRecord.block_number)).all()
    assert (row["amount"], row["fee"], row["deadline"]) == (MAX_UINT, MAX_UINT - 1, 2**63 - 1)
    assert (row["status"], row["paid_at"], row["updated_block"], row["final"]) == ("PAID", 1_700_000_011, 11, True)
    assert [(r.block_number, r.name, r.trade_id, r.tx_hash) for r in stored] == [
        (10, "Locked", trade, locked.tx_hash),
        (11, "Paid", trade, paid.tx_hash),
    ]
    assert f'"amount":{MAX_UINT}' in stored[0].args  # JSON with the exact integer
