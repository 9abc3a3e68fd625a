"""Request limits that apply before a route runs: body size and a per-caller rate limit."""

from __future__ import annotations

import math
import time

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RateLimiter:
    """A token bucket per caller: ``burst`` requests at once, refilled at ``rate`` per second.

    Used from the event loop only, so it needs no lock.
    """

    MAX_CALLERS = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, when)

    def retry_after(self, caller: str) -> int:
        """0 when the request may go ahead (and is counted), else whole seconds to wait."""
        now = time.monotonic()
        tokens, then = self.buckets.get(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens >= 1:
            self.buckets[caller] = (tokens - 1, now)
            self._prune(now)
            return 0
        self.buckets[caller] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))

    def _prune(self, now: float) -> None:
        # Without keys callers are client addresses; forget those whose bucket is full again.
        if len(self.buckets) > self.MAX_CALLERS:
            full = [c for c, (t, then) in self.buckets.items() if t + (now - then) * self.rate >= self.burst]
            for caller in full:
                del self.buckets[caller]


class BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body parsing passes it on instead of answering 400.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes (limits.max_body_bytes); "
                              f"send fewer or shorter texts per request")


class BodySizeLimit:
    """ASGI middleware: 413 for bodies over ``max_bytes``, by Content-Length or by counting chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            error = BodyTooLarge(self.max_bytes) if declared.isdigit() else HTTPException(400, "invalid Content-Length")
            await JSONResponse({"detail": error.detail}, status_code=error.status_code)(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)
