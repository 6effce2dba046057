"""Live updates over the WebSocket, and webhooks delivered to a real HTTP receiver."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from api import jobs
from api.models import WebhookDelivery
from api.signing import Side
from tests.api.conftest import bearer, make_order, order_body, sign_in

UNIT = 10**6


def receive(websocket, kind):
    """The next message of `kind` (skipping others)."""
    for _ in range(10):
        message = websocket.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def test_ws__book_subscriber_sees_each_change(client, platform, traders, world):
    token = world.tokens[1]
    seller = bearer(sign_in(client, traders[0]))
    with client.websocket_connect("/ws") as websocket:
        websocket.send_json({"op": "subscribe", "book": {"token": token.lower(), "fiat": "EUR"}})
        assert receive(websocket, "subscribed")["channel"] == f"book:{token}:EUR"
        assert receive(websocket, "book")["asks"] == []
        order = make_order(traders[0], token)
        placed = client.post("/orders", json=order_body(order, traders[0], platform), headers=seller).json()["order"]
        [update] = receive(websocket, "book_update")["orders"]
        assert (update["hash"], update["status"], update["version"]) == (placed["hash"], "OPEN", 0)
        client.delete(f"/orders/{placed['hash']}", headers=seller)
        [update] = receive(websocket, "book_update")["orders"]
        assert (update["hash"], update["status"], update["version"]) == (placed["hash"], "CANCELLED", 1)


def test_ws__trades_only_to_their_parties(client, platform, traders, world):
    seller, buyer, outsider = (sign_in(client, wallet) for wallet in traders[:3])
    order = make_order(traders[0], world.tokens[1])
    order_hash = client.post("/orders", json=order_body(order, traders[0], platform),
                             headers=bearer(seller)).json()["order"]["hash"]
    with client.websocket_connect(f"/ws?token={seller['access_token']}") as seller_ws, \
            client.websocket_connect("/ws") as outsider_ws:
        assert receive(seller_ws, "authenticated")["address"] == traders[0].address
        seller_ws.send_json({"op": "subscribe", "trades": True})
        receive(seller_ws, "subscribed")
        outsider_ws.send_json({"op": "auth", "token": outsider["access_token"]})
        receive(outsider_ws, "authenticated")
        outsider_ws.send_json({"op": "subscribe", "trades": True})
        receive(outsider_ws, "subscribed")
        trade = client.post(f"/orders/{order_hash}/take", json={"amount": str(10 * UNIT)}, headers=bearer(buyer)).json()
        message = receive(seller_ws, "trade")
        assert message["event"] == "trade.awaiting_lock" and message["trade"]["trade_id"] == trade["trade_id"]
        outsider_ws.send_json({"op": "unsubscribe", "trades": True})
        assert receive(outsider_ws, "unsubscribed")  # and no trade message came before it


@pytest.mark.parametrize(
    "command, says",
    [("not json", "JSON"), ({"op": "dance"}, "op must be"), ({"op": "subscribe", "trades": True}, "authenticate"),
     ({"op": "subscribe", "book": {"token": "0x" + "12" * 20, "fiat": "EUR"}}, "token"),
     ({"op": "subscribe", "book": {"token": "0x" + "12" * 20}}, "token"), ({"op": "auth", "token": "forged"}, "not valid")],
)
def test_ws__bad_command__error_message_and_connection_stays(client, command, says):
    with client.websocket_connect("/ws") as websocket:
        if isinstance(command, str):
            websocket.send_text(command)
        else:
            websocket.send_json(command)
        error = receive(websocket, "error")
        assert says in error["message"]
        websocket.send_json({"op": "dance"})
        assert receive(websocket, "error")


class Receiver(BaseHTTPRequestHandler):
    received: list = []
    failures = 0

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Receiver.received.append((dict(self.headers), body))
        if Receiver.failures:
            Receiver.failures -= 1
            self.send_response(500)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.received, Receiver.failures = [], 1
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_webhook__signed_delivery_retried_until_taken(client, platform, traders, world, receiver):
    seller, buyer = sign_in(client, traders[0]), sign_in(client, traders[1])
    hook = client.post("/webhooks", json={"url": receiver}, headers=bearer(seller)).json()
    assert len(hook["secret"]) == 64
    assert client.get("/webhooks", headers=bearer(seller)).json()[0]["secret"] is None
    order = make_order(traders[0], world.tokens[1])
    order_hash = client.post("/orders", json=order_body(order, traders[0], platform),
                             headers=bearer(seller)).json()["order"]["hash"]
    trade = client.post(f"/orders/{order_hash}/take", json={"amount": str(10 * UNIT)}, headers=bearer(buyer)).json()

    assert jobs.deliver_webhooks(platform) == 0  # the receiver fails the first time
    assert jobs.deliver_webhooks(platform) == 0  # not due yet: it backs off
    with Session(platform.engine) as session:
        session.exec(update(WebhookDelivery).values(next_attempt_at=0))
        session.commit()
    assert jobs.deliver_webhooks(platform) == 1
    assert jobs.deliver_webhooks(platform) == 0  # delivered once, never again

    assert len(Receiver.received) == 2
    headers, body = Receiver.received[-1]
    assert headers["X-Orrange-Signature"] == jobs.sign_webhook(hook["secret"], headers["X-Orrange-Timestamp"], body)
    event = json.loads(body)
    assert event["event"] == "trade.awaiting_lock" and event["trade"]["trade_id"] == trade["trade_id"]
    assert Receiver.received[0][1] == body  # the retry is the same event


def test_webhook__a_placement_that_trades__delivery_queued_with_it(client, platform, traders, world, receiver):
    """A trade made by a crossing order (on PostgreSQL, in the grouped writer, which looks the
    parties' webhooks up with the group's writes) queues a delivery for the resting maker's hook."""
    seller, buyer = sign_in(client, traders[0]), sign_in(client, traders[1])
    hook = client.post("/webhooks", json={"url": receiver}, headers=bearer(seller)).json()
    resting = make_order(traders[0], world.tokens[1], side=Side.SELL, amount=20 * UNIT, min_fill=UNIT)
    assert client.post("/orders", json=order_body(resting, traders[0], platform), headers=bearer(seller)).status_code == 201
    crossing = make_order(traders[1], world.tokens[1], side=Side.BUY, amount=5 * UNIT, min_fill=UNIT)
    placed = client.post("/orders", json=order_body(crossing, traders[1], platform), headers=bearer(buyer)).json()
    [trade] = placed["trades"]
    with Session(platform.engine) as session:
        [delivery] = session.exec(select(WebhookDelivery)).all()
    event = json.loads(delivery.payload)
    assert delivery.webhook_id == hook["id"] and not delivery.delivered
    assert event["event"] == "trade.awaiting_lock" and event["trade"]["trade_id"] == trade["trade_id"]


def test_webhook__others_cannot_see_or_delete(client, traders, receiver):
    owner, other = sign_in(client, traders[0]), sign_in(client, traders[1])
    hook = client.post("/webhooks", json={"url": receiver}, headers=bearer(owner)).json()
    assert client.get("/webhooks", headers=bearer(other)).json() == []
    assert client.delete(f"/webhooks/{hook['id']}", headers=bearer(other)).status_code == 404
    assert client.delete(f"/webhooks/{hook['id']}", headers=bearer(owner)).status_code == 204


@pytest.mark.parametrize("url", ["http://example.com/\x00", "https://exa mple.com/", "ftp://example.com/"])
def test_webhook__url_not_a_plain_http_one__422_nothing_stored(client, traders, url):
    tokens = bearer(sign_in(client, traders[0]))
    assert client.post("/webhooks", json={"url": url}, headers=tokens).status_code == 422
    assert client.get("/webhooks", headers=tokens).json() == []
