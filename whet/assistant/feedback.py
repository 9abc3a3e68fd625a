"""Learning from hand-offs: tickets a person resolved become training data.

A ticket resolved with the message's intent becomes a labelled example (``train.jsonl``: ``text``
and ``label``, what ``whet train`` and a ``whet continual`` experience read); one resolved with a
reply becomes a question and answer pair (``faq.jsonl``, a knowledge base file).
"""

from __future__ import annotations

import json
from pathlib import Path

from whet.assistant.store import ConversationStore
from whet.io.atomic import write_text_atomic


def export_feedback(store: ConversationStore, output: Path, *, since: float | None = None) -> dict[str, int]:
    """Write ``output/train.jsonl`` and ``output/faq.jsonl`` from resolved tickets (each message
    once, the latest resolution winning); returns the counts written."""
    examples: dict[str, dict] = {}
    pairs: dict[str, dict] = {}
    for ticket in store.tickets(resolved=True):
        if since is not None and ticket["resolved_at"] < since:
            continue
        key = " ".join(ticket["message"].split()).lower()
        if ticket["resolution_intent"]:
            examples[key] = {"text": ticket["message"], "label": ticket["resolution_intent"], "ticket": ticket["id"]}
        if ticket["resolution_reply"]:
            pairs[key] = {"question": ticket["message"], "answer": ticket["resolution_reply"],
                          "source": f"ticket {ticket['id']}"}
    output.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", examples), ("faq.jsonl", pairs)):
        write_text_atomic(output / name, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows.values()))
    return {"examples": len(examples), "faq_pairs": len(pairs)}
