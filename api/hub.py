"""Live updates: a publish/subscribe hub for the WebSocket endpoint.

Channels are strings: `book:<token>:<fiat>` (public) and `trades:<address>` (that trader's
only). Publishing is safe from any thread (request handlers and jobs run in threads); each
subscriber has a bounded queue drained by its own connection, so one slow client never
holds up the others: a client that falls `QUEUE_SIZE` messages behind is disconnected.

One process delivers to its own subscribers. With several API processes or replicas, give
them a Redis (`ORRANGE_REDIS_URL`): every message then goes through Redis pub/sub, and each
process relays what arrives to its own subscribers, wherever the change was made.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import redis
import redis.asyncio

QUEUE_SIZE = 256


class Subscriber:
    __slots__ = ("queue", "channels", "overflowed")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.channels: set[str] = set()
        self.overflowed = False


class Hub:
    def __init__(self, redis_url: str | None = None, redis_prefix: str = "orrange:") -> None:
        self._channels: dict[str, set[Subscriber]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix  # platforms sharing one Redis each have their own
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None

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

    def wanted(self, channel: str) -> bool:
        """Whether a message on `channel` may reach anyone (here, or through Redis elsewhere)."""
        return self._redis is not None or channel in self._channels

    def publish(self, channel: str, message: dict) -> None:
        """Sends `message` to the channel's subscribers; callable from any thread."""
        self.publish_many([(channel, message)])

    def publish_many(self, messages: list[tuple[str, dict]]) -> None:
        """Sends each (channel, message), in order; through Redis, in one round trip."""
        texts = [
            (channel, json.dumps({"channel": channel, **message}, separators=(",", ":")))
            for channel, message in messages
            if self.wanted(channel)
        ]
        if not texts:
            return
        if self._redis is not None:
            pipeline = self._redis.pipeline(transaction=False)
            for channel, text in texts:
                pipeline.publish(self.redis_prefix + channel, text)
            pipeline.execute()
            return
        for channel, text in texts:
            self._deliver_threadsafe(channel, text)

    async def relay(self) -> None:
        """Delivers what Redis carries to this process's subscribers (run as a task while serving)."""
        client = redis.asyncio.Redis.from_url(self.redis_url)
        pubsub = client.pubsub()
        await pubsub.psubscribe(self.redis_prefix + "*")
        try:
            async for message in pubsub.listen():
                if message["type"] == "pmessage":
                    self._deliver(message["channel"].decode()[len(self.redis_prefix):], message["data"].decode())
        finally:
            await pubsub.aclose()
            await client.aclose()

    def _deliver_threadsafe(self, channel: str, text: str) -> None:
        if self._loop is None:
            return
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
