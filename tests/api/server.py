"""The API served by a real uvicorn in a background thread, for tests that need real
concurrency or WebSockets over TCP."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import uvicorn

from tests.anvil import free_port


@contextmanager
def serve(app, **options):
    """Runs `app` on a free port; yields its base URL; stops it afterwards."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
