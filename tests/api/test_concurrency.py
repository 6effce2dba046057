"""Fifty takers at the same instant, over real HTTP, on SQLite and PostgreSQL: the order is
never over-filled, and every accepted take is a trade."""

import threading

import httpx

from api.app import create_app
from api.models import Order, Trade
from sqlmodel import Session, select
from tests.api.conftest import bearer, make_order, order_body, sign_in
from tests.api.server import serve

UNIT = 10**6
TAKERS = 50


def test_take__fifty_takers_at_once__never_over_filled(platform, traders, world):
    app = create_app(platform=platform, run_jobs=False)
    seller, takers = traders[0], traders[1:]
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        tokens = {wallet.address: bearer(sign_in(client, wallet)) for wallet in traders}
        order = make_order(seller, world.tokens[1], amount=100 * UNIT, min_fill=UNIT)
        placed = client.post("/orders", json=order_body(order, seller, platform), headers=tokens[seller.address])
        order_hash = placed.json()["order"]["hash"]

        barrier = threading.Barrier(TAKERS)
        results = []

        def take(index):
            wallet = takers[index % len(takers)]
            with httpx.Client(base_url=url, timeout=60) as own:
                barrier.wait()
                response = own.post(f"/orders/{order_hash}/take", json={"amount": str(7 * UNIT)},
                                    headers=tokens[wallet.address])
            results.append(response)

        threads = [threading.Thread(target=take, args=(index,)) for index in range(TAKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    statuses = sorted(response.status_code for response in results)
    assert set(statuses) <= {201, 400, 409}, [r.text for r in results if r.status_code not in (201, 400, 409)]
    accepted = [response.json() for response in results if response.status_code == 201]
    # 14 takes of 7 fit in 100; the last 2 units are below the minimum fill of 7 but are "all that is left"
    # only for a take of exactly 2, so nobody gets them.
    assert len(accepted) == 14
    with Session(platform.engine) as session:
        row = session.exec(select(Order).where(Order.hash == order_hash)).one()
        trades = session.exec(select(Trade).where(Trade.order_hash == order_hash)).all()
    assert row.remaining == 2 * UNIT and row.fills == 14
    assert sorted(trade.fill_index for trade in trades) == list(range(14))
    assert sum(trade.amount for trade in trades) == 98 * UNIT
    assert len({trade.trade_id for trade in trades}) == 14
    refused = [response.json()["detail"] for response in results if response.status_code != 201]
    assert all("remaining" in detail or "not open" in detail for detail in refused), refused
