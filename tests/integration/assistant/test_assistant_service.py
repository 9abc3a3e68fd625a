"""``whet assistant serve`` over HTTP: messages, clarifications, hand-offs delivered to a webhook
that fails first, sessions, ticket resolutions, limits, keys and metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.integration.assistant.conftest import REPLIES
from tests.integration.serve.conftest import ADMIN_KEY


def send(server, text, session_id=None, **kwargs):
    with server.client() as client:
        return client.post("/v1/assistant/messages", json={"session_id": session_id, "text": text}, **kwargs)


def test_clarification_then_answer_by_place(assistant_server):
    first = send(assistant_server, "something about my money")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["action"] == "clarify" and body["new_session"] is True and len(body["options"]) == 2
    assert body["candidates"][0]["intent"] == body["options"][0]["intent"]
    assert "clarify below 1" in body["why"][0]
    second = send(assistant_server, "the first one", body["session_id"]).json()
    chosen = body["options"][0]["intent"]
    assert second["action"] == "answer" and second["intent"] == chosen and second["reply"] == REPLIES[chosen]
    assert second["new_session"] is False


def test_declining_hands_off_and_the_webhook_gets_the_ticket_on_retry(assistant_server, webhook):
    session = send(assistant_server, "I have a question").json()["session_id"]
    handed = send(assistant_server, "neither", session).json()
    assert handed["action"] == "handoff" and f"ticket {handed['ticket']}" in handed["reply"]
    deadline = time.monotonic() + 20
    with assistant_server.client(key=ADMIN_KEY) as admin:
        while time.monotonic() < deadline:
            ticket = next(t for t in admin.get("/v1/assistant/tickets").json()["tickets"] if t["id"] == handed["ticket"])
            if ticket["delivery"] == "delivered":
                break
            time.sleep(0.2)
    assert ticket["delivery"] == "delivered" and ticket["attempts"] >= 2  # the first delivery got a 500
    delivered = next(t for t in webhook.received if t["ticket"] == handed["ticket"])
    assert [turn["text"] for turn in delivered["transcript"]][::2] == ["I have a question", "neither"]
    assert delivered["session_id"] == session


def test_sessions_unknown_and_known(assistant_server):
    fresh = send(assistant_server, "hello there", "customer-42").json()
    assert fresh["session_id"] == "customer-42" and fresh["new_session"] is True
    with assistant_server.client() as client:
        view = client.get("/v1/assistant/sessions/customer-42").json()
        assert [t["role"] for t in view["transcript"]] == ["customer", "assistant"]
        assert view["pending"]["kind"] == "clarify" and view["expired"] is False
        missing = client.get("/v1/assistant/sessions/nobody")
        assert missing.status_code == 404 and "send a message to start one" in missing.json()["detail"]


def test_bad_requests(assistant_server):
    too_long = send(assistant_server, "x" * 201)
    assert too_long.status_code == 413 and "conversations.max_message_chars (200)" in too_long.json()["detail"]
    assert send(assistant_server, "   ").status_code == 422
    assert send(assistant_server, "hi", "bad id with spaces").status_code == 422
    with assistant_server.client(key=None) as anonymous:
        assert anonymous.post("/v1/assistant/messages", json={"text": "hi"}).status_code == 401


def test_resolution_becomes_training_data(assistant_server, tmp_path):
    session = send(assistant_server, "my card is gone").json()["session_id"]
    ticket = send(assistant_server, "no", session).json()["ticket"]
    with assistant_server.client() as client:  # an API key is not enough
        assert client.post(f"/v1/assistant/tickets/{ticket}/resolution", json={"intent": "lost_card"}).status_code == 403
    with assistant_server.client(key=ADMIN_KEY) as admin:
        wrong = admin.post(f"/v1/assistant/tickets/{ticket}/resolution", json={"intent": "lost_kard"})
        assert wrong.status_code == 422 and "lost_card" in wrong.json()["detail"]
        assert admin.post("/v1/assistant/tickets/99999/resolution", json={"intent": "lost_card"}).status_code == 404
        done = admin.post(f"/v1/assistant/tickets/{ticket}/resolution",
                          json={"intent": "lost_card", "reply": "Blocked it for you.", "agent": "sam"})
        assert done.status_code == 200 and done.json()["resolution_intent"] == "lost_card"
    with assistant_server.client() as client:
        transcript = client.get(f"/v1/assistant/sessions/{session}").json()["transcript"]
    assert transcript[-1]["role"] == "agent" and transcript[-1]["text"] == "Blocked it for you."
    config = assistant_server.log.parent / "assistant.yaml"
    result = subprocess.run([sys.executable, "-m", "whet", "assistant", "export-feedback", str(config),
                             "--output", str(tmp_path / "feedback")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "feedback" / "train.jsonl").read_text().splitlines()]
    assert {"text": "my card is gone", "label": "lost_card"}.items() <= next(
        r for r in rows if r["text"] == "my card is gone").items()
    faq = [json.loads(line) for line in (tmp_path / "feedback" / "faq.jsonl").read_text().splitlines()]
    assert {"question": "my card is gone", "answer": "Blocked it for you."}.items() <= faq[-1].items()
    # The examples are what whet train and whet continual read.
    from whet.data.settings import DataConfig
    from whet.tasks import TASKS

    examples = TASKS.get("sequence-classification").read(str(tmp_path / "feedback" / "train.jsonl"), DataConfig())
    assert [e.labels for e in examples if e.text == "my card is gone"] == [["lost_card"]]


def test_metrics_count_replies_by_action(assistant_server):
    send(assistant_server, "one more question")
    metrics = assistant_server.get("/metrics").text
    clarify = [line for line in metrics.splitlines() if line.startswith('whet_assistant_replies_total{action="clarify"}')]
    assert clarify and float(clarify[0].split()[-1]) >= 1
    assert 'whet_requests_total{method="POST",route="/v1/assistant/messages",status="200"}' in metrics
