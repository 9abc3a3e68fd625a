"""POSTing JSON to a webhook, with the failure as a short reason instead of an exception, and a
thread delivering an application's undelivered rows (tickets, alerts) with backoff; what is not
delivered stays in the application's database."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("whet")


def post_json(url: str, payload: dict, timeout_s: float, user_agent: str = "whet") -> str | None:
    """POST ``payload``; None when the webhook answered 2xx, else what went wrong."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        return str(getattr(err, "reason", err))


def backoff_seconds(attempts: int, first_s: float, most_s: float = 600.0) -> float:
    """The wait after ``attempts`` failed deliveries: ``first_s``, doubling each time, at most ``most_s``."""
    return min(first_s * 2 ** (attempts - 1), most_s)


class DeliveryQueue(Protocol):
    """What a database offers its deliveries: rows due now (each with ``id`` and ``attempts``),
    recording one attempt, and when the next row falls due."""

    def due_deliveries(self, now: float) -> list[dict]: ...

    def delivery_attempted(self, row_id: int, *, now: float, error: str | None, next_at: float | None) -> None: ...

    def next_delivery_at(self) -> float | None: ...


class WebhookDelivery:
    """A daemon thread POSTing the due rows of a ``DeliveryQueue`` (tickets, alerts), each retried
    with backoff until the webhook answers 2xx or ``max_attempts`` is spent; ``wake()`` after adding
    one delivers it at once. The rows stay in the database whatever happens."""

    def __init__(self, store: DeliveryQueue, url: str, payload: Callable[[dict], dict], *, what: str, kept_in: str,
                 max_attempts: int, backoff_s: float, timeout_s: float, post: Any = None) -> None:
        self.store, self.url, self.payload = store, url, payload
        self.what, self.kept_in = what, kept_in
        self.max_attempts, self.backoff_s, self.timeout_s = max_attempts, backoff_s, timeout_s
        self.post = post or post_json
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="whet-webhook", daemon=True)

    def start(self) -> WebhookDelivery:
        self._thread.start()
        return self

    def wake(self, _row: int | None = None) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def deliver_due(self, now: float | None = None) -> int:
        """Try every row due now once; returns how many were delivered."""
        delivered = 0
        for row in self.store.due_deliveries(time.time() if now is None else now):
            error = self.post(self.url, self.payload(row), self.timeout_s)
            attempts = row["attempts"] + 1
            done = time.time() if now is None else now
            next_at = None
            if error is not None and attempts < self.max_attempts:
                next_at = done + backoff_seconds(attempts, self.backoff_s)
            self.store.delivery_attempted(row["id"], now=done, error=error, next_at=next_at)
            if error is None:
                delivered += 1
            elif next_at is None:
                log.error("%s %s: webhook %s failed %d times (%s); it stays in %s",
                          self.what, row["id"], self.url, attempts, error, self.kept_in)
            else:
                log.warning("%s %s: webhook %s failed (%s); retrying in %.0f s", self.what, row["id"], self.url, error,
                            next_at - done)
        return delivered

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                upcoming = self.store.next_delivery_at()
            except Exception:  # a database hiccup must not end deliveries for good
                log.exception("webhook delivery failed; trying again in a minute")
                upcoming = time.time() + 60
            wait = 60.0 if upcoming is None else max(0.0, min(60.0, upcoming - time.time()))
            self._wake.wait(wait)
            self._wake.clear()
