"""The matching engine (api/engine.py), without a database: the take rule, price-time priority,
what is passed over, time in force, the book's own operations and bad input; then a property
test that runs random operations on the engine and on `ReferenceBook` (bench/engine.py, the
rules written as plainly as possible) and compares them after every step."""

import os
from enum import IntEnum

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from api.engine import BUY, SELL, Book, BookOrder, DepthLevel, EngineError, Fill, TimeInForce, can_take
from bench.engine import ReferenceBook

NOW = 1_000
EXAMPLES = int(os.environ.get("ORRANGE_ENGINE_EXAMPLES", "200"))  # of the property test; 5000 for a long run
ALICE, BOB, CAROL, DAVE = "0xa11ce", "0xb0b", "0xca201", "0xda4e"
UNIT = 10**8  # one fiat unit per token, as a price


def order(order_id, side, price, amount, *, maker=ALICE, methods=("SEPA",), min_fill=0, expiry=None,
          sequence=None, remaining=None):
    return BookOrder(order_id, maker, side, amount, price, methods, min_fill=min_fill, expiry=expiry,
                     sequence=sequence, remaining=remaining)


def book_of(*orders):
    book = Book()
    for resting in orders:
        book.add(resting, now=NOW)
    return book


def remaining(book):
    return {resting.id: resting.remaining for resting in book}


# --- can_take ---------------------------------------------------------------------------------

@pytest.mark.parametrize("amount", [10, 15, 100])
def test_can_take__from_min_fill_to_remaining__is_valid(amount):
    assert can_take(100, 10, amount)


@pytest.mark.parametrize("amount", [1, 9])
def test_can_take__below_min_fill__is_invalid(amount):
    assert not can_take(100, 10, amount)


@pytest.mark.parametrize("amount", [0, -1, 101])
def test_can_take__zero_negative_or_above_remaining__is_invalid(amount):
    assert not can_take(100, 10, amount)


def test_can_take__rest_below_min_fill__only_the_whole_rest():
    assert can_take(5, 10, 5)
    assert not can_take(5, 10, 4)


def test_can_take__no_min_fill__any_positive_amount_up_to_remaining():
    assert can_take(7, 0, 1)
    assert can_take(7, 0, 7)


# --- BookOrder ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"order_id": ""}, "order id"),
        ({"order_id": 7}, "order id"),
        ({"maker": ""}, "maker"),
        ({"side": 2}, "side"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 10.0}, "amount"),
        ({"amount": True}, "amount"),
        ({"min_fill": 11}, "min_fill"),
        ({"min_fill": -1}, "min_fill"),
        ({"remaining": 0}, "remaining"),
        ({"remaining": 11}, "remaining"),
        ({"price": 0}, "price"),
        ({"price": 0.92}, "price"),
        ({"methods": "SEPA"}, "not the string"),
        ({"methods": ()}, "at least one payment method"),
        ({"methods": ("SEPA", "")}, "payment method"),
        ({"methods": ("SEPA", 3)}, "payment method"),
        ({"expiry": 1.5}, "expiry"),
        ({"sequence": "1"}, "sequence"),
    ],
)
def test_book_order__bad_field__raises_engine_error_naming_it(changes, message):
    fields = {"order_id": "0x01", "maker": ALICE, "side": SELL, "amount": 10, "price": UNIT, "methods": ("SEPA",),
              "min_fill": 0, "expiry": None, "sequence": None, "remaining": None} | changes
    with pytest.raises(EngineError, match=message):
        BookOrder(fields["order_id"], fields["maker"], fields["side"], fields["amount"], fields["price"],
                  fields["methods"], min_fill=fields["min_fill"], expiry=fields["expiry"],
                  sequence=fields["sequence"], remaining=fields["remaining"])


def test_engine_error__is_a_value_error():
    assert issubclass(EngineError, ValueError)


def test_book_order__defaults__remaining_is_amount_and_methods_a_frozenset():
    resting = order("0x01", SELL, UNIT, 10, methods=["SEPA", "UPI", "SEPA"])
    assert resting.remaining == 10
    assert resting.payment_methods == frozenset({"SEPA", "UPI"})
    assert resting.sequence is None


def test_book_order__int_enum_side__is_stored_as_a_plain_int():
    class Side(IntEnum):
        BUY = 0
        SELL = 1

    resting = order("0x01", Side.SELL, UNIT, 10)
    assert resting.side == SELL
    assert type(resting.side) is int


# --- add, get, iteration --------------------------------------------------------------------

def test_add__order__can_be_looked_up_by_id():
    resting = order("0x01", SELL, UNIT, 10)
    book = book_of(resting)
    assert book.get("0x01") is resting
    assert "0x01" in book
    assert len(book) == 1
    assert book.get("0x02") is None


def test_add__duplicate_id__raises_and_keeps_the_first():
    first = order("0x01", SELL, UNIT, 10)
    book = book_of(first)
    with pytest.raises(EngineError, match="already in this book"):
        book.add(order("0x01", BUY, UNIT, 5), now=NOW)
    assert book.get("0x01") is first
    assert book.depth(BUY) == []


def test_add__expired_order__raises():
    with pytest.raises(EngineError, match="expired"):
        Book().add(order("0x01", SELL, UNIT, 10, expiry=NOW), now=NOW)


def test_add__order_object_that_was_in_a_book__raises():
    resting = order("0x01", SELL, UNIT, 10)
    book = book_of(resting)
    book.cancel("0x01")
    with pytest.raises(EngineError, match="already been in a book"):
        book.add(resting, now=NOW)
    with pytest.raises(EngineError, match="already been in a book"):
        Book().add(resting, now=NOW)


def test_add__crossing_order__rests_without_matching():
    book = book_of(order("0x01", SELL, UNIT, 10, maker=ALICE), order("0x02", BUY, 2 * UNIT, 10, maker=BOB))
    assert remaining(book) == {"0x01": 10, "0x02": 10}
    assert book.best_price(BUY) > book.best_price(SELL)


def test_add__partly_filled_order__rests_with_its_remaining():
    book = book_of(order("0x01", SELL, UNIT, 10, remaining=4))
    assert book.depth(SELL) == [DepthLevel(UNIT, 4, 1)]


def test_iter__yields_resting_orders_in_arrival_order():
    book = book_of(order("0x02", SELL, 2 * UNIT, 1), order("0x01", SELL, UNIT, 1), order("0x03", BUY, UNIT, 1))
    assert [resting.id for resting in book] == ["0x02", "0x01", "0x03"]


# --- place: priority and price ----------------------------------------------------------------

def test_place__buy__fills_the_lowest_sells_first():
    book = book_of(order("0x03", SELL, 3 * UNIT, 5), order("0x01", SELL, UNIT, 5), order("0x02", SELL, 2 * UNIT, 5))
    result = book.place(order("0xb", BUY, 3 * UNIT, 12, maker=BOB), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x01", "0x02", "0x03"]
    assert [fill.amount for fill in result.fills] == [5, 5, 2]


def test_place__sell__fills_the_highest_buys_first():
    book = book_of(order("0x01", BUY, UNIT, 5), order("0x03", BUY, 3 * UNIT, 5), order("0x02", BUY, 2 * UNIT, 5))
    result = book.place(order("0xs", SELL, UNIT, 12, maker=BOB), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x03", "0x02", "0x01"]


def test_place__same_price__fills_the_oldest_first():
    book = book_of(order("0x01", SELL, UNIT, 5, maker=ALICE), order("0x02", SELL, UNIT, 5, maker=CAROL))
    result = book.place(order("0xb", BUY, UNIT, 7, maker=BOB), now=NOW)
    assert result.fills == [Fill("0x01", ALICE, 5, UNIT), Fill("0x02", CAROL, 2, UNIT)]


def test_place__trade_price__is_the_resting_orders_price():
    book = book_of(order("0x01", SELL, UNIT, 5))
    result = book.place(order("0xb", BUY, 9 * UNIT, 5, maker=BOB), now=NOW)
    assert result.fills == [Fill("0x01", ALICE, 5, UNIT)]


def test_place__buy_below_the_lowest_sell__does_not_match():
    book = book_of(order("0x01", SELL, UNIT + 1, 5))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=BOB), now=NOW)
    assert result.fills == []
    assert result.rested


def test_place__sell_above_the_highest_buy__does_not_match():
    book = book_of(order("0x01", BUY, UNIT - 1, 5))
    result = book.place(order("0xs", SELL, UNIT, 5, maker=BOB), now=NOW)
    assert result.fills == []


@pytest.mark.parametrize(("resting_side", "incoming_side"), [(SELL, BUY), (BUY, SELL)])
def test_place__limit_equal_to_the_resting_price__matches(resting_side, incoming_side):
    book = book_of(order("0x01", resting_side, UNIT, 5))
    result = book.place(order("0x02", incoming_side, UNIT, 5, maker=BOB), now=NOW)
    assert result.fills == [Fill("0x01", ALICE, 5, UNIT)]


def test_place__same_side__never_matches():
    book = book_of(order("0x01", SELL, UNIT, 5))
    result = book.place(order("0x02", SELL, UNIT, 5, maker=BOB), now=NOW)
    assert result.fills == []
    assert book.depth(SELL) == [DepthLevel(UNIT, 10, 2)]


def test_place__fill_amount__is_the_smaller_remaining():
    book = book_of(order("0x01", SELL, UNIT, 8))
    result = book.place(order("0xb", BUY, UNIT, 3, maker=BOB), now=NOW)
    assert result.fills[0].amount == 3
    assert book.get("0x01").remaining == 5
    assert result.remaining == 0
    assert not result.rested


def test_place__partly_filled_resting_order__keeps_its_place():
    book = book_of(order("0x01", SELL, UNIT, 8, maker=ALICE), order("0x02", SELL, UNIT, 8, maker=CAROL))
    book.place(order("0xb1", BUY, UNIT, 3, maker=BOB), now=NOW)
    result = book.place(order("0xb2", BUY, UNIT, 6, maker=BOB), now=NOW)
    assert result.fills == [Fill("0x01", ALICE, 5, UNIT), Fill("0x02", CAROL, 1, UNIT)]


def test_place__fully_filled_resting_order__leaves_the_book():
    book = book_of(order("0x01", SELL, UNIT, 5))
    book.place(order("0xb", BUY, UNIT, 5, maker=BOB), now=NOW)
    assert "0x01" not in book
    assert book.get("0x01") is None
    assert book.best_price(SELL) is None
    assert book.depth(SELL) == []


def test_place__across_levels__empties_them_and_updates_depth():
    book = book_of(order("0x01", SELL, UNIT, 5), order("0x02", SELL, 2 * UNIT, 5), order("0x03", SELL, 3 * UNIT, 5))
    book.place(order("0xb", BUY, 2 * UNIT, 10, maker=BOB), now=NOW)
    assert book.depth(SELL) == [DepthLevel(3 * UNIT, 5, 1)]


def test_place__incoming_order__its_remaining_is_updated():
    book = book_of(order("0x01", SELL, UNIT, 5))
    incoming = order("0xb", BUY, UNIT, 8, maker=BOB)
    book.place(incoming, now=NOW)
    assert incoming.remaining == 3
    assert book.get("0xb") is incoming


# --- place: what is passed over ---------------------------------------------------------------

def test_place__no_shared_payment_method__passes_over_and_it_keeps_its_place():
    book = book_of(order("0x01", SELL, UNIT, 5, methods=("UPI",)), order("0x02", SELL, UNIT, 5, maker=CAROL))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=BOB, methods=("SEPA",)), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x02"]
    result = book.place(order("0xb2", BUY, UNIT, 5, maker=BOB, methods=("UPI", "PIX")), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x01"]


def test_place__one_shared_payment_method_of_several__matches():
    book = book_of(order("0x01", SELL, UNIT, 5, methods=("UPI", "SEPA")))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=BOB, methods=("PIX", "SEPA")), now=NOW)
    assert len(result.fills) == 1


def test_place__same_maker__is_passed_over_no_self_trade():
    book = book_of(order("0x01", SELL, UNIT, 5, maker=ALICE), order("0x02", SELL, 2 * UNIT, 5, maker=CAROL))
    result = book.place(order("0xb", BUY, 2 * UNIT, 5, maker=ALICE), now=NOW)
    assert result.fills == [Fill("0x02", CAROL, 5, 2 * UNIT)]
    assert book.get("0x01").remaining == 5


def test_place__only_own_orders_cross__rests_beside_them():
    book = book_of(order("0x01", SELL, UNIT, 5, maker=ALICE))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=ALICE), now=NOW)
    assert result.fills == []
    assert result.rested
    assert book.best_price(BUY) == book.best_price(SELL) == UNIT


def test_place__resting_min_fill_above_incoming__passes_over_then_fills_the_next():
    book = book_of(order("0x01", SELL, UNIT, 10, min_fill=6), order("0x02", SELL, UNIT, 10, maker=CAROL))
    result = book.place(order("0xb", BUY, UNIT, 4, maker=BOB), now=NOW)
    assert result.fills == [Fill("0x02", CAROL, 4, UNIT)]
    assert book.get("0x01").remaining == 10


def test_place__incoming_min_fill_above_resting_remaining__passes_over_then_fills_the_next():
    book = book_of(order("0x01", SELL, UNIT, 3), order("0x02", SELL, 2 * UNIT, 10, maker=CAROL))
    result = book.place(order("0xb", BUY, 2 * UNIT, 10, maker=BOB, min_fill=5), now=NOW)
    assert result.fills == [Fill("0x02", CAROL, 10, 2 * UNIT)]
    assert book.get("0x01").remaining == 3


def test_place__resting_rest_below_its_min_fill__is_taken_whole():
    book = book_of(order("0x01", SELL, UNIT, 10, min_fill=6, remaining=4))
    result = book.place(order("0xb", BUY, UNIT, 4, maker=BOB), now=NOW)
    assert result.fills == [Fill("0x01", ALICE, 4, UNIT)]


def test_place__resting_rest_below_its_min_fill__is_not_taken_in_part():
    book = book_of(order("0x01", SELL, UNIT, 10, min_fill=6, remaining=4))
    result = book.place(order("0xb", BUY, UNIT, 3, maker=BOB), now=NOW)
    assert result.fills == []


def test_place__incoming_rest_below_its_min_fill__takes_it_whole_at_the_end():
    # 10 with min fill 6: takes 7, then only its last 3 may go, in one piece
    book = book_of(order("0x01", SELL, UNIT, 7), order("0x02", SELL, UNIT, 2, maker=CAROL),
                   order("0x03", SELL, UNIT, 5, maker=DAVE))
    result = book.place(order("0xb", BUY, UNIT, 10, maker=BOB, min_fill=6), now=NOW)
    assert result.fills == [Fill("0x01", ALICE, 7, UNIT), Fill("0x03", DAVE, 3, UNIT)]
    assert book.get("0x02").remaining == 2


def test_place__expired_resting_order__is_never_matched_and_leaves_the_book():
    stale = order("0x01", SELL, UNIT, 5, expiry=NOW + 10)
    book = book_of(stale, order("0x02", SELL, 2 * UNIT, 5, maker=CAROL))
    result = book.place(order("0xb", BUY, 2 * UNIT, 5, maker=BOB), now=NOW + 10)
    assert result.fills == [Fill("0x02", CAROL, 5, 2 * UNIT)]
    assert result.expired == [stale]
    assert "0x01" not in book


def test_place__resting_order_expiring_after_now__is_matched():
    book = book_of(order("0x01", SELL, UNIT, 5, expiry=NOW + 11))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=BOB), now=NOW + 10)
    assert len(result.fills) == 1
    assert result.expired == []


# --- place: time in force ---------------------------------------------------------------------

def test_place_gtc__remainder__rests():
    book = book_of(order("0x01", SELL, UNIT, 5))
    result = book.place(order("0xb", BUY, UNIT, 8, maker=BOB), TimeInForce.GTC, now=NOW)
    assert (result.remaining, result.rested) == (3, True)
    assert book.depth(BUY) == [DepthLevel(UNIT, 3, 1)]


def test_place_gtc__fully_filled__does_not_rest():
    book = book_of(order("0x01", SELL, UNIT, 5))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=BOB), TimeInForce.GTC, now=NOW)
    assert (result.remaining, result.rested) == (0, False)
    assert "0xb" not in book


def test_place_gtd__without_expiry__raises_and_changes_nothing():
    book = book_of(order("0x01", SELL, UNIT, 5))
    with pytest.raises(EngineError, match="GTD order needs an expiry"):
        book.place(order("0xb", BUY, UNIT, 8, maker=BOB), TimeInForce.GTD, now=NOW)
    assert remaining(book) == {"0x01": 5}


def test_place_gtd__remainder__rests_until_its_expiry():
    book = book_of(order("0x01", SELL, UNIT, 5))
    result = book.place(order("0xb", BUY, UNIT, 8, maker=BOB, expiry=NOW + 60), TimeInForce.GTD, now=NOW)
    assert result.rested
    assert book.place(order("0xs1", SELL, UNIT, 1, maker=CAROL), TimeInForce.IOC, now=NOW + 59).fills
    late = book.place(order("0xs2", SELL, UNIT, 1, maker=CAROL), TimeInForce.IOC, now=NOW + 60)
    assert late.fills == []
    assert [gone.id for gone in late.expired] == ["0xb"]


def test_place_ioc__remainder__is_dropped():
    book = book_of(order("0x01", SELL, UNIT, 5))
    incoming = order("0xb", BUY, UNIT, 8, maker=BOB)
    result = book.place(incoming, TimeInForce.IOC, now=NOW)
    assert (len(result.fills), result.remaining, result.rested) == (1, 3, False)
    assert remaining(book) == {}


def test_place_ioc__nothing_crosses__drops_it_all():
    book = book_of(order("0x01", SELL, 2 * UNIT, 5))
    result = book.place(order("0xb", BUY, UNIT, 8, maker=BOB), TimeInForce.IOC, now=NOW)
    assert (result.fills, result.remaining, result.rested) == ([], 8, False)
    assert remaining(book) == {"0x01": 5}


def test_match__fok_that_cannot_fill__changes_nothing():
    stale = order("0x00", SELL, UNIT, 5, expiry=NOW + 1)
    book = book_of(stale, order("0x01", SELL, UNIT, 5), order("0x02", SELL, 2 * UNIT, 5, maker=CAROL))
    depth_before = book.depth(SELL)
    incoming = order("0xb", BUY, 2 * UNIT, 11, maker=BOB)
    result = book.place(incoming, TimeInForce.FOK, now=NOW + 1)
    assert (result.fills, result.remaining, result.rested, result.expired) == ([], 11, False, [])
    assert remaining(book) == {"0x00": 5, "0x01": 5, "0x02": 5}
    assert book.depth(SELL) == depth_before
    assert incoming.remaining == 11
    assert incoming.sequence is None


def test_match__fok_that_can_fill__fills_everything():
    book = book_of(order("0x01", SELL, UNIT, 5), order("0x02", SELL, 2 * UNIT, 5, maker=CAROL))
    result = book.place(order("0xb", BUY, 2 * UNIT, 8, maker=BOB), TimeInForce.FOK, now=NOW)
    assert [fill.amount for fill in result.fills] == [5, 3]
    assert (result.remaining, result.rested) == (0, False)


def test_match__fok_blocked_by_min_fill__changes_nothing():
    # 5 are offered, but the order's min fill of 4 leaves its last 1 untakeable from the 2nd
    book = book_of(order("0x01", SELL, UNIT, 4, min_fill=4), order("0x02", SELL, UNIT, 5, maker=CAROL, min_fill=3))
    result = book.place(order("0xb", BUY, UNIT, 5, maker=BOB), TimeInForce.FOK, now=NOW)
    assert result.fills == []
    assert remaining(book) == {"0x01": 4, "0x02": 5}


@pytest.mark.parametrize("tif", ["GTC", "IOC", "FOK"])
def test_place__time_in_force_as_a_string__is_accepted(tif):
    book = book_of(order("0x01", SELL, UNIT, 5))
    assert book.place(order("0xb", BUY, UNIT, 5, maker=BOB), tif, now=NOW).fills


def test_place__unknown_time_in_force__raises_and_changes_nothing():
    book = book_of(order("0x01", SELL, UNIT, 5))
    with pytest.raises(EngineError, match="time in force"):
        book.place(order("0xb", BUY, UNIT, 5, maker=BOB), "DAY", now=NOW)
    assert remaining(book) == {"0x01": 5}


def test_place__expired_incoming_order__raises_and_changes_nothing():
    book = book_of(order("0x01", SELL, UNIT, 5))
    with pytest.raises(EngineError, match="expired"):
        book.place(order("0xb", BUY, UNIT, 5, maker=BOB, expiry=NOW), now=NOW)
    assert remaining(book) == {"0x01": 5}


def test_place__id_of_a_resting_order__raises_and_changes_nothing():
    book = book_of(order("0x01", SELL, UNIT, 5))
    with pytest.raises(EngineError, match="already in this book"):
        book.place(order("0x01", BUY, UNIT, 5, maker=BOB), now=NOW)
    assert remaining(book) == {"0x01": 5}


# --- sequence ---------------------------------------------------------------------------------

def test_sequence__not_given__numbered_in_arrival_after_any_seen():
    first = order("0x01", SELL, UNIT, 1)
    restored = order("0x02", SELL, UNIT, 1, sequence=41)
    later = order("0x03", SELL, UNIT, 1)
    book_of(first, restored, later)
    assert (first.sequence, restored.sequence, later.sequence) == (0, 41, 42)


def test_sequence__restored_older_order__ranks_before_newer_at_its_price():
    book = book_of(order("0x05", SELL, UNIT, 1, maker=ALICE, sequence=5),
                   order("0x09", SELL, UNIT, 1, maker=CAROL, sequence=9),
                   order("0x02", SELL, UNIT, 1, maker=DAVE, sequence=2),
                   order("0x07", SELL, UNIT, 1, maker=ALICE, sequence=7))
    result = book.place(order("0xb", BUY, UNIT, 4, maker=BOB), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x02", "0x05", "0x07", "0x09"]


def test_sequence__equal__the_one_added_first_ranks_first():
    book = book_of(order("0x01", SELL, UNIT, 1, sequence=3), order("0x02", SELL, UNIT, 1, maker=CAROL, sequence=3))
    result = book.place(order("0xb", BUY, UNIT, 1, maker=BOB), now=NOW)
    assert result.fills[0].order_id == "0x01"


def test_sequence__equal_and_restored_behind_a_newer_one__ranks_after_the_one_added_first():
    book = book_of(order("0x01", SELL, UNIT, 1, sequence=3), order("0x09", SELL, UNIT, 1, maker=CAROL, sequence=9),
                   order("0x02", SELL, UNIT, 1, maker=DAVE, sequence=3))
    result = book.place(order("0xb", BUY, UNIT, 3, maker=BOB), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x01", "0x02", "0x09"]


# --- take -------------------------------------------------------------------------------------

def test_take__valid_amount__reduces_the_order_and_returns_the_fill():
    book = book_of(order("0x01", SELL, UNIT, 10, min_fill=3))
    assert book.take("0x01", 4, now=NOW, taker=BOB) == Fill("0x01", ALICE, 4, UNIT)
    assert book.get("0x01").remaining == 6
    assert book.depth(SELL) == [DepthLevel(UNIT, 6, 1)]


def test_take__the_whole_remaining__removes_the_order():
    book = book_of(order("0x01", SELL, UNIT, 10))
    book.take("0x01", 10, now=NOW)
    assert "0x01" not in book
    assert book.depth(SELL) == []


@pytest.mark.parametrize(("amount", "message"), [(2, "from 3 to the remaining 10"), (11, "from 3 to the remaining 10"),
                                                 (0, "from 3"), (4.0, "from 3")])
def test_take__amount_outside_min_fill_and_remaining__raises_and_changes_nothing(amount, message):
    book = book_of(order("0x01", SELL, UNIT, 10, min_fill=3))
    with pytest.raises(EngineError, match=message):
        book.take("0x01", amount, now=NOW)
    assert book.get("0x01").remaining == 10


def test_take__rest_below_min_fill__only_the_whole_rest():
    book = book_of(order("0x01", SELL, UNIT, 10, min_fill=6, remaining=4))
    with pytest.raises(EngineError, match="exactly the remaining 4"):
        book.take("0x01", 3, now=NOW)
    assert book.take("0x01", 4, now=NOW).amount == 4


def test_take__unknown_id__raises():
    with pytest.raises(EngineError, match="no order 0x99"):
        Book().take("0x99", 1, now=NOW)


def test_take__expired_order__raises_and_changes_nothing():
    book = book_of(order("0x01", SELL, UNIT, 10, expiry=NOW + 5))
    with pytest.raises(EngineError, match="expired"):
        book.take("0x01", 1, now=NOW + 5)
    assert book.get("0x01").remaining == 10


def test_take__by_its_own_maker__raises():
    book = book_of(order("0x01", SELL, UNIT, 10))
    with pytest.raises(EngineError, match="own order"):
        book.take("0x01", 1, now=NOW, taker=ALICE)


# --- cancel, cancel_maker, expire ----------------------------------------------------------

def test_cancel__resting_order__removes_it_and_returns_it_with_its_remaining():
    book = book_of(order("0x01", SELL, UNIT, 10, remaining=7), order("0x02", SELL, UNIT, 1, maker=CAROL))
    cancelled = book.cancel("0x01")
    assert (cancelled.id, cancelled.remaining) == ("0x01", 7)
    assert remaining(book) == {"0x02": 1}
    assert book.depth(SELL) == [DepthLevel(UNIT, 1, 1)]


def test_cancel__unknown_id__raises():
    with pytest.raises(EngineError, match="no order 0x99"):
        Book().cancel("0x99")


def test_cancel__twice__raises_the_second_time():
    book = book_of(order("0x01", SELL, UNIT, 1))
    book.cancel("0x01")
    with pytest.raises(EngineError):
        book.cancel("0x01")


def test_cancel__order_behind_the_head__is_never_matched_afterwards():
    book = book_of(order("0x01", SELL, UNIT, 1), order("0x02", SELL, UNIT, 1, maker=CAROL),
                   order("0x03", SELL, UNIT, 1, maker=DAVE))
    book.cancel("0x02")
    result = book.place(order("0xb", BUY, UNIT, 3, maker=BOB), now=NOW)
    assert [fill.order_id for fill in result.fills] == ["0x01", "0x03"]


def test_cancel__last_order_at_a_price__removes_the_level():
    book = book_of(order("0x01", SELL, UNIT, 1), order("0x02", SELL, 2 * UNIT, 1))
    book.cancel("0x01")
    assert book.best_price(SELL) == 2 * UNIT


def test_cancel_maker__removes_all_and_only_that_makers_orders():
    book = book_of(order("0x01", SELL, UNIT, 1, maker=ALICE), order("0x02", BUY, UNIT // 2, 1, maker=BOB),
                   order("0x03", BUY, UNIT // 2, 1, maker=ALICE))
    assert [cancelled.id for cancelled in book.cancel_maker(ALICE)] == ["0x01", "0x03"]
    assert remaining(book) == {"0x02": 1}


def test_cancel_maker__without_orders__returns_nothing():
    assert Book().cancel_maker(ALICE) == []


def test_expire__removes_orders_expired_at_or_before_now():
    book = book_of(order("0x01", SELL, UNIT, 1, expiry=NOW + 5), order("0x02", SELL, UNIT, 1, expiry=NOW + 6),
                   order("0x03", SELL, UNIT, 1))
    assert [gone.id for gone in book.expire(NOW + 5)] == ["0x01"]
    assert remaining(book) == {"0x02": 1, "0x03": 1}


# --- best price and depth ---------------------------------------------------------------------

def test_best_price__empty_side__is_none():
    assert Book().best_price(BUY) is None
    assert Book().best_price(SELL) is None


def test_best_price__highest_buy_and_lowest_sell():
    book = book_of(order("0x01", BUY, 90, 1), order("0x02", BUY, 95, 1), order("0x03", SELL, 110, 1),
                   order("0x04", SELL, 105, 1))
    assert (book.best_price(BUY), book.best_price(SELL)) == (95, 105)


def test_best_price__with_now__passes_over_expired_orders():
    book = book_of(order("0x01", SELL, 100, 1, expiry=NOW + 5), order("0x02", SELL, 101, 1))
    assert book.best_price(SELL) == 100
    assert book.best_price(SELL, now=NOW + 5) == 101


def test_depth__aggregates_each_price_best_first():
    book = book_of(order("0x01", BUY, 90, 2), order("0x02", BUY, 95, 3), order("0x03", BUY, 90, 4),
                   order("0x04", SELL, 105, 1), order("0x05", SELL, 100, 6))
    assert book.depth(BUY) == [DepthLevel(95, 3, 1), DepthLevel(90, 6, 2)]
    assert book.depth(SELL) == [DepthLevel(100, 6, 1), DepthLevel(105, 1, 1)]


@pytest.mark.parametrize("side", [2, -1])
def test_depth_and_best_price__unknown_side__raise(side):
    with pytest.raises(EngineError, match="side"):
        Book().depth(side)
    with pytest.raises(EngineError, match="side"):
        Book().best_price(side)


def test_depth__levels__limits_how_many():
    book = book_of(*(order(f"0x{price}", SELL, price, 1) for price in range(100, 110)))
    assert [level.price for level in book.depth(SELL, levels=3)] == [100, 101, 102]


def test_depth__with_now__leaves_out_expired_orders():
    book = book_of(order("0x01", SELL, 100, 2, expiry=NOW + 5), order("0x02", SELL, 100, 3),
                   order("0x03", SELL, 101, 4, expiry=NOW + 5))
    assert book.depth(SELL, now=NOW + 5) == [DepthLevel(100, 3, 1)]
    assert book.depth(SELL, now=NOW + 4) == [DepthLevel(100, 5, 2), DepthLevel(101, 4, 1)]


def test_depth__after_a_partial_fill__shows_the_rest():
    book = book_of(order("0x01", SELL, UNIT, 10))
    book.place(order("0xb", BUY, UNIT, 4, maker=BOB), now=NOW)
    assert book.depth(SELL) == [DepthLevel(UNIT, 6, 1)]


def test_level__fills_behind_a_passed_over_head__dead_orders_do_not_pile_up():
    # The head is never matched (no shared method); the orders behind it fill and die there.
    book = book_of(order("0x00", SELL, UNIT, 1, methods=("UPI",)))
    for index in range(200):
        book.add(order(f"0x{index + 1:02x}", SELL, UNIT, 1, maker=CAROL), now=NOW)
        book.place(order(f"0xb{index}", BUY, UNIT, 1, maker=BOB), TimeInForce.IOC, now=NOW)
    assert book.depth(SELL) == [DepthLevel(UNIT, 1, 1)]
    assert len(book._levels[SELL][UNIT].orders) <= 2  # white box: compacted, not 201 long


# --- property: the engine against the reference -------------------------------------------

MAKERS = (ALICE, BOB, CAROL, DAVE)
METHODS = ("SEPA", "UPI", "PIX")
TIFS = ("GTC", "GTD", "IOC", "FOK")
# What a step does, as often as it is listed: mostly placing, so books fill and trade.
ACTIONS = ("place",) * 6 + ("add",) * 2 + ("take",) * 2 + ("cancel", "cancel_maker", "expire", "wait", "wait")
SEQUENCES = st.none() | st.integers(0, 12)  # given ones collide and arrive out of order


class AgainstReference(RuleBasedStateMachine):
    """Random places, adds, takes, cancels and the passing of time, on both books; after each
    step they must show the same orders, remainders, depth and best prices, and the engine's
    level totals must add up."""

    def __init__(self):
        super().__init__()
        self.engine = Book()
        self.reference = ReferenceBook()
        self.now = NOW
        self.serial = 0

    @rule(data=st.data(), action=st.sampled_from(ACTIONS))
    def step(self, data, action):
        getattr(self, action)(data)

    # --- the actions

    def place(self, data):
        spec = self.new_spec(data)
        tif = data.draw(st.sampled_from(TIFS))
        sequence = data.draw(SEQUENCES)

        def engine_place():
            return self.engine.place(self.book_order(spec, sequence), tif, now=self.now)

        def reference_place():
            if tif == "GTD" and spec[7] is None:
                raise ValueError("GTD without expiry")
            return self.reference.place(spec, tif, self.now, sequence)

        result, expected = self.both(engine_place, reference_place)
        if result is not None:
            assert (result.fills, result.remaining, result.rested) == expected
            assert all(gone.expiry is not None and gone.expiry <= self.now for gone in result.expired)

    def add(self, data):
        spec = self.new_spec(data)
        sequence = data.draw(SEQUENCES)
        self.both(lambda: self.engine.add(self.book_order(spec, sequence), now=self.now),
                  lambda: self.reference.add(spec, self.now, sequence) or "added")

    def take(self, data):
        order_id = self.some_id(data)
        amount = data.draw(st.integers(0, 13))
        taker = data.draw(st.sampled_from(MAKERS))
        fill, expected = self.both(lambda: self.engine.take(order_id, amount, now=self.now, taker=taker),
                                   lambda: self.reference.take(order_id, amount, self.now, taker))
        assert fill == expected

    def cancel(self, data):
        order_id = self.some_id(data)
        cancelled, _ = self.both(lambda: self.engine.cancel(order_id),
                                 lambda: self.reference.cancel(order_id, self.now) or "cancelled")
        assert cancelled is None or cancelled.id == order_id

    def cancel_maker(self, data):
        maker = data.draw(st.sampled_from(MAKERS))
        expected = {resting.id for resting in self.reference.live(self.now) if resting.maker == maker}
        cancelled = self.engine.cancel_maker(maker)
        self.reference.cancel_maker(maker)
        assert {gone.id for gone in cancelled if gone.expiry is None or gone.expiry > self.now} == expected

    def expire(self, data):
        gone = self.engine.expire(self.now)
        assert all(resting.expiry is not None and resting.expiry <= self.now for resting in gone)

    def wait(self, data):
        self.now += data.draw(st.integers(1, 4))

    # --- helpers

    def new_spec(self, data):
        """A new order, now and then with the id of a live one."""
        live = sorted(self.reference.remaining_by_id(self.now))
        if live and data.draw(st.integers(0, 9)) == 0:
            order_id = data.draw(st.sampled_from(live))
        else:
            self.serial += 1
            order_id = f"0x{self.serial:02x}"
        amount = data.draw(st.integers(1, 12))
        min_fill = data.draw(st.integers(0, amount)) if data.draw(st.integers(0, 2)) == 0 else 0
        expiry = data.draw(st.none() | st.integers(self.now - 1, self.now + 8))
        methods = tuple(sorted(data.draw(st.sets(st.sampled_from(METHODS), min_size=1))))
        maker = data.draw(st.sampled_from(MAKERS))
        return order_id, maker, data.draw(st.sampled_from((BUY, SELL))), amount, data.draw(st.integers(97, 100)), \
            methods, min_fill, expiry

    def some_id(self, data):
        """A live order's id (the engine may hold expired ones still: they are not compared)."""
        live = sorted(self.reference.remaining_by_id(self.now))
        return data.draw(st.sampled_from(live)) if live else "0xunknown"

    @staticmethod
    def book_order(spec, sequence):
        return BookOrder(*spec[:6], min_fill=spec[6], expiry=spec[7], sequence=sequence)

    def both(self, engine_call, reference_call):
        """Runs both; they must agree on refusing. Returns both results, None where refused."""
        try:
            engine_result = engine_call()
        except EngineError:
            engine_result = None
        try:
            reference_result = reference_call()
        except ValueError:
            reference_result = None
        assert (engine_result is None) == (reference_result is None)
        return engine_result, reference_result

    # --- after every step

    @invariant()
    def same_orders_and_remainders(self):
        live = {resting.id: resting.remaining for resting in self.engine
                if resting.expiry is None or resting.expiry > self.now}
        assert live == self.reference.remaining_by_id(self.now)

    @invariant()
    def same_depth_and_best_prices(self):
        for side in (BUY, SELL):
            depth = self.reference.depth(side, self.now)
            assert self.engine.depth(side, now=self.now) == depth
            assert self.engine.best_price(side, now=self.now) == (depth[0][0] if depth else None)

    @invariant()
    def level_totals_add_up(self):
        for side in (BUY, SELL):
            totals = {}
            for resting in self.engine:
                if resting.side == side:
                    amount, count = totals.get(resting.price, (0, 0))
                    totals[resting.price] = (amount + resting.remaining, count + 1)
            best_first = sorted(totals, reverse=side == BUY)
            assert self.engine.depth(side) == [DepthLevel(price, *totals[price]) for price in best_first]


def test_engine__random_operations__agree_with_the_reference():
    run_state_machine_as_test(
        AgainstReference,
        settings=settings(max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
