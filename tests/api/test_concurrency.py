"""Fifty takers at the same instant, over real HTTP, on SQLite and PostgreSQL: the order is
never over-filled, and every accepted take is a trade."""

import threading

import httpx

from api.app import create_app
from api.models import Order, Trade
from sqlmodel import Session, select
from api.signing import Side
from tests.api.conftest import bearer, make_order, order_body, sign_in
from tests.api.server import serve

UNIT = 10**6
TAKERS = 50


def at_once(url: str, requests: list) -> list[httpx.Response]:
    """Each of `requests` (a call taking an httpx client) from a thread and connection of its
    own, all released at the same instant; their responses."""
    barrier = threading.Barrier(len(requests))
    results = []

    def send(request):
        with httpx.Client(base_url=url, timeout=60) as own:
            barrier.wait()
            results.append(request(own))

    threads = [threading.Thread(target=send, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_take__fifty_takers_at_once__never_over_filled(platform, traders, world):
    app = create_app(platform=platform, run_jobs=False)
    seller, takers = traders[0], traders[1:]
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        tokens = {wallet.address: bearer(sign_in(client, wallet)) for wallet in traders}
        order = make_order(seller, world.tokens[1], amount=100 * UNIT, min_fill=UNIT)
        placed = client.post("/orders", json=order_body(order, seller, platform), headers=tokens[seller.address])
        order_hash = placed.json()["order"]["hash"]

        results = at_once(url, [
            lambda own, wallet=takers[index % len(takers)]: own.post(
                f"/orders/{order_hash}/take", json={"amount": str(7 * UNIT)}, headers=tokens[wallet.address])
            for index in range(TAKERS)
        ])  # fmt: skip

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


def test_place__fifty_crossing_orders_at_once__never_over_filled(platform, traders, world):
    """Placements read the book without locking it; the compare-and-set on the resting order's
    version alone keeps it whole."""
    app = create_app(platform=platform, run_jobs=False)
    seller, buyers = traders[0], traders[1:]
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        tokens = {wallet.address: bearer(sign_in(client, wallet)) for wallet in traders}
        ad = make_order(seller, world.tokens[1], amount=100 * UNIT, min_fill=7 * UNIT, price=92 * 10**8)
        placed = client.post("/orders", json=order_body(ad, seller, platform), headers=tokens[seller.address])
        ad_hash = placed.json()["order"]["hash"]
        bodies = [
            order_body(make_order(buyers[index % len(buyers)], world.tokens[1], side=Side.BUY, amount=7 * UNIT,
                                  min_fill=UNIT, price=93 * 10**8, nonce=index), buyers[index % len(buyers)], platform,
                       time_in_force="IOC")
            for index in range(TAKERS)
        ]  # fmt: skip

        results = at_once(url, [
            lambda own, index=index: own.post("/orders", json=bodies[index],
                                              headers=tokens[buyers[index % len(buyers)].address])
            for index in range(TAKERS)
        ])  # fmt: skip

    assert {response.status_code for response in results} <= {201, 409}, [r.text for r in results]
    answered = [trade for r in results if r.status_code == 201 for trade in r.json()["trades"]]
    with Session(platform.engine) as session:
        row = session.exec(select(Order).where(Order.hash == ad_hash)).one()
        trades = session.exec(select(Trade).where(Trade.order_hash == ad_hash)).all()
    assert sorted(t["trade_id"] for t in answered) == sorted(t.trade_id for t in trades)  # each fill answered once
    assert sum(trade.amount for trade in trades) + row.remaining == 100 * UNIT
    assert sorted(trade.fill_index for trade in trades) == list(range(row.fills))
    # 350 units asked for 100 on offer: the ad is taken whole (fourteen fills of 7, then the last 2)
    assert row.remaining == 0 and row.status == "FILLED" and row.fills == 15
