"""`/ws`: live order books and your own trades; `/market`: what is traded here."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api import auth
from api.deps import PlatformDep
from api.errors import ApiError
from api.hub import Subscriber, book_channel, trades_channel
from api.market import FIAT_DECIMALS

router = APIRouter(tags=["live"])
MAX_CHANNELS = 50


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    """Send JSON commands, receive JSON messages:
    - `{"op": "subscribe", "book": {"token": "0x...", "fiat": "EUR"}}`: the book's open ads now
      (`book`), then every change (`book_update`: the orders that changed, whole; of two copies
      of an order keep the one with the higher `version`);
    - `{"op": "auth", "token": "<access token>"}` then `{"op": "subscribe", "trades": true}`:
      your trades, each time one changes (the token may also come as `?token=` in the URL);
    - `{"op": "unsubscribe", ...}` with the same arguments.
    Replies: `{"type": "subscribed" | "unsubscribed" | "error", ...}`."""
    platform = websocket.app.state.platform
    hub = platform.hub
    await websocket.accept()
    subscriber = Subscriber()
    caller: auth.Caller | None = None
    if token := websocket.query_params.get("token"):
        caller = await _authenticate(platform, token, websocket)
    sender = asyncio.create_task(_pump(websocket, subscriber))
    try:
        while True:
            try:
                command = json.loads(await websocket.receive_text())
                if not isinstance(command, dict):
                    raise ValueError
            except ValueError:
                await _send(websocket, {"type": "error", "message": "send JSON objects such as {\"op\": \"subscribe\", ...}"})
                continue
            op = command.get("op")
            if op == "auth":
                caller = await _authenticate(platform, str(command.get("token", "")), websocket) or caller
                continue
            if op not in ("subscribe", "unsubscribe"):
                await _send(websocket, {"type": "error", "message": "op must be auth, subscribe or unsubscribe"})
                continue
            channel, reply = _channel(platform, command, caller)
            if channel is None:
                await _send(websocket, {"type": "error", "message": reply})
                continue
            if op == "subscribe":
                if len(subscriber.channels) >= MAX_CHANNELS and channel not in subscriber.channels:
                    await _send(websocket, {"type": "error", "message": f"at most {MAX_CHANNELS} subscriptions"})
                    continue
                hub.subscribe(subscriber, channel)
                await _send(websocket, {"type": "subscribed", "channel": channel})
                if channel.startswith("book:"):
                    _, token, fiat = channel.split(":")
                    book = await platform.books.get(token, fiat, 50)
                    await websocket.send_text(f'{{"type":"book","channel":"{channel}",' + book[1:].decode())
            else:
                hub.unsubscribe(subscriber, channel)
                await _send(websocket, {"type": "unsubscribed", "channel": channel})
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscriber)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _channel(platform, command: dict, caller: auth.Caller | None) -> tuple[str | None, str]:
    if command.get("trades"):
        if caller is None:
            return None, "authenticate first: {\"op\": \"auth\", \"token\": \"<access token>\"}"
        return trades_channel(caller.address), ""
    book = command.get("book")
    if isinstance(book, dict):
        token = platform.market.token(str(book.get("token", "")))
        fiat = book.get("fiat")
        if token is None:
            return None, "book.token must be a token the escrow accepts"
        if fiat not in FIAT_DECIMALS:
            return None, "book.fiat must be an ISO 4217 code such as EUR"
        return book_channel(token.address, fiat), ""
    return None, "name a book ({\"book\": {\"token\": ..., \"fiat\": ...}}) or your trades ({\"trades\": true})"


async def _authenticate(platform, token: str, websocket: WebSocket) -> auth.Caller | None:
    def check():
        return auth.authenticate(platform.read, platform.settings, token)

    try:
        caller = await asyncio.to_thread(check)
    except ApiError as error:
        await _send(websocket, {"type": "error", "message": error.message})
        return None
    await _send(websocket, {"type": "authenticated", "address": caller.address})
    return caller


async def _pump(websocket: WebSocket, subscriber: Subscriber) -> None:
    while True:
        text = await subscriber.queue.get()
        await websocket.send_text(text)
        if subscriber.overflowed and subscriber.queue.empty():
            await websocket.close(code=1013, reason="too slow: messages were dropped; reconnect")
            return


async def _send(websocket: WebSocket, message: dict) -> None:
    await websocket.send_text(json.dumps(message, separators=(",", ":")))


@router.get("/market")
async def market(platform: PlatformDep) -> dict:
    """What is traded here: the chain, the escrow (the orders' EIP-712 verifying contract), the
    tokens it accepts (with their decimals and the largest escrow of each), and the fiat
    currencies with their decimals."""
    market = platform.market
    return {
        "chain_id": market.chain_id,
        "escrow": market.escrow,
        "tokens": [{"symbol": t.symbol, "address": t.address, "decimals": t.decimals, "cap": str(t.cap)}
                   for t in market.tokens.values()],
        "fiats": FIAT_DECIMALS,
    }
