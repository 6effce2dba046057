"""Logging for every Orrange process, as `ORRANGE_LOG_FORMAT` asks: text for a person at a
terminal (rich, on stderr), or JSON for a log collector: one object per line on stdout with
`time`, `level`, `logger` and `message`, plus whatever fields the call passed as `extra`
(the API's access log: `method`, `path`, `route`, `status`, `duration_ms`, `client`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.logging import RichHandler

from indexer.settings import Settings

# What every LogRecord carries; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure(settings: Settings, *, default_level: str = "INFO", console: Console | None = None) -> None:
    """Sends every logger's records (uvicorn's too) through one handler of the configured format."""
    if settings.log_format == "json":
        handler: logging.Handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
    else:
        handler = RichHandler(console=console or Console(stderr=True), show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level or default_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per migration step at every start
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers, uvicorn_logger.propagate = [], True
        uvicorn_logger.setLevel(logging.NOTSET)
    # The API logs each request itself (api.access), with the route and the time it took.
    logging.getLogger("uvicorn.access").disabled = True
