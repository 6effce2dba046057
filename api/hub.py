"""Live updates: a publish/subscribe hub for the WebSocket endpoint.

Channels are strings: `book:<token>:<fiat>` (public) and `trades:<address>` (that trader's
only). Publishing is safe from any thread (request handlers and jobs run in threads); each
subscriber has a bounded queue drained by its own connection, so one slow client never
holds up the others: a client that falls `QUEUE_SIZE` messages behind is disconnected.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

QUEUE_SIZE = 256


class Subscriber:
    __slots__ = ("queue", "channels", "overflowed")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.channels: set[str] = set()
        self.overflowed = False


class Hub:
    def __init__(self) -> None:
        self._channels: dict[str, set[Subscriber]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the WebSocket connections run on."""
        self._loop = loop

    def subscribe(self, subscriber: Subscriber, channel: str) -> None:
        self._channels[channel].add(subscriber)
        subscriber.channels.add(channel)

    def unsubscribe(self, subscriber: Subscriber, channel: str | None = None) -> None:
        for name in [channel] if channel else list(subscriber.channels):
            members = self._channels.get(name)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self._channels[name]
            subscriber.channels.discard(name)

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._channels

    def publish(self, channel: str, message: dict) -> None:
        """Sends `message` to the channel's subscribers; callable from any thread."""
        if self._loop is None or channel not in self._channels:
            return
        text = json.dumps({"channel": channel, **message}, separators=(",", ":"))
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(channel, text)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, channel, text)

    def _deliver(self, channel: str, text: str) -> None:
        for subscriber in tuple(self._channels.get(channel, ())):
            try:
                subscriber.queue.put_nowait(text)
            except asyncio.QueueFull:
                subscriber.overflowed = True
                self.unsubscribe(subscriber)


def book_channel(token: str, fiat: str) -> str:
    return f"book:{token}:{fiat}"


def trades_channel(address: str) -> str:
    return f"trades:{address}"
