"""A JSON-RPC proxy in front of anvil that misbehaves like public providers do: timeouts,
429s, 5xx, dropped connections, garbled bodies, and "too many results" for eth_getLogs,
both at random (at `rate`) and as a hard limit on logs per response (`max_logs`)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

FAULTS = ["timeout", "429", "500", "502", "503", "drop", "garbage", "too-many", "too-many-hint", "bad-hint"]


class FaultProxy:
    def __init__(self, upstream: str, rate: float = 0.0, max_logs: int | None = None, stall: float = 1.0, seed: int = 0):
        self.upstream = upstream
        self.rate = rate
        self.max_logs = max_logs
        self.stall = stall  # how long a "timeout" holds the request
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter = Counter()
        self.calls: Counter = Counter()  # method -> how many times it was asked
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.trust_env = False
        return self.local.session

    def pick_fault(self, calls: list[dict]) -> str | None:
        with self.lock:
            if self.rng.random() >= self.rate:
                return None
            fault = self.rng.choice(FAULTS)
            if fault.startswith(("too-many", "bad-hint")) and not any(c.get("method") == "eth_getLogs" for c in calls):
                fault = "500"
            self.injected[fault] += 1
            return fault

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        payload = json.loads(body)
        calls = payload if isinstance(payload, list) else [payload]
        with self.lock:
            self.calls.update(call.get("method") for call in calls)
        fault = self.pick_fault(calls)
        if fault == "timeout":
            time.sleep(self.stall)
        elif fault in ("429", "500", "502", "503"):
            return self.reply(handler, int(fault), b"upstream trouble")
        elif fault == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        elif fault == "garbage":
            return self.reply(handler, 200, b'{"jsonrpc":"2.0","id":1,"resu')
        upstream = self.session().post(self.upstream, data=body, headers={"Content-Type": "application/json"})
        replies = upstream.json()
        replies_list = replies if isinstance(replies, list) else [replies]
        for call, reply in zip(calls, replies_list):
            if call.get("method") != "eth_getLogs" or "result" not in reply:
                continue
            too_many = self.max_logs is not None and len(reply["result"]) > self.max_logs
            if too_many or fault in ("too-many", "too-many-hint", "bad-hint"):
                reply.pop("result")
                reply["error"] = {"code": -32005, "message": self.too_many_message(call, fault)}
        self.reply(handler, 200, json.dumps(replies).encode())

    def too_many_message(self, call: dict, fault: str | None) -> str:
        message = f"query returned more than {self.max_logs or 10000} results"
        query = call["params"][0]
        if "fromBlock" in query and fault in ("too-many-hint", "bad-hint"):
            start, end = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            hinted = start + (end - start) // 3 if fault == "too-many-hint" else end + 1000  # a useless hint
            message += f". Try with this block range [{hex(start)}, {hex(hinted)}]."
        return message

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@contextmanager
def fault_proxy(upstream: str, **options):
    """Runs a FaultProxy on a free port; yields (url, proxy)."""
    proxy = FaultProxy(upstream, **options)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server's name
            try:
                proxy.answer(self)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
