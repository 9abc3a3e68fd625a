"""Request ids, request metrics and structured (JSON lines) logs.

Every response carries ``X-Request-ID``: the client's own when it sent a sensible one,
else a new one; the same id is in the access log line, so a client's report can be found.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from datetime import datetime, timezone

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from whet.serve.prometheus import Metrics

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else is replaced, never echoed or logged
access_log = logging.getLogger("whet.serve.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and a record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_json_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


class RequestLog:
    """ASGI middleware: request id, per-route metrics and one access log line per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # Ids only need to be unique, not secret: random bits are cheaper than uuid4 here.
        request_id = sent if REQUEST_ID.fullmatch(sent) else f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # if the app fails before answering, the server answers 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"  # templates keep label counts small
        method = scope["method"]
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        if status >= 400:
            self.metrics.errors.labels(route, str(status)).inc()
        if not self.enabled:
            return
        state = scope.get("state", {})
        client = scope.get("client")
        fields = {"request_id": request_id, "method": method, "path": scope["path"], "route": route,
                  "status": status, "duration_ms": round(seconds * 1000, 2),
                  "client": client[0] if client else None}
        for key in ("caller", "model", "texts"):
            if key in state:
                fields[key] = state[key]
        access_log.info("request", extra={"fields": fields})
