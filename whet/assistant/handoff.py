"""Delivering tickets to a webhook: a JSON POST per ticket, retried with backoff.

A ticket is in the database before the customer is told about it; delivery happens after, in
a background thread, so a slow or unreachable webhook never holds up a reply. A failed delivery
is retried after ``backoff_seconds``, doubling each time (at most 10 minutes apart), until it
answers 2xx or ``max_attempts`` is spent; the ticket's row says which (``delivery``:
``pending``, ``delivered`` or ``failed``; ``attempts``, ``last_error``). Pending tickets left by
a stopped server are delivered by the next one.
"""

from __future__ import annotations

from typing import Any

from whet.assistant.store import ConversationStore
from whet.io.webhook import WebhookDelivery


def ticket_payload(ticket: dict) -> dict:
    return {"ticket": ticket["id"], "session_id": ticket["session_id"], "created_at": ticket["created_at"],
            "message": ticket["message"], "intent": ticket["intent"], "reason": ticket["reason"],
            "transcript": ticket["transcript"]}


def ticket_delivery(store: ConversationStore, url: str, *, max_attempts: int, backoff_s: float, timeout_s: float,
                    post: Any = None) -> WebhookDelivery:
    """The delivery thread for the tickets of ``store`` (not started)."""
    return WebhookDelivery(store, url, ticket_payload, what="ticket", kept_in="the tickets table",
                           max_attempts=max_attempts, backoff_s=backoff_s, timeout_s=timeout_s, post=post)

