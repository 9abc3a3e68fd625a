"""Delivering tickets to a webhook: a JSON POST per ticket, retried with backoff.

A ticket is in the database before the customer is told about it; delivery happens after, in
a background thread, so a slow or unreachable webhook never holds up a reply. A failed delivery
is retried after ``backoff_seconds``, doubling each time (at most 10 minutes apart), until it
answers 2xx or ``max_attempts`` is spent; the ticket's row says which (``delivery``:
``pending``, ``delivered`` or ``failed``; ``attempts``, ``last_error``). Pending tickets left by
a stopped server are delivered by the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from whet.assistant.store import ConversationStore
from whet.io.webhook import backoff_seconds, post_json

log = logging.getLogger("whet.assistant")


def ticket_payload(ticket: dict) -> dict:
    return {"ticket": ticket["id"], "session_id": ticket["session_id"], "created_at": ticket["created_at"],
            "message": ticket["message"], "intent": ticket["intent"], "reason": ticket["reason"],
            "transcript": ticket["transcript"]}


class WebhookDelivery:
    """A daemon thread delivering due tickets; ``wake()`` after opening one delivers it at once."""

    def __init__(self, store: ConversationStore, url: str, *, max_attempts: int, backoff_s: float,
                 timeout_s: float, post: Any = None) -> None:
        self.store, self.url = store, url
        self.max_attempts, self.backoff_s, self.timeout_s = max_attempts, backoff_s, timeout_s
        self.post = post or (lambda url, payload, timeout: post_json(url, payload, timeout, "whet-assistant"))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="whet-webhook", daemon=True)

    def start(self) -> WebhookDelivery:
        self._thread.start()
        return self

    def wake(self, _ticket: int | None = None) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def deliver_due(self, now: float | None = None) -> int:
        """Try every ticket due now once; returns how many were delivered."""
        delivered = 0
        for ticket in self.store.due_deliveries(time.time() if now is None else now):
            error = self.post(self.url, ticket_payload(ticket), self.timeout_s)
            attempts = ticket["attempts"] + 1
            done = time.time() if now is None else now
            next_at = None
            if error is not None and attempts < self.max_attempts:
                next_at = done + backoff_seconds(attempts, self.backoff_s)
            self.store.delivery_attempted(ticket["id"], now=done, error=error, next_at=next_at)
            if error is None:
                delivered += 1
            elif next_at is None:
                log.error("ticket %s: webhook %s failed %d times (%s); it stays in the tickets table",
                          ticket["id"], self.url, attempts, error)
            else:
                log.warning("ticket %s: webhook %s failed (%s); retrying in %.0f s", ticket["id"], self.url, error,
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
