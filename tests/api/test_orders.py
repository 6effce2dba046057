"""Ads over HTTP: signed orders verified, the book, taking, matching, cancelling."""

import pytest

from api.signing import Side
from tests.api.conftest import bearer, make_order, order_body, sign_in

UNIT = 10**6  # tUSD has 6 decimals


@pytest.fixture
def tusd(world):
    return world.tokens[1]


@pytest.fixture
def logged(client, traders):
    return [bearer(sign_in(client, wallet)) for wallet in traders]


def place(client, platform, wallet, headers, order, tif="GTC"):
    return client.post("/orders", json=order_body(order, wallet, platform, tif), headers=headers)


def test_place__signed_order__rests_in_the_book(client, platform, traders, logged, tusd):
    order = make_order(traders[0], tusd, methods=("SEPA", "Revolut"))
    response = place(client, platform, traders[0], logged[0], order)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["trades"] == []
    assert body["order"]["status"] == "OPEN" and body["order"]["remaining"] == str(order.amount)
    assert body["order"]["hash"] == "0x" + order.digest(31337, platform.market.escrow).hex()
    book = client.get("/book", params={"token": tusd, "fiat": "EUR"}).json()
    assert [ask["hash"] for ask in book["asks"]] == [body["order"]["hash"]] and book["bids"] == []


def test_place__signature_of_someone_else__400_nothing_stored(client, platform, traders, logged, tusd):
    order = make_order(traders[0], tusd)
    body = order_body(order, traders[1], platform)
    response = client.post("/orders", json=body, headers=logged[0])
    assert response.status_code == 400 and "signature" in response.json()["detail"]
    assert client.get("/orders").json()["orders"] == []


def test_place__terms_changed_after_signing__400(client, platform, traders, logged, tusd):
    body = order_body(make_order(traders[0], tusd), traders[0], platform)
    body["order"]["price"] = "1"
    assert client.post("/orders", json=body, headers=logged[0]).status_code == 400


def test_place__someone_elses_order__403(client, platform, traders, logged, tusd):
    response = place(client, platform, traders[0], logged[1], make_order(traders[0], tusd))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "changes, says",
    [({"token": "0x" + "ab" * 20}, "does not accept token"), ({"fiat": "XYZ"}, "fiat"),
     ({"amount": 0, "min_fill": 0}, "positive"), ({"min_fill": 2_000 * UNIT}, "minimum fill"),
     ({"expiry": 1}, "expired"), ({"methods": ("SEPA", "SEPA")}, "distinct"), ({"price": 2**63}, "price")],
)
def test_place__bad_terms__400_with_reason(client, platform, traders, logged, tusd, changes, says):
    changes = dict(changes)
    order = make_order(traders[0], changes.pop("token", tusd), **changes)
    response = place(client, platform, traders[0], logged[0], order)
    assert response.status_code == 400, response.text
    assert says in response.json()["detail"]


def test_place__same_order_twice__409(client, platform, traders, logged, tusd):
    order = make_order(traders[0], tusd)
    assert place(client, platform, traders[0], logged[0], order).status_code == 201
    assert place(client, platform, traders[0], logged[0], order).status_code == 409


def test_place__malformed_body__422_sentence(client, logged):
    response = client.post("/orders", json={"order": {"maker": "nope"}}, headers=logged[0])
    assert response.status_code == 422 and response.json()["detail"].startswith("invalid request: ")
    assert "order.maker: String should match pattern" in response.json()["detail"]
    assert ["body", "order", "maker"] in [problem["loc"] for problem in response.json()["errors"]]
    for body in (b"", b"{not json", b"[]"):
        response = client.post("/orders", content=body, headers={**logged[0], "Content-Type": "application/json"})
        assert response.status_code == 422 and response.json()["detail"].startswith("invalid request: ")


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz"])
def test_place__not_signed_in__401_before_the_body_is_read(client, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post("/orders", json={"order": {}}, headers=headers)
    assert response.status_code == 401 and response.json()["detail"].startswith(("sign in first", "the access token"))


def test_place__openapi_documents_the_body_and_the_login(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/orders"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrderIn"}
    assert operation["security"] == [{"HTTPBearer": []}]
    components = schema["components"]["schemas"]
    assert {"order", "signature"} <= set(components["OrderIn"]["required"])
    assert components["OrderIn"]["properties"]["order"] == {"$ref": "#/components/schemas/OrderTerms"}
    assert "OrderTerms" in components and "HTTPBearer" in schema["components"]["securitySchemes"]


def test_book__best_price_then_oldest(client, platform, traders, logged, tusd):
    hashes = {}
    for index, (wallet, price) in enumerate([(0, 93), (1, 91), (2, 93), (3, 92)]):
        order = make_order(traders[wallet], tusd, price=price * 10**8, nonce=index)
        hashes[index] = place(client, platform, traders[wallet], logged[wallet], order).json()["order"]["hash"]
    for index, (wallet, price) in enumerate([(0, 88), (1, 90)]):
        order = make_order(traders[wallet], tusd, side=Side.BUY, price=price * 10**8, nonce=10 + index)
        hashes[10 + index] = place(client, platform, traders[wallet], logged[wallet], order).json()["order"]["hash"]
    book = client.get("/book", params={"token": tusd, "fiat": "EUR"}).json()
    assert [order["hash"] for order in book["asks"]] == [hashes[1], hashes[3], hashes[0], hashes[2]]
    assert [order["hash"] for order in book["bids"]] == [hashes[11], hashes[10]]


def test_take__amount_within_limits__trade_awaits_lock(client, platform, traders, logged, tusd):
    order = make_order(traders[0], tusd, amount=100 * UNIT, min_fill=10 * UNIT, price=92 * 10**8)
    order_hash = place(client, platform, traders[0], logged[0], order).json()["order"]["hash"]
    response = client.post(f"/orders/{order_hash}/take", json={"amount": str(25 * UNIT)}, headers=logged[1])
    assert response.status_code == 201, response.text
    trade = response.json()
    assert (trade["seller"], trade["buyer"], trade["amount"]) == (traders[0].address, traders[1].address, str(25 * UNIT))
    assert trade["status"] == "AWAITING_LOCK" and trade["fiat_amount"] == "2300.00"
    assert client.get(f"/orders/{order_hash}").json()["remaining"] == str(75 * UNIT)
    assert client.get(f"/trades/{trade['trade_id']}", headers=logged[1]).status_code == 200
    assert client.get(f"/trades/{trade['trade_id']}", headers=logged[2]).status_code == 404


@pytest.mark.parametrize("amount, says", [(5 * UNIT, "from 10000000"), (101 * UNIT, "to the remaining"), (0, "")])
def test_take__amount_outside_limits__400_order_unchanged(client, platform, traders, logged, tusd, amount, says):
    order = make_order(traders[0], tusd, amount=100 * UNIT, min_fill=10 * UNIT)
    order_hash = place(client, platform, traders[0], logged[0], order).json()["order"]["hash"]
    response = client.post(f"/orders/{order_hash}/take", json={"amount": str(amount)}, headers=logged[1])
    assert response.status_code == 400 and says in response.json()["detail"]
    assert client.get(f"/orders/{order_hash}").json()["remaining"] == str(100 * UNIT)


def test_take__below_min_left__only_all_of_it(client, platform, traders, logged, tusd):
    order = make_order(traders[0], tusd, amount=100 * UNIT, min_fill=40 * UNIT)
    order_hash = place(client, platform, traders[0], logged[0], order).json()["order"]["hash"]
    assert client.post(f"/orders/{order_hash}/take", json={"amount": str(70 * UNIT)}, headers=logged[1]).status_code == 201
    refused = client.post(f"/orders/{order_hash}/take", json={"amount": str(20 * UNIT)}, headers=logged[2])
    assert refused.status_code == 400 and "exactly the remaining" in refused.json()["detail"]
    assert client.post(f"/orders/{order_hash}/take", json={"amount": str(30 * UNIT)}, headers=logged[2]).status_code == 201
    assert client.get(f"/orders/{order_hash}").json()["status"] == "FILLED"


def test_take__own_order_or_wrong_method__400(client, platform, traders, logged, tusd):
    order_hash = place(client, platform, traders[0], logged[0], make_order(traders[0], tusd)).json()["order"]["hash"]
    own = client.post(f"/orders/{order_hash}/take", json={"amount": str(10 * UNIT)}, headers=logged[0])
    assert own.status_code == 400 and "own order" in own.json()["detail"]
    method = client.post(f"/orders/{order_hash}/take", json={"amount": str(10 * UNIT), "payment_method": "UPI"},
                         headers=logged[1])
    assert method.status_code == 400 and "SEPA" in method.json()["detail"]


def test_place__crossing_order__fills_by_price_time_priority(client, platform, traders, logged, tusd):
    asks = []
    for index, (price, amount) in enumerate([(93, 50), (91, 30), (92, 40)]):
        order = make_order(traders[index], tusd, price=price * 10**8, amount=amount * UNIT, min_fill=UNIT)
        asks.append(place(client, platform, traders[index], logged[index], order).json()["order"]["hash"])
    buy = make_order(traders[3], tusd, side=Side.BUY, price=92 * 10**8, amount=100 * UNIT, min_fill=UNIT)
    response = place(client, platform, traders[3], logged[3], buy, "IOC")
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(t["order_hash"], t["amount"], t["price"]) for t in body["trades"]] == [
        (asks[1], str(30 * UNIT), str(91 * 10**8)), (asks[2], str(40 * UNIT), str(92 * 10**8))]
    assert all(t["buyer"] == traders[3].address for t in body["trades"])
    assert body["order"]["status"] == "CANCELLED" and body["order"]["remaining"] == str(30 * UNIT)


def test_place__fok_that_cannot_fill__changes_nothing(client, platform, traders, logged, tusd):
    ask = place(client, platform, traders[0], logged[0], make_order(traders[0], tusd, amount=30 * UNIT, min_fill=UNIT))
    buy = make_order(traders[1], tusd, side=Side.BUY, amount=50 * UNIT, min_fill=UNIT)
    body = place(client, platform, traders[1], logged[1], buy, "FOK").json()
    assert body["trades"] == [] and body["order"]["status"] == "CANCELLED"
    assert client.get(f"/orders/{ask.json()['order']['hash']}").json()["remaining"] == str(30 * UNIT)


def test_cancel__maker_only(client, platform, traders, logged, tusd):
    order_hash = place(client, platform, traders[0], logged[0], make_order(traders[0], tusd)).json()["order"]["hash"]
    assert client.delete(f"/orders/{order_hash}", headers=logged[1]).status_code == 403
    assert client.delete(f"/orders/{order_hash}", headers=logged[0]).json()["status"] == "CANCELLED"
    assert client.delete(f"/orders/{order_hash}", headers=logged[0]).status_code == 409
    assert client.get("/book", params={"token": tusd, "fiat": "EUR"}).json()["asks"] == []


def test_cancel_all__nonce_floor_cancels_lower_and_refuses_resubmission(client, platform, traders, logged, tusd):
    orders = [make_order(traders[0], tusd, nonce=nonce) for nonce in (1, 2, 5)]
    for order in orders:
        assert place(client, platform, traders[0], logged[0], order).status_code == 201
    response = client.post("/orders/cancel-all", json={"nonce_floor": "3"}, headers=logged[0])
    assert response.json() == {"nonce_floor": "3", "cancelled": 2}
    assert [o["nonce"] for o in client.get("/orders", params={"status": "OPEN"}).json()["orders"]] == ["5"]
    again = make_order(traders[0], tusd, nonce=2, expiry=orders[1].expiry + 1)
    assert place(client, platform, traders[0], logged[0], again).status_code == 400
    assert client.post("/orders/cancel-all", json={"nonce_floor": "3"}, headers=logged[0]).status_code == 400


def test_list__filters_and_pages(client, platform, traders, logged, tusd):
    for nonce in range(5):
        wallet = nonce % 2
        order = make_order(traders[wallet], tusd, nonce=nonce, fiat="EUR" if nonce < 4 else "INR",
                           methods=("UPI",) if nonce == 3 else ("SEPA",))
        assert place(client, platform, traders[wallet], logged[wallet], order).status_code == 201
    assert len(client.get("/orders", params={"maker": traders[0].address}).json()["orders"]) == 3
    assert [o["nonce"] for o in client.get("/orders", params={"payment_method": "UPI"}).json()["orders"]] == ["3"]
    assert [o["nonce"] for o in client.get("/orders", params={"fiat": "INR"}).json()["orders"]] == ["4"]
    first = client.get("/orders", params={"limit": 2}).json()
    second = client.get("/orders", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = client.get("/orders", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [o["nonce"] for o in first["orders"] + second["orders"] + third["orders"]] == ["4", "3", "2", "1", "0"]
    assert third["next_cursor"] is None


def test_book__cached_yet_this_servers_changes_show_at_once(client, platform, traders, logged, tusd):
    params = {"token": tusd, "fiat": "EUR"}
    assert client.get("/book", params=params).json()["asks"] == []
    order_hash = place(client, platform, traders[0], logged[0], make_order(traders[0], tusd)).json()["order"]["hash"]
    assert [ask["hash"] for ask in client.get("/book", params=params).json()["asks"]] == [order_hash]
    client.delete(f"/orders/{order_hash}", headers=logged[0])
    assert client.get("/book", params=params).json()["asks"] == []


def test_book_cache__concurrent_readers_share_one_load(platform, tusd):
    import asyncio

    loads = []
    read = platform.books._read
    platform.books._read = lambda key: loads.append(key) or read(key)

    async def readers():
        return await asyncio.gather(*(platform.books.get(tusd, "EUR", 50) for _ in range(20)))

    bodies = asyncio.run(readers())
    assert len(set(bodies)) == 1 and len(loads) == 1


def test_market__names_chain_escrow_tokens_and_fiats(client, platform, tusd):
    market = client.get("/market").json()
    assert (market["chain_id"], market["escrow"]) == (31337, platform.market.escrow)
    assert {(t["symbol"], t["address"], t["decimals"]) for t in market["tokens"]} == {
        ("tUSD", tusd, 6), ("ETH", "0x" + "0" * 40, 18)}
    assert market["fiats"]["EUR"] == 2 and market["fiats"]["JPY"] == 0


def test_rendered_rows__equal_the_response_models():
    """The hot path renders rows to JSON without the models; what it sends is what they would."""
    from api.schemas import OrderOut, TradeOut, order_json, trade_json
    from api.trading import OrderRow, TradeRow

    order = OrderRow(maker="0x70997970C51812dc3A010C7d01b50e0d17dc79C8", side=1, token="0x" + "ab" * 20,
                     amount=2**255 + 1, min_fill=10**6, price=92 * 10**8, fiat="EUR",
                     payment_methods='["SEPA", "Revolut \u00e9"]', expiry=1_900_000_000, nonce=2**200, seq=7,
                     hash="0x" + "12" * 32, signature="0x" + "34" * 65, time_in_force="GTC", status="OPEN",
                     remaining=2**254, fills=3, version=4, created_at=1_800_000_000)  # fmt: skip
    trade = TradeRow(trade_id="0x" + "56" * 32, order_hash=order.hash, fill_index=3, maker=order.maker,
                     taker="0x" + "cd" * 20, seller=order.maker, buyer="0x" + "cd" * 20, token=order.token,
                     amount=2**254, price=order.price, fiat="EUR", fiat_amount="1.23", payment_method="SEPA",
                     status="AWAITING_LOCK", flag=None, lock_deadline=1_800_000_900, deadline_passed=False,
                     created_at=1_800_000_000, updated_at=1_800_000_000)  # fmt: skip
    assert order_json(order) == OrderOut.of(order).model_dump(mode="json")
    assert trade_json(trade) == TradeOut.of(trade).model_dump(mode="json")


@pytest.mark.parametrize("method", ["\x00", "SEPA\x00", "\n"])
def test_list__control_characters_in_a_payment_method__422(client, method):
    response = client.get("/orders", params={"payment_method": method})
    assert response.status_code == 422 and "payment_method" in response.json()["detail"]
