"""The indexer's pure parts, without a chain or a database: error classification, range
sizing, log decoding, bloom checks, and the handlers' fold."""

import pytest
from eth_utils import keccak

from indexer.decode import EventDecoder, bloom_bits, bloom_may_contain
from indexer.errors import RangeTooLarge, RpcError, TransientRpcError
from indexer.fetch import LogFetcher, LogRange, _read_ahead, block_batches
from indexer.handlers import CLAIMABLE, ESCROW, FEE_POOL, BatchState, apply
from indexer.rpc import classify

ESCROW_ABI_EVENTS = [
    {
        "type": "event",
        "name": "Locked",
        "anonymous": False,
        "inputs": [
            {"name": "trade_id", "type": "bytes32", "indexed": True},
            {"name": "seller", "type": "address", "indexed": True},
            {"name": "buyer", "type": "address", "indexed": True},
            {"name": "token", "type": "address", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
            {"name": "fee", "type": "uint256", "indexed": False},
            {"name": "arbiter", "type": "address", "indexed": False},
            {"name": "deadline", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Note",
        "anonymous": False,
        "inputs": [{"name": "text", "type": "string", "indexed": False}],
    },
]


# --- classify --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, suggested",
    [
        ("query returned more than 10000 results", None),
        ("query returned more than 10000 results. Try with this block range [0x10, 0x1f].", (16, 31)),
        ("Log response size exceeded. this block range should work: [0x1, 0x2]", (1, 2)),
        ("block range is too wide", None),
        ("eth_getLogs is limited to a 10,000 range", None),
        ("query timeout exceeded", None),
    ],
)
def test_classify__too_large__says_so_with_the_hint(message, suggested):
    error = classify({"code": -32005, "message": message})
    assert isinstance(error, RangeTooLarge) and error.suggested == suggested


@pytest.mark.parametrize("message", ["rate limit exceeded", "Too Many Requests", "header not found"])
def test_classify__transient(message):
    assert isinstance(classify({"code": -32000, "message": message}), TransientRpcError)


def test_classify__anything_else__plain_error():
    error = classify({"code": -32602, "message": "invalid argument 0: hex string has odd length"})
    assert type(error) is RpcError and "odd length" in str(error)


# --- range sizing ------------------------------------------------------------------------------


def fetcher(**options) -> LogFetcher:
    return LogFetcher(rpc=None, addresses=[], topics=[], **options)


def test_range__refused__halves():
    f = fetcher(initial_range=1000)
    f._shrink(100, 1099, RangeTooLarge("too many"))
    assert f.span == 500


def test_range__refused_with_good_hint__takes_the_hint():
    f = fetcher(initial_range=1000)
    f._shrink(100, 1099, RangeTooLarge("too many", suggested=(100, 349)))
    assert f.span == 250


@pytest.mark.parametrize("hint", [(100, 5000), (50, 200), (100, 1099)])
def test_range__refused_with_useless_hint__halves_instead(hint):
    f = fetcher(initial_range=1000)
    f._shrink(100, 1099, RangeTooLarge("too many", suggested=hint))
    assert f.span == 500


def test_range__fast_and_sparse__grows_up_to_the_cap():
    f = fetcher(initial_range=100, max_range=1000, target_logs=2000)
    for _ in range(5):
        f._adapt(f.span, count=10, seconds=0.01)
    assert f.span == 1000


def test_range__dense__follows_the_density():
    f = fetcher(initial_range=1000, target_logs=2000)
    f._adapt(1000, count=8000, seconds=0.01)
    assert f.span == 250


def test_range__slow__does_not_grow():
    f = fetcher(initial_range=100, fast_seconds=1.0)
    f._adapt(100, count=10, seconds=2.0)
    assert f.span == 100


# --- batches for the writer ------------------------------------------------------------------


def logs_in(blocks: dict[int, int]) -> list[dict]:
    return [{"blockNumber": hex(number), "logIndex": hex(i)} for number, count in blocks.items() for i in range(count)]


@pytest.mark.parametrize(
    "blocks",
    [{}, {5: 3}, {1: 2, 2: 2, 3: 2, 4: 2, 5: 2}, {3: 1, 4: 9, 7: 1, 8: 1}, {2: 4, 3: 4}, {1: 1, 9: 12}],
)
def test_block_batches__cover_the_range_cut_between_blocks(blocks):
    log_range = LogRange(1, 10, logs_in(blocks))
    batches = list(block_batches(log_range, size=4))
    assert batches[0][0] == 1 and batches[-1][1] == 10
    assert all(later[0] == earlier[1] + 1 for earlier, later in zip(batches, batches[1:]))  # contiguous
    assert [item for _, _, logs in batches for item in logs] == log_range.logs  # every log once, in order
    for first, last, logs in batches:
        assert all(first <= int(item["blockNumber"], 16) <= last for item in logs)
        if len({item["blockNumber"] for item in logs}) > 1:
            assert len(logs) < 4 + max(blocks.values())  # only a block's own size stretches a batch


def test_block_batches__a_dense_range__several_batches():
    batches = list(block_batches(LogRange(1, 10, logs_in({n: 3 for n in range(1, 11)})), size=6))
    assert [(first, last, len(logs)) for first, last, logs in batches] == [(1, 2, 6), (3, 4, 6), (5, 6, 6), (7, 8, 6), (9, 10, 6)]


def test_read_ahead__consumer_stops__thread_ends():
    import threading
    import time

    def endless():
        n = 0
        while True:
            n += 1
            yield n

    before = threading.active_count()
    items = _read_ahead(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [1, 2, 3]
    items.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


def test_read_ahead__producer_fails__consumer_raises():
    def failing():
        yield 1
        raise RpcError("node gone")

    items = _read_ahead(failing())
    assert next(items) == 1
    with pytest.raises(RpcError, match="node gone"):
        next(items)


# --- decoding ----------------------------------------------------------------------------------


def word(value: int | str) -> str:
    return (hex(value)[2:] if isinstance(value, int) else value.lower().removeprefix("0x")).rjust(64, "0")


SELLER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BUYER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def locked_log(amount: int = 10**30) -> dict:
    topic0 = "0x" + keccak(text="Locked(bytes32,address,address,address,uint256,uint256,address,uint256)").hex()
    return {
        "address": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "topics": [topic0, "0x" + word(7), "0x" + word(SELLER), "0x" + word(BUYER)],
        "data": "0x" + word(0) + word(amount) + word(5) + word(SELLER) + word(1_700_000_600),
        "blockNumber": "0x10",
        "blockHash": "0x" + "AB" * 32,
        "logIndex": "0x3",
        "transactionHash": "0x" + "cd" * 32,
        "blockTimestamp": "0x6553f100",
    }


def test_decode__locked__every_field_exact():
    event = EventDecoder(ESCROW_ABI_EVENTS).decode(locked_log())
    assert event.name == "Locked"
    assert event.contract == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert (event.block_number, event.log_index, event.timestamp) == (16, 3, 0x6553F100)
    assert event.block_hash == "0x" + "ab" * 32  # lower case, whatever the node sent
    assert event.args == {
        "trade_id": "0x" + word(7),
        "seller": SELLER,
        "buyer": BUYER,
        "token": "0x0000000000000000000000000000000000000000",
        "amount": 10**30,
        "fee": 5,
        "arbiter": SELLER,
        "deadline": 1_700_000_600,
    }


def test_decode__dynamic_field__falls_back_to_eth_abi():
    from eth_abi import encode

    log = {**locked_log(), "topics": ["0x" + keccak(text="Note(string)").hex()], "data": "0x" + encode(["string"], ["hi"]).hex()}
    assert EventDecoder(ESCROW_ABI_EVENTS).decode(log).args == {"text": "hi"}


def test_decode__unknown_event__none():
    assert EventDecoder(ESCROW_ABI_EVENTS).decode({**locked_log(), "topics": ["0x" + "00" * 32]}) is None


def test_bloom__says_no_only_when_sure():
    address = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
    bits = bloom_bits(address)
    bloom = 0
    for bit in bits:
        bloom |= 1 << bit
    assert bloom_may_contain(hex(bloom), bits)
    assert not bloom_may_contain("0x" + "00" * 256, bits)


# --- handlers ----------------------------------------------------------------------------------


def fold(events, undo_from=10**9, contract_row=None):
    state = BatchState(31337, load=lambda table, key: contract_row if table == "escrow_contracts" else None,
                       pools_of=lambda contract: {}, undo_from=undo_from)  # fmt: skip
    for event in events:
        apply(state, event)
    return state


def event(name, block=16, **args):
    from indexer.decode import Event

    return Event(name, "0xC", block, "0xh", 0, "0xt", 1000 + block, args)


def test_handlers__released__accrues_the_fee_to_the_treasury():
    state = fold(
        [
            event("TreasurySet", treasury="0xT"),
            event("Locked", trade_id="0x1", seller="0xS", buyer="0xB", token="0xK", amount=100, fee=1, arbiter="0xA", deadline=9),
            event("Released", block=17, trade_id="0x1", buyer_amount=99, fee=1),
        ]
    )
    row = state.rows[ESCROW][("0xC", "0x1")]
    assert (row["status"], row["buyer_amount"], row["fee_taken"], row["closed_at"]) == ("RELEASED", 99, 1, 1017)
    assert (row["locked_block"], row["updated_block"]) == (16, 17)
    assert state.rows[FEE_POOL][("0xC", "0xK")] == 1
    assert state.rows[CLAIMABLE][("0xC", "0xK", "0xT")] == 1


def test_handlers__treasury_changes__accrued_fees_follow_it():
    state = fold(
        [
            event("TreasurySet", treasury="0xT"),
            event("Locked", trade_id="0x1", seller="0xS", buyer="0xB", token="0xK", amount=100, fee=3, arbiter="0xA", deadline=9),
            event("Released", trade_id="0x1", buyer_amount=97, fee=3),
            event("TreasurySet", treasury="0xU"),
            event("Withdrawn", token="0xK", account="0xU", amount=3),
        ]
    )
    assert state.rows[CLAIMABLE][("0xC", "0xK", "0xT")] == 0
    assert state.rows[CLAIMABLE][("0xC", "0xK", "0xU")] == 0
    assert state.rows[FEE_POOL][("0xC", "0xK")] == 0


def test_handlers__unknown_trade__refuses_to_guess():
    with pytest.raises(ValueError, match="unknown trade"):
        fold([event("Paid", trade_id="0x9")])


def test_handlers__recent_block__keeps_the_image_before_it():
    locked = event("Locked", block=16, trade_id="0x1", seller="0xS", buyer="0xB", token="0xK", amount=1, fee=0, arbiter="0xA", deadline=9)
    state = fold([locked, event("Paid", block=17, trade_id="0x1"), event("Extended", block=17, trade_id="0x1", deadline=99)],
                 undo_from=15)  # fmt: skip
    images = [(block, table, image and image["status"]) for block, table, key, image in state.undo if table == ESCROW]
    assert images == [(16, ESCROW, None), (17, ESCROW, "LOCKED")]  # one image a block, from before it
